"""``sync-exporter simulate --config sync.conf`` as a user runs it: a real process, real HTTP."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sync_exporter.simulator.storage import FILENAME

CLI = Path(sys.executable).with_name("sync-exporter")

CONFIG = """{
    // where the simulator keeps its folders between runs
    "storage_path" : "storage",
    "device_name" : "cli-node",
    "webui" : {
        // port 0: any free port, printed at start
        "listen" : "127.0.0.1:0",
        "login" : "api",
        "password" : "s3cr3t-pw",
        "api_key" : "xxx"   // any key enables the API
    }
}
"""


def command(config: Path) -> list[str]:
    if not CLI.exists():
        pytest.skip(f"{CLI} not installed: run scripts/test (pip install -e .)")
    return [str(CLI), "simulate", "--config", str(config)]


class Running:
    """A simulator process and the URL it printed."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    async def call(self, session: aiohttp.ClientSession, method: str, **params: str) -> Any:
        headers = {"Authorization": aiohttp.encode_basic_auth("api", "s3cr3t-pw")}
        async with session.get(
            self.url, params={"method": method, **params}, headers=headers
        ) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/javascript"
            return await response.json(content_type=None)

    async def indexed_folder(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        """Poll get_folders until its only folder is indexed (real I/O, bounded)."""
        async with asyncio.timeout(10):
            while True:
                (folder,) = await self.call(session, "get_folders")
                if folder["indexing"] == 0:
                    return dict(folder)
                await asyncio.sleep(0.02)

    async def exit_code(self) -> int:
        async with asyncio.timeout(10):
            return await self.process.wait()

    async def terminate(self) -> int:
        """Send SIGTERM, as a service manager stops it; return the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await self.exit_code()

    async def kill_if_running(self) -> None:
        """Clean up after a failed test: never leave a simulator process behind."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def start(config: Path) -> Running:
    process = await asyncio.create_subprocess_exec(
        *command(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    async with asyncio.timeout(20):
        line = (await process.stdout.readline()).decode()
    found = re.search(r"listening on (http://\S+/api)", line)
    if found is None:
        process.kill()
        await process.wait()
        pytest.fail(f"no listening line: {line!r}")
    return Running(process, found.group(1))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "storage").mkdir()
    path = tmp_path / "sync.conf"
    path.write_text(CONFIG)
    return path


async def test_drive_a_real_folder_then_restart(
    config: Path, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "a.bin").write_bytes(b"a" * 700)
    (share / "b.txt").write_bytes(b"b" * 300)

    node = await start(config)
    try:
        assert (await node.call(session, "get_prefs"))["device_name"] == "cli-node"
        assert await node.call(session, "add_folder", dir=str(share), selective_sync="1") == {
            "result": 0
        }
        folder = await node.indexed_folder(session)
        assert (folder["dir"], folder["files"], folder["size"]) == (str(share), 2, 1000)
        secret = folder["secret"]
        files = await node.call(session, "get_files", secret=secret)
        assert [(f["name"], f["type"], f["download"]) for f in files] == [
            ("b.txt", "file", 0),
            ("sub", "folder", 0),
        ]
        marked = await node.call(
            session, "set_file_prefs", secret=secret, path="sub/a.bin", download="1"
        )
        assert [(f["name"], f["size"], f["download"]) for f in marked] == [("a.bin", 700, 1)]
        assert await node.call(session, "shutdown") == {"error": 0}
        assert await node.exit_code() == 0
    finally:
        await node.kill_if_running()
    assert node.process.stderr is not None
    logs = await node.process.stdout.read() if node.process.stdout else b""
    logs += await node.process.stderr.read()
    assert secret.encode() not in logs
    assert b"s3cr3t-pw" not in logs

    again = await start(config)  # the folder and its file prefs come back, indexed again
    try:
        folder = await again.indexed_folder(session)
        assert (folder["secret"], folder["files"], folder["size"]) == (secret, 2, 1000)
        sub = await again.call(session, "get_files", secret=secret, path="sub")
        assert sub[0]["download"] == 1
        assert await again.call(session, "remove_folder", secret=secret) == {"error": 0}
        assert await again.call(session, "get_folders") == []
        assert await again.terminate() == 0
    finally:
        await again.kill_if_running()


async def run_to_exit(config: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(20):
        _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_bad_config_exits_2_naming_the_key(config: Path) -> None:
    await asyncio.to_thread(config.write_text, CONFIG.replace('"127.0.0.1:0"', '"nowhere"'))
    code, err = await run_to_exit(config)
    assert code == 2
    assert f"{config}: webui.listen: expected" in err
    assert "Traceback" not in err


async def test_corrupt_state_exits_2_and_keeps_the_file(config: Path) -> None:
    state = config.parent / "storage" / FILENAME
    state.write_text('{"format": 1, "folders": [')
    code, err = await run_to_exit(config)
    assert code == 2
    assert f"{state}: corrupt simulator state" in err
    assert state.read_text() == '{"format": 1, "folders": ['


async def test_config_without_api_key_serves_the_gui_api_only(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    (tmp_path / "storage").mkdir()
    config = tmp_path / "sync.conf"
    config.write_text(
        CONFIG.replace(',\n        "api_key" : "xxx"   // any key enables the API', "")
    )
    node = await start(config)
    try:
        assert node.process.stdout is not None
        async with asyncio.timeout(10):
            notice = (await node.process.stdout.readline()).decode()
        assert "webui.api_key is not set" in notice
        assert "/gui/" in notice
        auth = {"Authorization": aiohttp.encode_basic_auth("api", "s3cr3t-pw")}
        async with session.get(node.url, params={"method": "get_os"}, headers=auth) as response:
            assert response.status == 400
            assert await response.text() == "invalid request"
        base = node.url.removesuffix("/api")
        async with session.get(f"{base}/gui/token.html?t=1", headers=auth) as response:
            assert response.status == 200
            page = await response.text()
            cookie = response.cookies["GUID"].value
        token = re.search(r"<div id='token' style='display:none;'>([^<]+)</div>", page)
        assert token is not None
        headers = {**auth, "Cookie": f"GUID={cookie}"}
        params = {"token": token.group(1), "action": "version", "t": "2"}
        async with session.get(f"{base}/gui/", params=params, headers=headers) as response:
            assert await response.json(content_type=None) == {
                "status": 200,
                "value": "3.1.2 (1076)",
            }
        assert await node.terminate() == 0
    finally:
        await node.kill_if_running()
