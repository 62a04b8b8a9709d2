"""``sync-exporter check`` as a user runs it: a subprocess against a simulated fleet.

The fleet runs in the test's event loop; the command runs in its own process (as a user
would run it), so it is awaited with asyncio's subprocess API while the fleet answers.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FaultMode, NodeState

HEADER = [
    "NODE", "URL", "REACHABLE", "AUTH", "API", "VERSION", "FOLDERS", "DISTINCT PEERS", "PROBLEM"
]  # fmt: skip


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """The bundled healthy fleet on loopback, simulated time standing still."""
    async with Fleet.from_scenario("healthy", seed=7, clock=ManualClock()) as running:
        yield running


@pytest.fixture
async def api_disabled_node() -> AsyncIterator[SimNode]:
    """A node whose sync.conf has no webui.api_key: API v1 answers HTTP 400, /gui/ works."""
    node = SimNode(
        NodeState(name="noapi"),
        clock=ManualClock(),
        rng=random.Random(1),
        login="api",
        password="noapi-password-value",
        api_key=None,
    )
    await node.start()
    yield node
    await node.stop()


async def _run_check(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_exporter",
        "check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _table(stdout: str) -> dict[str, list[str]]:
    """Rows of the printed table by node name, cells split on the column gaps."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NODE"))
    assert re.split(r"\s{2,}", lines[start]) == HEADER
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if not line:
            break
        cells = re.split(r"\s{2,}", line)
        rows[cells[0]] = cells
    return rows


def _folders_and_peers(fleet: Fleet, name: str) -> tuple[str, str]:
    """What the node's API holds right now: the truth the table must show.

    Peers are devices: one connected to three folders of the node counts once, as on the
    landing page (before, check summed the folders' peer lists).
    """
    folders = fleet.nodes[name].state.folders.values()
    return str(len(folders)), str(len({p.id for f in folders for p in f.peers.values()}))


async def test_table_and_exit_code_for_a_mixed_fleet(
    fleet: Fleet, api_disabled_node: SimNode, tmp_path: Path
) -> None:
    await fleet.set_fault("laptop", FaultMode.UNAUTHORIZED)
    await fleet.set_fault("office", FaultMode.DOWN)
    await fleet.set_fault("vault", FaultMode.HANG)
    await fleet.set_fault("pi", FaultMode.SERVER_ERROR, methods=["get_folder_peers"])
    login, nas_password = fleet.credentials("nas")
    (tmp_path / "nas-password").write_text(nas_password + "\n", encoding="utf-8")
    passwords = {name: fleet.credentials(name)[1] for name in fleet.nodes}
    lines = [
        "defaults: {username: api, timeout: 5s}",
        "nodes:",
        f"  - {{name: nas, url: '{fleet.nodes['nas'].url}', password_file: nas-password}}",
    ]
    for name in ("laptop", "office", "pi"):
        url = fleet.nodes[name].url
        lines.append(f"  - {{name: {name}, url: '{url}', password: '{passwords[name]}'}}")
    lines.append(
        f"  - {{name: vault, url: '{fleet.nodes['vault'].url}', "
        f"password: '{passwords['vault']}', timeout: 300ms}}"
    )
    lines.append(
        f"  - {{name: noapi, url: '{api_disabled_node.url}', password: noapi-password-value, "
        "api: v1}"
    )
    lines.append(  # the same keyless node under auto: read through the web GUI API
        f"  - {{name: resilio, url: '{api_disabled_node.url}', password: noapi-password-value}}"
    )
    config = tmp_path / "sync-exporter.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert login == "api"

    code, stdout, stderr = await _run_check("--config.file", str(config), "--timeout", "5s")

    assert code == 1, stdout + stderr
    rows = _table(stdout)
    nas_folders, nas_peers = _folders_and_peers(fleet, "nas")
    pi_folders, _ = _folders_and_peers(fleet, "pi")
    urls = {name: node.url for name, node in fleet.nodes.items()}
    version = {name: node.state.version for name, node in fleet.nodes.items()}
    assert rows == {
        "nas": [
            "nas", urls["nas"], "yes", "yes", "v1", version["nas"], nas_folders, nas_peers, "-",
        ],
        "laptop": [
            "laptop", urls["laptop"], "yes", "no", "-", "-", "-", "-",
            "wrong login or password (HTTP 401)",
        ],
        "office": [
            "office", urls["office"], "no", "-", "-", "-", "-", "-",
            "cannot connect: connection refused",
        ],
        "pi": [
            "pi", urls["pi"], "yes", "yes", "v1", version["pi"], pi_folders, "0+?",
            f"get_folder_peers failed for {pi_folders} folder" + ("s" if pi_folders != "1" else ""),
        ],
        "vault": ["vault", urls["vault"], "no", "-", "-", "-", "-", "-", "timed out after 0.3s"],
        "noapi": [
            "noapi", api_disabled_node.url, "yes", "yes", "no", "-", "-", "-",
            "API not enabled: set webui.api_key on the node (HTTP 400)",
        ],
        "resilio": [
            "resilio", api_disabled_node.url, "yes", "yes", "gui",
            api_disabled_node.state.version, "0", "0", "-",
        ],
    }  # fmt: skip
    assert stdout.rstrip().endswith("2 of 7 nodes OK; failed: laptop, office, pi, vault, noapi")
    assert "nas      read through API v1: API v1 answered" in stdout
    assert "pi       read through API v1: API v1 answered" in stdout
    assert (
        "resilio  read through API gui: API v1 is disabled on the node (HTTP 400, no webui.api_key)"
    ) in stdout
    for secret in [*passwords.values(), "noapi-password-value"]:
        assert secret not in stdout
        assert secret not in stderr


