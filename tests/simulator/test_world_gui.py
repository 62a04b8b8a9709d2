"""What only the GUI API shows, as the world evolves it: queues, pause, free space, peers.

These drive :class:`World` with a ManualClock; the last tests read the same values over
real HTTP from a fleet to show the GUI answer is the state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.scenario import (
    EventKind,
    EventSpec,
    ScenarioError,
    load_scenario,
    parse_scenario_text,
)
from sync_exporter.simulator.state import FolderState, PeerState
from sync_exporter.simulator.world import World

from .conftest import ApiClient, GuiClient

MiB = 1024 * 1024

FLEET = """
rate: 1MiB
nodes:
  - {name: src}
  - {name: gui, api_key: false, version: 3.1.2, disk_free: 100MiB, disk_fill: 64KiB}
  - {name: v1}
folders:
  - name: data
    size: 20MiB
    files: 200
    nodes:
      src: read_write
      gui: {mode: read_only, size: 25%}
      v1: {mode: read_only, size: 50%}
    peers:
      - {name: phone, leaves_at: 30s, nodes: [src, gui, v1]}
  - name: frozen
    size: 10MiB
    files: 10
    stalled: true
    nodes:
      src: read_write
      gui: {mode: read_only, size: 40%}
  - name: held
    size: 10MiB
    files: 10
    nodes:
      src: read_write
      gui: {mode: read_only, size: 10%, paused: true}
