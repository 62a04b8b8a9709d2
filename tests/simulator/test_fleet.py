"""A fleet over real HTTP: every scenario event's effect as a client sees it.

Simulated time moves only through ``fleet.advance``; the only real waiting is the
``slow`` fault, whose delay is wall-clock time by design (it models a slow answer).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from sync_exporter.simulator.clock import WallClock
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.scenario import parse_scenario_text
from sync_exporter.simulator.state import FaultMode

#: The conftest fixtures' types (conftest is not importable under --import-mode=importlib).
ApiClient = Any
Client = Callable[[Fleet, str], ApiClient]
FleetFactory = Callable[..., Awaitable[Fleet]]


async def refused(client: ApiClient) -> bool:
    """True when the node's port refuses the connection."""
    try:
        await client.call("get_version")
    except aiohttp.ClientConnectorError:
        return True
    return False


def folder_named(folders: list[dict[str, Any]], dir_: str) -> dict[str, Any]:
    (found,) = [f for f in folders if f["dir"] == dir_]
    return found


async def test_timeline_every_event_seen_over_http(
    make_fleet: FleetFactory, fleet_client: Client
) -> None:
    fleet = await make_fleet("timeline")
    alpha, beta = fleet_client(fleet, "alpha"), fleet_client(fleet, "beta")
    assert await beta.ok("get_version") == {"version": "1.4.111"}

    fleet.advance(60)  # 1m: slow, 0.2 s per answer
    started = time.monotonic()
    await beta.ok("get_os")
    assert time.monotonic() - started >= 0.2

    fleet.advance(60)  # 2m: unauthorized, even with the right password
    reply = await beta.call("get_os")
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Basic")

    fleet.advance(60)  # 3m: HTTP 500
    assert (await beta.call("get_os")).status == 500

    fleet.advance(60)  # 4m: invalid JSON, only for get_folders
    reply = await beta.call("get_folders")
    assert reply.status == 200
    with pytest.raises(ValueError, match="Expecting value"):
        reply.json()
    assert await beta.ok("get_os") == {"os": "linux"}

    fleet.advance(60)  # 5m: truncated bodies
    with pytest.raises(aiohttp.ClientPayloadError):
        await beta.call("get_folders")

    fleet.advance(60)  # 6m: clear
    assert (await beta.call("get_folders")).status == 200

    fleet.advance(60)  # 7m: node_down -> connection refused
    await fleet.settle()
    assert await refused(beta)
    (shared,) = await alpha.ok("get_folders")
    assert await alpha.ok("get_folder_peers", secret=shared["secret"]) == []

    fleet.advance(60)  # 8m: node_up, on the same port
    await fleet.settle()
    (beta_folder,) = await beta.ok("get_folders")
    assert [p["name"] for p in await alpha.ok("get_folder_peers", secret=shared["secret"])] == [
        "beta"
    ]

    fleet.advance(60)  # 9m: folder error 101 on beta
    (beta_folder,) = await beta.ok("get_folders")
    assert beta_folder["error"] == 101
    fleet.advance(30)  # 9m30s: cleared
    (beta_folder,) = await beta.ok("get_folders")
    assert beta_folder["error"] == 0

    fleet.advance(30)  # 10m: the external phone joins (relay)
    phones = [
        p
        for p in await alpha.ok("get_folder_peers", secret=shared["secret"])
        if p["name"] == "phone"
    ]
    assert [p["connection"] for p in phones] == ["relay"]
    fleet.advance(60)  # 11m: and leaves
    names = [p["name"] for p in await alpha.ok("get_folder_peers", secret=shared["secret"])]
    assert names == ["beta"]

    fleet.advance(60)  # 12m: indexing stuck on beta: indexing 1, files and size frozen
    (stuck,) = await beta.ok("get_folders")
    assert stuck["indexing"] == 1
    fleet.advance(50)
    (later,) = await beta.ok("get_folders")
    (alpha_later,) = await alpha.ok("get_folders")
    assert (later["size"], later["files"], later["indexing"]) == (
        stuck["size"],
        stuck["files"],
        1,
    )
    assert alpha_later["size"] > later["size"]  # alpha keeps writing

    fleet.advance(10)  # 13m: indexing done; beta catches up again
    fleet.advance(20)
    (beta_folder,) = await beta.ok("get_folders")
    (alpha_folder,) = await alpha.ok("get_folders")
    assert beta_folder["indexing"] == 0
    assert beta_folder["size"] == alpha_folder["size"]

    fleet.advance(30)  # 14m: stall: peers stay connected, nothing moves, sizes apart
    fleet.advance(30)
    before = await beta.ok("get_folder_peers", secret=beta_folder["secret"])
    (beta_before,) = await beta.ok("get_folders")
    fleet.advance(30)
    (beta_after,) = await beta.ok("get_folders")
    (alpha_after,) = await alpha.ok("get_folders")
    after = await beta.ok("get_folder_peers", secret=beta_folder["secret"])
    assert [p["name"] for p in after] == ["Älpha"]
    assert after == before
    assert beta_after["size"] == beta_before["size"] < alpha_after["size"]
    assert await beta.ok("get_speed") == {"download": 0, "upload": 0}

    fleet.advance(10)  # 15m: resume; beta converges
    fleet.advance(40)
    (beta_folder,) = await beta.ok("get_folders")
    (alpha_folder,) = await alpha.ok("get_folders")
    assert beta_folder["size"] == alpha_folder["size"]

    fleet.advance(20)  # 16m: remove_folder on beta
    assert await beta.ok("get_folders") == []
    assert await alpha.ok("get_folder_peers", secret=shared["secret"]) == []


