"""Shared fixtures: the real binaries the end-to-end tests drive.

Each fixture returns the binary's path, or skips the test with a message that says how
to install it (scripts/test installs them itself when it runs as root).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO

import aiohttp
import pytest

_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "chromium": "chromium",
}


def _binary(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        package = _PACKAGES[name]
        pytest.skip(
            f"{name} not found: install Debian's {package} package "
            f"(apt-get update && apt-get install -y {package}), or run scripts/test as root"
        )
    return Path(found)


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Path to promtool (Debian package prometheus)."""
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> Path:
    """Path to the Prometheus server binary (Debian package prometheus)."""
    return _binary("prometheus")


@pytest.fixture(scope="session")
def alertmanager_bin() -> Path:
    """Path to Alertmanager (Debian package prometheus-alertmanager)."""
    return _binary("prometheus-alertmanager")


@pytest.fixture(scope="session")
def amtool() -> Path:
    """Path to amtool (Debian package prometheus-alertmanager)."""
    return _binary("amtool")


@pytest.fixture(scope="session")
def chromium_bin() -> Path:
    """Path to headless Chromium (Debian package chromium)."""
    return _binary("chromium")


#: Series only nodes read through the web GUI API have (the metric contract's help texts
#: say so one by one; the render and live-dashboard tests need them as a set).
GUI_ONLY = frozenset(
    {
        "btsync_folder_pending_bytes",
        "btsync_folder_pending_files",
        "btsync_folder_paused",
        "btsync_folder_disk_free_bytes",
        "btsync_peer_online",
        "btsync_peer_last_seen_timestamp_seconds",
    }
)

#: Flags every headless Chromium run needs here: root, no GPU, and no background
#: networking (the machine's closed network refuses those connections noisily).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """Return a function giving a TCP port on 127.0.0.1 that is free right now."""
    return _free_port


#: ``start_service(*argv, ready_url=...)``: see :func:`_service`.
ServiceStarter = Callable[..., AbstractAsyncContextManager[asyncio.subprocess.Process]]


@asynccontextmanager
async def _service(
    *argv: str, ready_url: str, ready_within: float = 30.0
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a real server (Prometheus, Alertmanager...) until the block ends.

    Yields once ``ready_url`` answers 200; fails with the server's own error output if it
    exits first or is not ready within ``ready_within`` seconds. Its output goes to a temporary
    file, so a chatty server can never block on a full pipe.
    """
    with tempfile.TemporaryFile() as output:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output
        )
        try:
            await _wait_ready(process, ready_url, ready_within, output)
            yield process
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def _wait_ready(
    process: asyncio.subprocess.Process, url: str, within: float, output: IO[bytes]
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if process.returncode is not None:
                break
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)  # a real server starting in real time
    output.seek(0)
    text = output.read().decode(errors="replace")[-4000:]
    state = f"exited with {process.returncode}" if process.returncode is not None else "not ready"
    raise AssertionError(f"{url}: server {state} after up to {within:g}s:\n{text}")


@pytest.fixture(scope="session")
def start_service() -> ServiceStarter:
    """Return ``start_service(*argv, ready_url=URL)``, an async context manager."""
    return _service
