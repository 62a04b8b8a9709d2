"""The exporter as a real process, for tests that measure it from the outside.

Peak memory is a property of the process, so the fault matrix runs ``python -m
sync_exporter`` and reads its ``VmHWM`` (peak resident set) from ``/proc``; its log goes
to a file the test reads back.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

MIB = 1 << 20


@dataclass
class ExporterProcess:
    """A running exporter: its base URL, process and log file."""

    base: str
    process: asyncio.subprocess.Process
    log_file: Path
    config_file: Path

    def peak_rss(self) -> int:
        """The process' peak resident set so far, in bytes (``VmHWM``)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc/PID/status")

    def log(self) -> str:
        """Everything the exporter logged so far."""
        return self.log_file.read_text(errors="replace")


@asynccontextmanager
async def exporter_process(
    config: Mapping[str, Any], tmp_path: Path, port: int, *extra: str
) -> AsyncIterator[ExporterProcess]:
    """Write ``config``, start the exporter on ``port`` and wait until it is ready."""
    config_file = tmp_path / "sync-exporter.yml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    log_file = tmp_path / "exporter.log"
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sync_exporter",
            "--config.file",
            str(config_file),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.format",
            "json",
            "--log.level",
            "info",
            *extra,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    running = ExporterProcess(f"http://127.0.0.1:{port}", process, log_file, config_file)
    try:
        await _wait_ready(running)
        yield running
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_ready(running: ExporterProcess) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if running.process.returncode is not None:
                break
            try:
                async with session.get(running.base + "/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)  # a real process starting in real time
    raise AssertionError(f"exporter not ready:\n{running.log()[-3000:]}")
