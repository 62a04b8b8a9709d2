"""``sync-exporter simulate`` as a user runs it: a real process, real ports, real signals."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from sync_exporter.simulator.cli import main

NODE_LINE = re.compile(r"^  node (\S+)  (http://\S+)  login (\S+)")


class Running:
    """A started ``simulate`` process and what its banner said."""

    def __init__(self, process: asyncio.subprocess.Process, banner: list[str]) -> None:
        self.process = process
        self.banner = banner
        self.urls = {m[1]: m[2] for line in banner if (m := NODE_LINE.match(line))}


@asynccontextmanager
async def simulate(*args: str) -> AsyncIterator[Running]:
    """Start ``python -m sync_exporter simulate ARGS``; wait for its banner; kill on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_exporter",
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    banner: list[str] = []
    try:
        async with asyncio.timeout(20):
            while not banner or not banner[-1].startswith("     curl"):
                line = await process.stdout.readline()
                if not line:
                    assert process.stderr is not None
                    error = (await process.stderr.read()).decode()
                    raise AssertionError(f"simulate exited early: {error}")
                banner.append(line.decode().rstrip("\n"))
        yield Running(process, banner)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(running: Running, sig: int = signal.SIGTERM) -> tuple[int, str]:
    running.process.send_signal(sig)
    async with asyncio.timeout(20):
        out, _ = await running.process.communicate()
    assert running.process.returncode is not None
    return running.process.returncode, out.decode()


async def test_synthetic_fleet_starts_answers_and_stops_on_sigterm() -> None:
    async with simulate("--nodes", "2", "--base-port", "0", "--manual-clock", "--seed", "3") as run:
        assert list(run.urls) == ["node-0", "node-1"]
        assert run.banner[0] == "sync-exporter simulate: 2 nodes, seed 3, manual clock " + (
            "(POST /_sim/advance?seconds=N)"
        )
        assert run.banner[-2].startswith("try: curl -u api '")
        assert "secret" not in "\n".join(run.banner)  # the password is never printed
        auth = aiohttp.encode_basic_auth("api", "secret")
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            url = run.urls["node-1"]
            async with session.get(
                url + "/api?method=get_folders", headers={"Authorization": auth}
            ) as response:
                assert response.status == 200
                folders = await response.json(content_type=None)
            assert len(folders) == 3
            async with session.post(url + "/_sim/advance?seconds=5") as response:
                assert response.status == 200
                assert (await response.json())["elapsed"] == 5.0
        code, out = await stop(run)
    assert code == 0
    assert out.rstrip().endswith("sync-exporter simulate: stopped")


def free_ports(count: int) -> int:
    """Return P such that P..P+count-1 were all free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return int(base)
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    pytest.skip(f"no {count} consecutive free ports")


async def test_scenario_on_fixed_ports_realtime_and_sigint(tmp_path: Path) -> None:
    scenario = tmp_path / "two.yaml"
    scenario.write_text(
        "nodes: [{name: left, login: ops, password: pw}, {name: right, down: true}]\n",
        encoding="utf-8",
    )
    base = free_ports(3)
    args = ("--scenario", str(scenario), "--base-port", str(base), "--control-port", str(base + 2))
    async with simulate(*args) as run:
        assert run.urls == {
            "left": f"http://127.0.0.1:{base}",
            "right": f"http://127.0.0.1:{base + 1}",
        }
        assert any(line.startswith("  node left ") and "login ops" in line for line in run.banner)
        assert any(line.endswith("(down)") and "node right" in line for line in run.banner)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            headers = {"Authorization": aiohttp.encode_basic_auth("ops", "pw")}
            async with session.get(f"{run.urls['left']}/api?method=get_os", headers=headers) as r:
                assert await r.json(content_type=None) == {"os": "linux"}
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"{run.urls['right']}/api?method=get_os")
            control = f"http://127.0.0.1:{base + 2}"
            async with session.post(control + "/_sim/advance?seconds=1") as response:
                assert response.status == 409  # realtime is the default
        code, out = await stop(run, signal.SIGINT)
    assert code == 0
    assert "stopped" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "0"], "argument --nodes: must be between 1 and 1000, got 0"),
        (["--nodes", "many"], "argument --nodes: not an integer: 'many'"),
        (["--base-port", "70000"], "argument --base-port: must be between 0 and 65535, got 70000"),
        (["--latency", "-1"], "argument --latency: must be a finite number >= 0, got '-1'"),
        (["--realtime", "--manual-clock"], "argument --manual-clock: not allowed with argument"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--config", "x.conf", "--nodes", "2"], "--config runs one node; it excludes --nodes"),
        (["--config", "x.conf", "--host", "::"], "--config runs one node; it excludes --host"),
        (["--config", "x.conf", "--manual-clock"], "it excludes --manual-clock"),
        (["--config", "x.conf", "--node", "2"], "unrecognized arguments: --node 2"),
        (["--scenario", "demo", "--folders", "9"], "--folders and --peers describe a synthetic"),
        (["--nodes", "10", "--base-port", "65530"], "--base-port 65530 leaves no room for 10"),
        (["--scenario", "nope"], "unknown scenario 'nope': not a .yaml file"),
        (["--scenario", "demo", "--nodes", "2"], "--nodes 2 but the scenario declares 7 nodes"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("sync-exporter simulate: error: ")
    assert message in last


def test_a_bad_scenario_file_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("nodes: [{name: a, colour: red}]\nevents: [{at: 1m}]\n", encoding="utf-8")
    assert main(["--scenario", str(path)]) == 2
    err = capsys.readouterr().err
    assert "nodes[0].colour: unknown key" in err
    assert "events[0].event: required" in err


def test_a_busy_port_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--nodes", "1", "--base-port", str(port), "--manual-clock"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sync-exporter simulate: error: cannot listen: ")
    assert "Traceback" not in err