async def test_transfers_over_http_match_on_both_sides(
    make_fleet: FleetFactory, fleet_client: Client
) -> None:
    scenario = parse_scenario_text(
        """
rate: 1MiB
nodes: [{name: a}, {name: b}]
folders:
  - name: f
    size: 8MiB
    files: 8
    nodes: {a: read_write, b: {mode: read_only, size: 0, dir: /b}}
"""
    )
    fleet = await make_fleet(scenario, seed=9)
    a, b = fleet_client(fleet, "a"), fleet_client(fleet, "b")
    (fa,) = await a.ok("get_folders")
    (fb,) = await b.ok("get_folders")
    assert (fb["size"], fb["files"]) == (0, 0)
    (b_sees_a,) = await b.ok("get_folder_peers", secret=fb["secret"])
    assert (b_sees_a["synced"], b_sees_a["download"]) == (0, 0)

    fleet.advance(3)
    speed_b = await b.ok("get_speed")
    speed_a = await a.ok("get_speed")
    assert speed_b["download"] > 0
    assert speed_b["download"] == speed_a["upload"]

    fleet.advance(30)
    (fb,) = await b.ok("get_folders")
    assert (fb["size"], fb["files"]) == (fa["size"], fa["files"])
    (b_sees_a,) = await b.ok("get_folder_peers", secret=fb["secret"])
    (a_sees_b,) = await a.ok("get_folder_peers", secret=fa["secret"])
    assert b_sees_a["download"] == a_sees_b["upload"] == 8 * 1024 * 1024
    assert b_sees_a["synced"] == a_sees_b["synced"] == int(fleet.clock.now())
    assert b_sees_a["id"] != a_sees_b["id"]

    # Secrets are one family: b (read-only) learns the same read-only secret as a.
    assert (await a.ok("get_secrets", secret=fa["secret"]))["read_only"] == fb["secret"]
    assert (await b.ok("get_secrets", secret=fb["secret"]))["read_only"] == fb["secret"]


async def test_set_fault_switches_every_mode_and_back(
    make_fleet: FleetFactory, fleet_client: Client
) -> None:
    fleet = await make_fleet("healthy")
    laptop = fleet_client(fleet, "laptop")
    await fleet.set_fault("laptop", FaultMode.SERVER_ERROR, methods=["get_speed"])
    assert (await laptop.call("get_speed")).status == 500
    assert (await laptop.call("get_os")).status == 200
    await fleet.set_fault("laptop", FaultMode.DOWN)
    assert await refused(laptop)
    port = fleet.nodes["laptop"].port
    await fleet.set_fault("laptop", FaultMode.NONE)
    assert fleet.nodes["laptop"].port == port
    assert await laptop.ok("get_os") == {"os": "win32"}


async def test_down_from_the_start_and_shutdown_through_the_api(
    make_fleet: FleetFactory, fleet_client: Client
) -> None:
    fleet = await make_fleet("demo")
    assert await refused(fleet_client(fleet, "pi"))
    office = fleet_client(fleet, "office")
    assert await office.ok("shutdown") == {"error": 0}
    await fleet.settle()
    assert fleet.nodes["office"].state.faults.mode is FaultMode.DOWN
    assert await refused(office)
    await fleet.set_fault("office", FaultMode.NONE)
    assert await office.ok("get_os") == {"os": "mac"}