async def test_all_nodes_ok_exits_zero(fleet: Fleet, tmp_path: Path) -> None:
    lines = ["nodes:"]
    for name, node in fleet.nodes.items():
        login, password = fleet.credentials(name)
        lines.append(
            f"  - {{name: {name}, url: '{node.url}', username: {login}, password: '{password}'}}"
        )
    config = tmp_path / "ok.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, stdout, stderr = await _run_check("--config.file", str(config))

    assert code == 0, stdout + stderr
    rows = _table(stdout)
    assert list(rows) == list(fleet.nodes)
    for name, cells in rows.items():
        folders, peers = _folders_and_peers(fleet, name)
        spec = fleet.world.scenario.node(name)
        assert cells[2:] == [
            "yes",
            "yes",
            "v1" if spec is None or spec.api_key else "gui",  # GUI-only nodes: no API key
            fleet.nodes[name].state.version,
            folders,
            peers,
            "-",
        ]
    assert stdout.rstrip().endswith(f"all {len(rows)} nodes OK")
    assert stderr == ""


def _config_for(fleet: Fleet, path: Path, names: list[str]) -> Path:
    lines = ["nodes:"]
    for name in names:
        login, password = fleet.credentials(name)
        url = fleet.nodes[name].url
        lines.append(
            f"  - {{name: {name}, url: '{url}', username: {login}, password: '{password}'}}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _problems(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FOLDER PROBLEM"))
    rows = []
    for line in lines[start + 1 :]:
        if not line or line.startswith("("):
            break
        rows.append(re.split(r"\s{2,}", line))
    return rows


