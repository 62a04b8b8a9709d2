"""Nodes read through the web GUI API, over real HTTP against simulator nodes.

A Resilio Sync 2.x/3.x node without ``webui.api_key`` answers API v1 with HTTP 400 and
serves ``/gui/``; the simulator does the same. These tests hold the exporter to the
behaviour issue 8 asks for: exact values, ``auto`` deciding once and saying why, a
handful of requests whatever the folder count, one re-mint on an expired or forgotten
session, the v1 fault table, and no token, cookie, secret or password in any output.
"""

from __future__ import annotations

import dataclasses
import logging
import random

import pytest
from aiohttp import web

from sync_exporter.folder_id import folder_id
from sync_exporter.logs import LogfmtFormatter
from sync_exporter.model import NodeSnapshot, Outcome, SharedSecrets
from sync_exporter.scrape import Scraper
from sync_exporter.simulator import secrets
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FaultMode, NodeState
from tests.exporter.conftest import (
    PASSWORD,
    RecordingObserver,
    StartNode,
    all_secrets,
    folder,
    node_config,
    sample_state,
)

#: The GUI actions of one scrape once version and OS are cached.
STEADY = {"getsyncfolders": 1, "getstatuses": 1}


def gui_state(name: str, rng: random.Random) -> NodeState:
    """:func:`sample_state` as a Resilio Sync 3.x node with every GUI-only field in use."""
    state = sample_state(name, rng)
    state.version, state.os = "3.1.2", "Linux"
    documents, photos, incoming = state.folders.values()
    documents.pending_down_bytes, documents.pending_down_files = 7340032, 12
    documents.pending_up_bytes, documents.pending_up_files = 1024, 1
    documents.available_space = 5 * 2**30
    relay = next(p for p in documents.peers.values() if p.connection == "relay")
    relay.online, relay.last_seen = False, 1767225600
    photos.paused = True
    photos.available_space = 123456
    incoming.synclevel = 1  # selective
    return state


def gui_folder_id(held: str) -> str:
    """What a GUI node's folder_id must be: the hash of the read-only secret it is given."""
    return folder_id(held, SharedSecrets(read_only=secrets.derive(held).read_only))


def assert_gui_matches_state(snapshot: NodeSnapshot, state: NodeState) -> None:
    """Every value of a GUI node's snapshot equals the simulator's truth."""
    assert snapshot.up, snapshot.error
    assert snapshot.api == "gui"
    assert (snapshot.version, snapshot.os) == (state.version, state.os)
    assert (snapshot.download_speed, snapshot.upload_speed) == (
        state.download_speed,
        state.upload_speed,
    )
    by_dir = {f.dir: f for f in state.folders.values()}
    assert sorted(f.dir for f in snapshot.folders) == sorted(by_dir)
    for got in snapshot.folders:
        truth = by_dir[got.dir]
        assert got.folder_id == gui_folder_id(truth.secret)
        assert (got.type, got.size_bytes, got.files) == (truth.type, truth.size, truth.files)
        assert (got.error_code, got.indexing) == (truth.error, truth.indexing)
        assert got.selective is (truth.synclevel == 1)
        assert got.gui is not None
        assert (
            got.gui.pending_download_bytes,
            got.gui.pending_download_files,
            got.gui.pending_upload_bytes,
            got.gui.pending_upload_files,
            got.gui.paused,
        ) == (
            truth.pending_down_bytes,
            truth.pending_down_files,
            truth.pending_up_bytes,
            truth.pending_up_files,
            truth.paused,
        )
        if truth.available_space is not None:
            assert got.gui.disk_free_bytes == truth.available_space
        assert got.peers is not None
        assert {
            (p.peer_id, p.name, p.connection, p.synced, p.online, p.last_seen) for p in got.peers
        } == {
            (
                p.id,
                p.name,
                p.connection,
                float(p.synced),
                p.online,
                float(p.last_seen) if not p.online and p.last_seen else None,
            )
            for p in truth.peers.values()
        }
        assert all(p.download_bytes is None and p.upload_bytes is None for p in got.peers)


def requests_of(observer: RecordingObserver, node: str) -> dict[str, int]:
    """How many requests of each method ``node`` got so far."""
    counts: dict[str, int] = {}
    for call in observer.calls:
        if call.node == node:
            counts[call.method] = counts.get(call.method, 0) + 1
    return counts


async def test_a_mixed_fleet_gives_exact_values_from_both_apis(
    start_node: StartNode, rng: random.Random, scraper: Scraper
) -> None:
    """v1 node, GUI-only node under auto, and a node with both read through api: gui."""
    classic = await start_node(sample_state("classic", rng))
    keyless = await start_node(gui_state("keyless", rng), api_key=None)
    both = await start_node(gui_state("both", rng))
    v1, auto, gui = await scraper.scrape(
        [
            node_config(classic, "classic", api="v1"),
            node_config(keyless, "keyless"),  # api: auto (the default)
            node_config(both, "both", api="gui"),
        ],
        timeout=5.0,
    )
    assert (v1.api, v1.up) == ("v1", True)
    assert all(f.gui is None for f in v1.folders)
    assert_gui_matches_state(auto, keyless.state)
    assert_gui_matches_state(gui, both.state)
    assert auto.api_reason == "API v1 is disabled on the node (HTTP 400, no webui.api_key)"
    assert gui.api_reason == "api: gui in the config"
    assert v1.api_reason == "api: v1 in the config"