"""


def world_of(text: str = FLEET) -> World:
    return World(parse_scenario_text(text, source="test.yaml"))


def folder_of(world: World, node: str, name: str = "data") -> FolderState:
    return world.nodes[node].folders[world.secret_of(name, node)]


def peer_named(folder: FolderState, name: str) -> PeerState:
    (found,) = [p for p in folder.peers.values() if p.name == name]
    return found


def test_download_queue_follows_the_transfer_down_to_zero() -> None:
    world = world_of()
    gui = folder_of(world, "gui")
    assert gui.pending_down_bytes == 15 * MiB
    assert gui.pending_down_files == 150
    seen = [gui.pending_down_bytes]
    for _ in range(30):
        world.advance(1)
        seen.append(gui.pending_down_bytes)
        assert gui.pending_down_bytes == 20 * MiB - gui.size
    assert seen == sorted(seen, reverse=True)
    assert seen[-1] == 0
    assert gui.pending_down_files == 0


def test_upload_queue_is_what_connected_peers_lack() -> None:
    world = world_of()
    src = folder_of(world, "src")
    assert src.pending_up_bytes == 15 * MiB + 10 * MiB  # gui lacks 15, v1 lacks 10
    world.advance(60)
    assert src.pending_up_bytes == 0
    assert folder_of(world, "src").up_speed == 0


def test_folder_speeds_are_the_bytes_moved_in_the_last_tick() -> None:
    world = world_of()
    world.advance(1)
    gui = folder_of(world, "gui")
    before = gui.size
    world.advance(1)
    assert gui.down_speed == gui.size - before > 0


def test_stalled_folder_keeps_its_queue() -> None:
    world = world_of()
    frozen = folder_of(world, "gui", "frozen")
    assert frozen.pending_down_bytes == 6 * MiB
    world.advance(600)
    assert frozen.pending_down_bytes == 6 * MiB
    assert folder_of(world, "src", "frozen").pending_up_bytes == 6 * MiB


def test_paused_copy_moves_nothing_until_unpaused() -> None:
    world = world_of()
    held = folder_of(world, "gui", "held")
    assert held.paused
    world.advance(120)
    assert (held.size, held.pending_down_bytes) == (MiB, 9 * MiB)
    assert held.down_speed == 0
    world.apply(EventSpec(0, EventKind.UNPAUSE, folder="held", node="gui"))
    assert folder_of(world, "gui", "held").paused is False
    world.advance(30)
    assert held.pending_down_bytes == 0


def test_free_space_goes_down_with_received_bytes_and_the_fill_rate() -> None:
    world = world_of()
    gui = world.nodes["gui"]
    assert {f.available_space for f in gui.folders.values()} == {100 * MiB}
    world.advance(10)
    gained = sum(f.size for f in gui.folders.values()) - (5 + 4 + 1) * MiB
    want = 100 * MiB - gained - 10 * 64 * 1024
    assert {f.available_space for f in gui.folders.values()} == {want}
    assert folder_of(world, "v1").available_space is None  # not modelled: the GUI default


def test_a_full_volume_stops_receiving() -> None:
    world = world_of(FLEET.replace("disk_free: 100MiB", "disk_free: 3MiB"))
    gui = folder_of(world, "gui")
    world.advance(120)
    assert gui.available_space == 0
    size = gui.size
    assert size < 20 * MiB
    world.advance(60)
    assert gui.size == size
    assert gui.pending_down_bytes == 20 * MiB - size


def test_departed_peers_stay_listed_offline_on_a_gui_node_only() -> None:
    world = world_of()
    world.advance(29)
    assert peer_named(folder_of(world, "gui"), "phone").online
    world.advance(5)
    phone = peer_named(folder_of(world, "gui"), "phone")
    assert not phone.online
    assert phone.last_seen == int(world.started_at) + 29
    assert all(p.name != "phone" for p in folder_of(world, "v1").peers.values())
    world.apply(EventSpec(0, EventKind.NODE_DOWN, node="src"))
    world.advance(1)
    src = peer_named(folder_of(world, "gui"), "src")
    assert not src.online
    assert src.last_seen > 0
    world.apply(EventSpec(0, EventKind.NODE_UP, node="src"))
    world.advance(1)
    assert peer_named(folder_of(world, "gui"), "src").online


def test_expire_sessions_event_moves_the_epoch() -> None:
    world = world_of()
    world.apply(EventSpec(0, EventKind.EXPIRE_SESSIONS, node="gui"))
    assert world.nodes["gui"].gui_epoch == 1


def test_build_and_version() -> None:
    text = FLEET.replace("version: 3.1.2,", "version: 2.7.3, build: 1381,")
    state = world_of(text).nodes["gui"]
    assert (state.version, state.build) == ("2.7.3", 1381)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("api_key: false", "nodes[1].api_key: expected true or false, got 'no'"),
        ("disk_free: 100MiB, ", "nodes[1].disk_fill: needs disk_free (the volume's free space)"),
        ("disk_fill: 64KiB", "nodes[1].disk_fill: expected a size like 1024, 500MB or 1.5GiB"),
        ("paused: true", "folders[2].nodes.gui.paused: expected true or false, got 'yes'"),
        ("version: 3.1.2,", "nodes[1].build: expected an integer >= 0, got -1"),
    ],
)
def test_new_keys_are_validated_strictly(change: str, expected: str) -> None:
    replacement = {
        "api_key: false": "api_key: 'no'",
        "disk_free: 100MiB, ": "",
        "disk_fill: 64KiB": "disk_fill: lots",
        "paused: true": "paused: 'yes'",
        "version: 3.1.2,": "version: 3.1.2, build: -1,",
    }[change]
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(FLEET.replace(change, replacement), source="t.yaml")
    assert any(e.startswith(expected) for e in caught.value.errors), caught.value.errors


def test_pause_events_need_a_held_folder() -> None:
    bad = FLEET + "events:\n  - {at: 1m, event: pause, folder: data, node: nobody}\n"
    with pytest.raises(ScenarioError, match="no node named 'nobody'"):
        parse_scenario_text(bad, source="t.yaml")


# --- over HTTP ---------------------------------------------------------------------


FleetFactory = Callable[..., Awaitable[Fleet]]


async def test_gui_only_node_in_a_fleet(
    make_fleet: FleetFactory, http_session: aiohttp.ClientSession
) -> None:
    fleet = await make_fleet(parse_scenario_text(FLEET, source="t.yaml"))
    login, password = fleet.credentials("gui")
    api = ApiClient(http_session, fleet.nodes["gui"].url, login, password)
    reply = await api.call("get_folders")
    assert (reply.status, reply.body) == (400, b"invalid request")
    gui = GuiClient(http_session, fleet.nodes["gui"].url, login, password)
    await gui.mint()
    assert (await gui.ok("version"))["value"] == "3.1.2 (1076)"
    fleet.advance(40)
    folders = (await gui.ok("getsyncfolders", discovery="1"))["folders"]
    state = fleet.world.nodes["gui"]
    by_path = {f["path"]: f for f in folders}
    assert len(by_path) == len(state.folders) == 3
    for folder in state.folders.values():
        got = by_path[folder.dir]
        assert got["queue_download_size"] == folder.pending_down_bytes
        assert got["available_space"] == folder.available_space
        assert got["paused"] is folder.paused
        assert {p["id"]: p["isonline"] for p in got["peers"]} == {
            p.id: p.online for p in folder.peers.values()
        }
    (phone,) = [p for p in by_path["/data/data"]["peers"] if p["name"] == "phone"]
    assert phone["isonline"] is False
    assert phone["lastseentime"] > 0
    v1 = ApiClient(http_session, fleet.nodes["v1"].url, *fleet.credentials("v1"))
    assert (await v1.call("get_version")).status == 200  # a v1 node answers both
    both = GuiClient(http_session, fleet.nodes["v1"].url, *fleet.credentials("v1"))
    assert (await both.mint()).status == 200


def test_demo_mixes_both_kinds_of_node() -> None:
    demo = load_scenario("demo")
    kinds = {n.api_key for n in demo.nodes}
    assert kinds == {True, False}
    gui_nodes = [n for n in demo.nodes if not n.api_key]
    assert {n.version.split(".")[0] for n in gui_nodes} >= {"2", "3"}


def test_demo_gui_problems_and_their_timing() -> None:
    """The values docs/simulator.md promises for the demo's GUI nodes (alert rules use them)."""
    world = World(load_scenario("demo"))
    gib, mib = 1024**3, 1024**2
    projects = folder_of(world, "studio", "projects")
    music = folder_of(world, "cabin", "music")
    documents = folder_of(world, "cabin", "documents")
    assert projects.pending_down_bytes == 6 * gib - int(6 * gib * 0.3)
    assert music.paused
    assert music.pending_down_bytes == 11 * gib
    assert documents.available_space == 8 * gib
    world.advance(600)
    assert projects.pending_down_bytes == 6 * gib - int(6 * gib * 0.3)  # stalled for good
    assert documents.available_space == 8 * gib - 600 * 7 * mib
    world.advance(1171 - 600)
    assert documents.available_space == 0
    studio_free = folder_of(world, "studio", "music").available_space
    assert studio_free is not None
    assert studio_free > 2 * 1024 * gib * 0.99
    world.advance(1800 - 1171 + 1)
    (build_server,) = [p for p in documents.peers.values() if p.name == "build-server"]
    assert not build_server.online
    assert build_server.last_seen == int(world.started_at) + 1799
    assert music.paused
    assert music.pending_down_bytes == 11 * gib


async def test_simulate_banner_marks_gui_only_nodes(
    make_fleet: FleetFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync_exporter.simulator.cli import FleetOptions, _print_banner

    fleet = await make_fleet(parse_scenario_text(FLEET, source="t.yaml"))
    options = FleetOptions(None, 0, "t.yaml", 0, "127.0.0.1", False, 0.0, 3, 2, None)
    _print_banner(fleet, options)
    lines = {
        line.split()[1]: line for line in capsys.readouterr().out.splitlines() if "node " in line
    }
    assert lines["gui"].endswith("(no API key: web GUI API at /gui/ only)")
    assert "/gui/" not in lines["src"]