async def test_a_node_whose_port_was_taken_while_down_stays_down_and_says_so(
    make_fleet: FleetFactory, fleet_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = await make_fleet("healthy")
    laptop = fleet_client(fleet, "laptop")
    port = fleet.nodes["laptop"].port
    await fleet.set_fault("laptop", FaultMode.DOWN)
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", port))
        thief.listen()
        await fleet.set_fault("laptop", FaultMode.NONE)
        await fleet.settle()
        assert fleet.nodes["laptop"].state.faults.mode is FaultMode.DOWN
        fleet.advance(1)  # peer lists follow at the next tick: the nodes see it gone
        (summary,) = [n for n in fleet.world.summary()["nodes"] if n["name"] == "nas"]
        assert "Åsa's laptop" not in [p["name"] for f in summary["folders"] for p in f["peers"]]
        assert f"node laptop cannot listen again on port {port}" in caplog.text
    await fleet.set_fault("laptop", FaultMode.NONE)  # the port is free again
    assert await laptop.ok("get_os") == {"os": "win32"}


async def test_demo_over_http_shows_error_indexing_stall_and_non_ascii(
    make_fleet: FleetFactory, fleet_client: Client
) -> None:
    fleet = await make_fleet("demo")
    fleet.advance(60)
    office = await fleet_client(fleet, "office").ok("get_folders")
    assert folder_named(office, "/Volumes/Backup")["error"] == 101
    laptop_client = fleet_client(fleet, "laptop")
    laptop = await laptop_client.ok("get_folders")
    assert folder_named(laptop, "D:\\Musik")["indexing"] == 1
    reply = await laptop_client.call("get_folders")
    assert "C:\\\\Users\\\\Åsa".encode() in reply.body  # raw UTF-8 on the wire
    projects = folder_named(laptop, "C:\\Users\\Åsa\\Projekte")
    peers = await laptop_client.ok("get_folder_peers", secret=projects["secret"])
    assert sorted(p["name"] for p in peers) == ["NAS Keller", "Studio NAS", "office-mac"]
    nas = await fleet_client(fleet, "nas").ok("get_folders")
    assert folder_named(nas, "/srv/sync/Projekte")["size"] != projects["size"]
    vault = await fleet_client(fleet, "vault").ok("get_folders")
    assert {f["type"] for f in vault} == {"encrypted"}
    photos = folder_named(nas, "/srv/sync/Fotos Ölandsresa")
    connections = {
        p["name"]: p["connection"]
        for p in await fleet_client(fleet, "nas").ok("get_folder_peers", secret=photos["secret"])
    }
    assert connections == {
        "Åsa's laptop": "direct",
        "offsite vault": "relay",
        "Åsas telefon": "relay",
    }


async def test_synthetic_fleet_has_the_asked_shape(fleet_client: Client) -> None:
    fleet = Fleet.synthetic(nodes=4, folders=5, peers=3, seed=2, latency=0.0)
    async with fleet:
        for name in fleet.nodes:
            client = fleet_client(fleet, name)
            folders = await client.ok("get_folders")
            assert len(folders) == 5
            for folder in folders:
                peers = await client.ok("get_folder_peers", secret=folder["secret"])
                assert len(peers) == 3


def free_port_pair() -> int:
    """Return a port P such that P and P+1 were free a moment ago."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    pytest.skip("no two consecutive free ports")


async def test_base_port_puts_node_i_on_base_plus_i(fleet_client: Client) -> None:
    base = free_port_pair()
    scenario = parse_scenario_text("nodes: [{name: a}, {name: b}]")
    fleet = Fleet.from_scenario(scenario)
    try:
        await fleet.start(base_port=base)
        assert [n.port for n in fleet.nodes.values()] == [base, base + 1]
        assert await fleet_client(fleet, "b").ok("get_os") == {"os": "linux"}
    finally:
        await fleet.stop()


async def test_start_failure_releases_every_port() -> None:
    base = free_port_pair()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 1))
        busy.listen()
        fleet = Fleet.from_scenario(parse_scenario_text("nodes: [{name: a}, {name: b}]"))
        with pytest.raises(OSError):  # noqa: PT011 - the OS decides errno and message
            await fleet.start(base_port=base)
    # The first node had started; the failed start released its port again.
    with socket.socket() as again:
        again.bind(("127.0.0.1", base))


async def test_a_realtime_fleet_refuses_manual_advance(make_fleet: FleetFactory) -> None:
    fleet = await make_fleet("healthy", realtime=True)
    assert fleet.realtime
    with pytest.raises(ValueError, match="follows the wall clock"):
        fleet.advance(1)
    assert fleet.world.elapsed == 0
    # Its ManualClock was moved to the present, so what nodes report is dated today.
    assert abs(fleet.clock.now() - time.time()) < 5
    nas = fleet.nodes["nas"].state
    assert all(
        abs(p.synced - time.time()) < 5 for f in nas.folders.values() for p in f.peers.values()
    )


async def test_a_realtime_fleet_follows_the_wall_clock(make_fleet: FleetFactory) -> None:
    # Realtime means simulated time *is* wall time, so this one test waits (about 1 s).
    fleet = await make_fleet("healthy", clock=WallClock(), realtime=True)
    async with asyncio.timeout(10):
        while fleet.world.elapsed < 1:  # noqa: ASYNC110 - the fleet task owns the state
            await asyncio.sleep(0.05)
    nas = fleet.nodes["nas"].state
    synced = [p.synced for f in nas.folders.values() for p in f.peers.values()]
    assert synced
    assert all(abs(s - time.time()) < 5 for s in synced)
    assert nas.upload_speed > 0  # photos keeps growing on nas; the others fetch it


async def test_synthetic_latency_delays_every_answer(fleet_client: Client) -> None:
    async with Fleet.synthetic(nodes=1, folders=1, peers=0, latency=0.1) as fleet:
        client = fleet_client(fleet, "node-0")
        started = time.monotonic()
        assert await client.ok("get_os") == {"os": "linux"}
        assert time.monotonic() - started >= 0.1