async def test_auto_decides_once_says_why_and_asks_only_the_gui_afterwards(
    start_node: StartNode,
    rng: random.Random,
    scraper: Scraper,
    observer: RecordingObserver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = await start_node(gui_state("keyless", rng), api_key=None)
    config = node_config(node, "keyless")
    caplog.set_level(logging.INFO, logger="sync_exporter")
    (first,) = await scraper.scrape([config], timeout=5.0)
    assert first.up
    v1_calls = {m: n for m, n in requests_of(observer, "keyless").items() if m.startswith("get_")}
    assert v1_calls
    assert all(c.outcome is Outcome.API_DISABLED for c in observer.calls if c.method in v1_calls)
    for _ in range(3):
        (later,) = await scraper.scrape([config], timeout=5.0)
        assert later.up
    after = requests_of(observer, "keyless")
    assert {m: after[m] for m in v1_calls} == v1_calls, "auto asked API v1 again"
    chosen = [r for r in caplog.records if r.getMessage() == "node API chosen"]
    assert len(chosen) == 1
    line = LogfmtFormatter().format(chosen[0])
    assert "node=keyless" in line
    assert "api=gui" in line
    assert "reason=" in line


async def test_a_gui_scrape_costs_the_same_few_requests_whatever_the_folder_count(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    small = gui_state("small", rng)
    large = gui_state("large", rng)
    for index in range(200):
        kin = secrets.generate(rng)
        assert kin.read_write is not None
        extra = folder(kin.read_write, f"/srv/sync/many/{index}", size=index, files=index)
        large.folders[extra.secret] = extra
    nodes = [await start_node(small, api_key=None), await start_node(large, api_key=None)]
    configs = [node_config(n, n.state.name, api="gui") for n in nodes]
    await scraper.scrape(configs, timeout=5.0)
    first = {n.state.name: requests_of(observer, n.state.name) for n in nodes}
    for counts in first.values():
        assert counts == {**STEADY, "token": 1, "version": 1, "getsysteminfo": 1}
    (_, large_snap) = await scraper.scrape(configs, timeout=5.0)
    assert len(large_snap.folders) == 203
    for node in nodes:
        name = node.state.name
        now = requests_of(observer, name)
        second = {m: now[m] - first[name].get(m, 0) for m in now if now[m] != first[name].get(m)}
        assert second == STEADY, name


async def test_an_expired_session_is_minted_again_once(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    node = await start_node(gui_state("n", rng), api_key=None)
    config = node_config(node, "n", api="gui")
    await scraper.scrape([config], timeout=5.0)
    assert node.expire_gui_sessions() == 1
    (snapshot,) = await scraper.scrape([config], timeout=5.0)
    assert_gui_matches_state(snapshot, node.state)
    assert requests_of(observer, "n")["token"] == 2
    assert all(c.outcome is Outcome.SUCCESS for c in observer.calls)


async def test_a_restarted_node_with_a_new_cookie_is_read_again(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    node = await start_node(gui_state("n", rng), api_key=None)
    config = node_config(node, "n", api="gui")
    await scraper.scrape([config], timeout=5.0)
    await node.set_down(True)  # the daemon restarts: its sessions are gone
    (down,) = await scraper.scrape([config], timeout=5.0)
    assert (down.up, down.outcome) == (False, Outcome.CONNECT_ERROR)
    await node.set_down(False)
    (back,) = await scraper.scrape([config], timeout=5.0)
    assert_gui_matches_state(back, node.state)
    # The old token answered 400 invalid request; one fresh session fixed it.
    assert requests_of(observer, "n")["token"] == 2


async def test_wrong_password_is_auth_error_without_the_password(
    start_node: StartNode, rng: random.Random, scraper: Scraper
) -> None:
    node = await start_node(gui_state("n", rng), api_key=None, password="the-real-one")
    for api in ("gui", "auto"):
        (snap,) = await scraper.scrape([node_config(node, f"n-{api}", api=api)], timeout=5.0)
        assert (snap.up, snap.outcome) == (False, Outcome.AUTH_ERROR)
        assert snap.error == "wrong login or password (HTTP 401)"


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        (FaultMode.DOWN, Outcome.CONNECT_ERROR),
        (FaultMode.UNAUTHORIZED, Outcome.AUTH_ERROR),
        (FaultMode.SERVER_ERROR, Outcome.HTTP_ERROR),
        (FaultMode.INVALID_JSON, Outcome.INVALID_RESPONSE),
        (FaultMode.TRUNCATED, Outcome.INVALID_RESPONSE),
        (FaultMode.HANG, Outcome.TIMEOUT),
    ],
)
async def test_the_fault_table_holds_for_gui_nodes(
    start_node: StartNode,
    rng: random.Random,
    scraper: Scraper,
    mode: FaultMode,
    outcome: Outcome,
) -> None:
    healthy = await start_node(gui_state("healthy", rng), api_key=None)
    faulty = await start_node(gui_state("faulty", rng), api_key=None)
    configs = [node_config(healthy, "healthy", api="gui"), node_config(faulty, "faulty")]
    await scraper.scrape(configs, timeout=5.0)  # auto has chosen the GUI
    faulty.state.faults.mode = mode
    good, bad = await scraper.scrape(configs, timeout=1.0)
    assert_gui_matches_state(good, healthy.state)
    assert (bad.up, bad.outcome) == (False, outcome)
    assert bad.error


async def test_a_node_upgraded_to_3x_switches_from_v1_to_the_gui_in_one_scrape(
    start_node: StartNode, rng: random.Random, scraper: Scraper, caplog: pytest.LogCaptureFixture
) -> None:
    """The node's API key goes away (Resilio Sync 3.x): auto moves over, nothing is lost."""
    old = await start_node(sample_state("nas", rng))
    config = node_config(old, "nas")
    (before,) = await scraper.scrape([config], timeout=5.0)
    assert (before.up, before.api, before.version) == (True, "v1", "1.4.111")
    port = old.port
    await old.stop()
    upgraded = SimNode(
        gui_state("nas", rng),
        clock=old.clock,
        rng=random.Random(1),
        login="api",
        password=PASSWORD,
        api_key=None,
    )
    await upgraded.start(port=port)
    try:
        caplog.set_level(logging.INFO, logger="sync_exporter")
        (after,) = await scraper.scrape([config], timeout=5.0)
        assert_gui_matches_state(after, upgraded.state)  # version re-read: 3.1.2
    finally:
        await upgraded.stop()
    chosen = [r.__dict__["api"] for r in caplog.records if r.getMessage() == "node API chosen"]
    assert chosen == ["gui"]


@pytest.fixture
async def no_gui_node(aiohttp_server: object) -> str:
    """A server whose API v1 is disabled and that has no web GUI API (404)."""

    async def disabled(request: web.Request) -> web.Response:
        return web.Response(status=400, text="invalid request")

    app = web.Application()
    app.router.add_get("/api", disabled)
    server = await aiohttp_server(app)  # type: ignore[operator]
    return str(server.make_url("")).rstrip("/")


async def test_v1_disabled_and_no_gui_is_api_disabled_saying_both(
    start_node: StartNode, rng: random.Random, scraper: Scraper, no_gui_node: str
) -> None:
    template = await start_node(sample_state("t", rng))
    config = dataclasses.replace(node_config(template, "bare"), url=no_gui_node)
    (snap,) = await scraper.scrape([config], timeout=5.0)
    assert (snap.up, snap.outcome) == (False, Outcome.API_DISABLED)
    assert snap.error is not None
    assert "HTTP 400" in snap.error
    assert "no web GUI API at this URL (HTTP 404" in snap.error


async def test_no_token_cookie_secret_or_password_in_any_output(
    start_node: StartNode,
    rng: random.Random,
    scraper: Scraper,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = await start_node(gui_state("n", rng), api_key=None)
    config = node_config(node, "n")
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    for mode in (FaultMode.NONE, FaultMode.INVALID_JSON, FaultMode.UNAUTHORIZED, FaultMode.NONE):
        node.state.faults.mode = mode
        (snap,) = await scraper.scrape([config], timeout=5.0)
        outputs += [repr(snap), snap.error or ""]
        node.expire_gui_sessions()
    # The live session's token and cookie, read from the node (nothing else knows them).
    sessions = node.gui_sessions._by_cookie
    assert sessions
    tokens = {s.token for s in sessions.values()} | set(sessions)
    text = "\n".join([*outputs, *(LogfmtFormatter().format(r) for r in caplog.records)])
    for secret in tokens | all_secrets(node.state) | {PASSWORD}:
        assert secret not in text


async def test_after_a_reload_auto_asks_api_v1_again(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    node = await start_node(gui_state("keyless", rng), api_key=None)
    pinned = await start_node(gui_state("pinned", rng), api_key=None)
    configs = [node_config(node, "keyless"), node_config(pinned, "pinned", api="gui")]
    await scraper.scrape(configs, timeout=5.0)
    await scraper.scrape(configs, timeout=5.0)
    asked = requests_of(observer, "keyless").get("get_speed", 0)
    assert asked == 1  # only the first scrape asked API v1
    scraper.reconsider_apis()
    (again, pinned_again) = await scraper.scrape(configs, timeout=5.0)
    assert again.up
    assert again.api == "gui"
    assert requests_of(observer, "keyless")["get_speed"] == asked + 1
    assert pinned_again.up
    assert "get_speed" not in requests_of(observer, "pinned")