async def test_folder_problems_are_reported_and_set_the_exit_code(tmp_path: Path) -> None:
    # Before: "4 of 5 nodes OK" and exit 1 for the down node only, with a folder in error.
    async with Fleet.from_scenario("demo", seed=0, clock=ManualClock()) as demo:
        answering = [n for n in demo.nodes if n != "pi"]  # pi is down on purpose
        config = _config_for(demo, tmp_path / "demo.yml", answering)
        code, stdout, stderr = await _run_check("--config.file", str(config))
        assert code == 3, stdout + stderr
        found = _problems(stdout)
        assert found[0][:3] == ["error", "office", "/Volumes/Backup"]
        assert "error 101" in found[0][3]
        behind = {(row[0], row[1], row[2]) for row in found[1:]}
        assert ("out of sync", "nas", "/srv/sync/Projekte") in behind
        assert all(row[1] != "vault" for row in found)  # encrypted copies never count
        assert re.search(
            r"\n\d+ folder problems: 1 error, \d+ out of sync, 1 paused$", stdout.rstrip()
        )
        assert ["paused", "cabin", "E:\\Sync\\Musik"] in [row[:3] for row in found]
        assert f"all {len(answering)} nodes OK" in stdout

        # A node down as well: the node's failure decides the exit code.
        config = _config_for(demo, tmp_path / "all.yml", list(demo.nodes))
        code, stdout, _ = await _run_check("--config.file", str(config))
        assert code == 1
        assert f"{len(answering)} of {len(demo.nodes)} nodes OK; failed: pi" in stdout
        assert "FOLDER PROBLEM" in stdout


async def test_invalid_config_exits_two_with_every_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(
        "nodes:\n  - {name: a, url: 'ftp://h', password: p}\n  - {name: a, url: 'http://h:1'}\n",
        encoding="utf-8",
    )
    code, stdout, _ = await _run_check("--config.file", str(config))
    assert code == 2
    assert stdout.splitlines() == [
        f"FAILED: {config} has 5 errors:",
        '  nodes[0].url: "ftp://h" must start with http:// or https://',
        "  nodes[0]: no username: set username here or in defaults",
        "  nodes[1]: no username: set username here or in defaults",
        "  nodes[1]: no password: set password or password_file here or in defaults",
        '  nodes[1].name: "a" is already used by nodes[0]',
    ]


async def test_bad_timeout_flag_exits_two(tmp_path: Path) -> None:
    code, _, stderr = await _run_check("--config.file", str(tmp_path / "x.yml"), "--timeout", "8x")
    assert code == 2
    assert '"8x" is not a duration' in stderr


async def test_a_node_using_most_of_its_timeout_gets_a_warning(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Issue 10: a large node can be reported down because its scrape nears the timeout."""
    name = next(iter(fleet.nodes))
    node = fleet.nodes[name]
    node.state.faults.delay = 0.5  # two rounds (listing, then the folder fan-out): >= 1 s
    login, password = fleet.credentials(name)
    config = tmp_path / "slow.yml"
    config.write_text(
        f"nodes:\n  - {{name: {name}, url: '{node.url}', username: {login}, "
        f"password: '{password}', timeout: 1600ms, max_concurrency: 64}}\n",
        encoding="utf-8",
    )

    code, stdout, stderr = await _run_check("--config.file", str(config))

    assert code == 0, stdout + stderr  # a warning, not a failure: the node answered
    assert _table(stdout)[name][-1] == "-"
    warning = next(line for line in stdout.splitlines() if line.startswith("warning:"))
    assert re.fullmatch(
        rf"warning: {name}: the scrape took 1\.\ds of its 1\.6s budget \(\d+%\); raise the "
        r"node's timeout \(and Prometheus' scrape_timeout\), see "
        r"docs/operations\.md#sizing-the-timeout",
        warning,
    ), warning


def test_no_warning_for_a_scrape_well_within_its_budget() -> None:
    from sync_exporter.check import slow_warning
    from sync_exporter.model import NodeSnapshot, Outcome

    assert slow_warning(NodeSnapshot("a", True, 2.0), budget=10.0) == ""
    assert slow_warning(NodeSnapshot("a", False, 9.9, outcome=Outcome.TIMEOUT), 10.0) == ""
    assert "9.0s of its 10s budget (90%)" in slow_warning(NodeSnapshot("a", True, 9.0), 10.0)
