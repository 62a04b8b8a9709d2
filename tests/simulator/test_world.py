"""The world's evolution: deterministic, and honest bookkeeping of every byte moved.

These drive :class:`World` directly with a ManualClock (no HTTP): the NodeStates are the
truth the API serves, so checking them here checks what every client will see.
"""

from __future__ import annotations

from typing import Any

import pytest

from sync_exporter.simulator import secrets
from sync_exporter.simulator.clock import ManualClock, WallClock
from sync_exporter.simulator.scenario import EventKind, EventSpec, Scenario, parse_scenario_text
from sync_exporter.simulator.scenario import load_scenario as load
from sync_exporter.simulator.state import FaultMode, FolderState, NodeState, PeerState
from sync_exporter.simulator.world import World, WorldError

MiB = 1024 * 1024

THREE_NODES = """
rate: 1MiB
nodes:
  - {name: src, device_name: Quellé}
  - {name: mid}
  - {name: far, relay: true}
folders:
  - name: data
    dir: /data
    size: 20MiB
    files: 200
    nodes:
      src: read_write
      mid: {mode: read_only, size: 25%}
      far: {mode: encrypted, size: 0}
"""


def scenario(text: str) -> Scenario:
    return parse_scenario_text(text, source="test.yaml")


def folder_of(world: World, node: str, name: str = "data") -> FolderState:
    return world.nodes[node].folders[world.secret_of(name, node)]


def peer(world: World, node: str, other: str, name: str = "data") -> PeerState:
    """Return ``node``'s view of ``other`` in folder ``name`` (by the other's device name)."""
    want = world.nodes[other].prefs["device_name"] if other in world.nodes else other
    (found,) = [p for p in folder_of(world, node, name).peers.values() if p.name == want]
    return found


def snapshot(world: World) -> dict[str, Any]:
    """Everything a client could observe, secrets included."""
    return {
        name: {
            "speed": (state.download_speed, state.upload_speed),
            "folders": {
                s: (f.as_api(), sorted(tuple(p.as_api().items()) for p in f.peers.values()))
                for s, f in state.folders.items()
            },
        }
        for name, state in world.nodes.items()
    }


def test_same_seed_same_world_whatever_the_step_sizes() -> None:
    one = World(load("demo"), seed=42)
    other = World(load("demo"), seed=42)
    assert snapshot(one) == snapshot(other)
    one.advance(600)
    for step in [0.5, 0.25, 0.25] * 2 + [1.0] * 598:
        other.advance(step)
    assert one.elapsed == other.elapsed == 600
    assert snapshot(one) == snapshot(other)


def test_one_long_advance_evolves_every_tick_like_short_ones() -> None:
    # Longer than the realtime catch-up limit: a manual advance must not skip ticks.
    one = World(load("demo"), seed=3)
    other = World(load("demo"), seed=3)
    one.advance(7200)
    other.advance(3600)
    other.advance(3600)
    assert snapshot(one) == snapshot(other)
    grown, _ = one.folder_total("photos")
    assert grown == 48 * 2**30 + 7200 * 256 * 1024  # the writer grew during all 7200 s


def test_different_seed_different_world() -> None:
    a, b = World(load("demo"), seed=1), World(load("demo"), seed=2)
    a.advance(300)
    b.advance(300)
    sa, sb = snapshot(a), snapshot(b)
    assert set(sa["nas"]["folders"]).isdisjoint(sb["nas"]["folders"])  # other secrets
    sizes_a = [f[0]["size"] for f in sa["laptop"]["folders"].values()]
    sizes_b = [f[0]["size"] for f in sb["laptop"]["folders"].values()]
    assert sizes_a != sizes_b  # transfer jitter comes from the seed too


def test_secrets_are_one_family_per_folder() -> None:
    world = World(scenario(THREE_NODES), seed=3)
    rw, ro, enc = (world.secret_of("data", n) for n in ("src", "mid", "far"))
    assert rw.startswith("D")  # an encrypted holder needs the encryption-capable family
    assert secrets.derive(rw).read_only == ro
    assert secrets.derive(ro).encryption == enc
    assert [folder_of(world, n).type for n in ("src", "mid", "far")] == [
        "read_write",
        "read_only",
        "encrypted",
    ]
    plain = World(scenario(THREE_NODES.replace("encrypted", "read_only")), seed=3)
    assert plain.secret_of("data", "src").startswith("A")


def test_peers_are_the_other_holders_with_stable_ids_and_names() -> None:
    world = World(scenario(THREE_NODES), seed=0)
    src_peers = folder_of(world, "src").peers.values()
    assert sorted((p.name, p.connection) for p in src_peers) == [
        ("far", "relay"),
        ("mid", "direct"),
    ]
    mid_view_of_src = peer(world, "mid", "src")
    far_view_of_src = peer(world, "far", "src")
    assert mid_view_of_src.id == far_view_of_src.id
    assert mid_view_of_src.name == "Quellé"
    assert far_view_of_src.connection == "relay"
    assert len(mid_view_of_src.id) == 28


def test_transfers_are_accounted_on_both_sides_and_sizes_converge() -> None:
    world = World(scenario(THREE_NODES), seed=5)
    total = 20 * MiB
    assert [folder_of(world, n).size for n in ("src", "mid", "far")] == [total, 5 * MiB, 0]
    assert [folder_of(world, n).files for n in ("src", "mid", "far")] == [200, 50, 0]
    assert peer(world, "mid", "src").synced == 0
    previous: dict[tuple[str, str], tuple[int, int]] = {}
    caught_up_at: dict[str, float] = {}
    for _ in range(60):
        world.advance(1)
        for a in ("src", "mid", "far"):
            for b in ("src", "mid", "far"):
                if a == b:
                    continue
                down, up = peer(world, a, b).download, peer(world, b, a).upload
                assert down == up  # every byte received by a from b was sent by b to a
                before = previous.get((a, b), (0, 0))
                assert down >= before[0]  # counters never go back
                assert peer(world, a, b).upload >= before[1]
                previous[(a, b)] = (down, peer(world, a, b).upload)
        for n in ("mid", "far"):
            if folder_of(world, n).size == total and n not in caught_up_at:
                caught_up_at[n] = world.now
    # Everybody converged to the complete folder, files included.
    assert [folder_of(world, n).size for n in ("src", "mid", "far")] == [total] * 3
    assert [folder_of(world, n).files for n in ("src", "mid", "far")] == [200] * 3
    # What the two lagging nodes received adds up to what they lacked.
    received = {
        n: sum(p.download for p in folder_of(world, n).peers.values()) for n in ("mid", "far")
    }
    assert received == {"mid": 15 * MiB, "far": total}
    # synced: set when both are complete, and kept current while they stay so.
    assert peer(world, "mid", "src").synced == int(world.now)
    assert set(caught_up_at) == {"mid", "far"}
    # Nothing moves any more: speeds drop to zero.
    assert [(s.download_speed, s.upload_speed) for s in world.nodes.values()] == [(0, 0)] * 3


def test_speeds_follow_the_bytes_of_the_last_tick() -> None:
    world = World(scenario(THREE_NODES), seed=5)
    before = {n: (folder_of(world, n).size) for n in ("mid", "far")}
    world.advance(1)
    got = {n: folder_of(world, n).size - before[n] for n in ("mid", "far")}
    assert world.nodes["mid"].download_speed == got["mid"]
    assert world.nodes["far"].download_speed == got["far"]
    sent = sum(got.values())
    assert sum(s.upload_speed for s in world.nodes.values()) == sent
    assert 0.75 * MiB <= got["mid"] <= 1.25 * MiB  # the configured rate, with jitter


def test_growth_on_a_writer_makes_the_others_lag_then_catch_up() -> None:
    world = World(
        scenario(
            """
rate: 100KiB
nodes: [{name: w}, {name: r}]
folders:
  - name: data
    size: 1MiB
    files: 10
    nodes:
      w: {mode: read_write, growth: {bytes_per_second: 200KiB, files_per_hour: 3600}}
      r: read_only
"""
        )
    )
    world.advance(10)
    total, files = world.folder_total("data")
    assert total == MiB + 10 * 200 * 1024
    assert files == 20
    assert folder_of(world, "w").size == total
    assert folder_of(world, "r").size < total  # the reader cannot keep up at 100 KiB/s
    assert not world.in_sync("data")


def test_indexing_runs_then_finishes_and_stuck_indexing_freezes() -> None:
    world = World(
        scenario(
            """
nodes: [{name: a}, {name: b}]
folders:
  - name: data
    size: 10MiB
    files: 100
    index_rate: 4MiB
    nodes:
      a: {mode: read_write, indexing: running}
      b: {mode: read_only, indexing: stuck, size: 50%}
"""
        )
    )
    a, b = folder_of(world, "a"), folder_of(world, "b")
    assert (a.indexing, a.size, a.files) == (True, 0, 0)
    assert (b.indexing, b.size, b.files) == (True, 5 * MiB, 50)
    world.advance(1)
    assert (a.indexing, a.size, a.files) == (True, 4 * MiB, 40)
    world.advance(2)
    assert (a.indexing, a.size, a.files) == (False, 10 * MiB, 100)
    world.advance(600)
    assert (b.indexing, b.size, b.files) == (True, 5 * MiB, 50)  # stuck: nothing moves
    assert peer(world, "b", "a").download == 0
    world.set_indexing(("data", "b"), "done")
    world.advance(30)
    assert (b.indexing, b.size) == (False, 10 * MiB)


def test_stall_keeps_peers_connected_and_sizes_apart() -> None:
    world = World(load("demo"))
    sizes = {
        n: world.nodes[n].folders[world.secret_of("projects", n)].size
        for n in ("office", "nas", "laptop")
    }
    assert len(set(sizes.values())) == 3
    counters = snapshot(world)
    world.advance(3600)
    assert world.is_stalled("projects")
    for n in sizes:
        folder = world.nodes[n].folders[world.secret_of("projects", n)]
        assert folder.size == sizes[n]
        assert len(folder.peers) == 3  # the two others and studio
        assert all(p.synced == 0 for p in folder.peers.values())
    after = snapshot(world)
    for n in sizes:
        secret = world.secret_of("projects", n)
        assert after[n]["folders"][secret][1] == counters[n]["folders"][secret][1]
    world.apply(EventSpec(0, EventKind.RESUME, folder="projects"))
    world.advance(3600)
    assert world.in_sync("projects")


def test_folder_error_stops_the_copy_moving() -> None:
    world = World(scenario(THREE_NODES))
    world.apply(EventSpec(0, EventKind.FOLDER_ERROR, folder="data", node="mid", code=101))
    world.advance(60)
    mid = folder_of(world, "mid")
    assert (mid.error, mid.size) == (101, 5 * MiB)
    assert folder_of(world, "far").size == 20 * MiB
    assert len(mid.peers) == 2  # still connected


def test_a_down_node_drops_out_of_everyone_s_peers_and_comes_back() -> None:
    world = World(scenario(THREE_NODES))
    changes: list[tuple[str, bool]] = []
    world.on_listener_change = lambda name, down: changes.append((name, down))
    world.apply(EventSpec(0, EventKind.NODE_DOWN, node="mid"))
    world.advance(5)
    assert changes == [("mid", True)]
    assert [p.name for p in folder_of(world, "src").peers.values()] == ["far"]
    frozen = folder_of(world, "mid").size
    world.advance(5)
    assert folder_of(world, "mid").size == frozen
    link = peer(world, "far", "src")
    world.apply(EventSpec(0, EventKind.NODE_UP, node="mid"))
    world.advance(1)
    assert changes == [("mid", True), ("mid", False)]
    assert sorted(p.name for p in folder_of(world, "src").peers.values()) == ["far", "mid"]
    assert peer(world, "far", "src") is link  # the same counters, kept across the outage


def test_external_peers_join_and_leave_on_time_keeping_their_counters() -> None:
    world = World(
        scenario(
            """
nodes: [{name: a}]
folders:
  - name: data
    size: 1MiB
    nodes: {a: {mode: read_write, size: 0}}
    peers: [{name: phone, connection: relay, joins_at: 10s, leaves_at: 11s}]
events:
  - {at: 20s, event: peer_join, folder: data, peer: phone}
"""
        )
    )
    assert folder_of(world, "a").peers == {}
    world.advance(10)
    (phone,) = folder_of(world, "a").peers.values()
    assert (phone.name, phone.connection) == ("phone", "relay")
    got = phone.download
    assert got > 0  # the phone holds the whole folder; a fetches from it
    world.advance(1)
    assert folder_of(world, "a").peers == {}
    world.advance(9)
    (again,) = folder_of(world, "a").peers.values()
    assert again.id == phone.id
    assert again.download >= got


def test_remove_folder_event_and_removal_through_the_api_state() -> None:
    world = World(scenario(THREE_NODES))
    world.apply(EventSpec(0, EventKind.REMOVE_FOLDER, folder="data", node="far"))
    world.advance(1)
    assert world.secret_of("data", "far") not in world.nodes["far"].folders
    assert [p.name for p in folder_of(world, "src").peers.values()] == ["mid"]


def fault_of(state: NodeState) -> FaultMode:
    """Read the current fault mode (a call, so the type checker does not pin it)."""
    return state.faults.mode


def test_scheduled_events_fire_when_their_time_comes() -> None:
    world = World(load("timeline"))
    beta = world.nodes["beta"]
    world.advance(59)
    assert beta.faults.delay == 0
    world.advance(1)
    assert beta.faults.delay == 0.2
    world.advance(60)
    assert fault_of(beta) is FaultMode.UNAUTHORIZED
    world.advance(120)
    assert fault_of(beta) is FaultMode.INVALID_JSON
    assert beta.faults.methods == {"get_folders"}
    world.advance(180)
    assert fault_of(beta) is FaultMode.DOWN


def test_demo_world_shows_every_problem() -> None:
    world = World(load("demo"))
    world.advance(120)
    assert world.nodes["pi"].faults.mode is FaultMode.DOWN
    backup = world.nodes["office"].folders[world.secret_of("backup", "office")]
    assert backup.error == 101
    music = world.nodes["laptop"].folders[world.secret_of("music", "laptop")]
    assert music.indexing
    photos = world.nodes["nas"].folders[world.secret_of("photos", "nas")]
    assert any(p.connection == "relay" for p in photos.peers.values())
    assert not world.in_sync("projects")
    assert world.in_sync("photos")


def test_healthy_world_is_in_sync_and_stays_so() -> None:
    world = World(load("healthy"))
    world.advance(1800)
    for name in world.folder_names():
        assert world.in_sync(name), name
    for state in world.nodes.values():
        assert state.faults.mode is FaultMode.NONE
        for folder in state.folders.values():
            assert (folder.error, folder.indexing) == (0, False)
            assert all(p.synced == int(world.now) for p in folder.peers.values() if p.online)


def test_advance_needs_a_manual_clock_and_sane_seconds() -> None:
    world = World(scenario(THREE_NODES), clock=WallClock())
    with pytest.raises(WorldError, match="needs a ManualClock"):
        world.advance(1)
    manual = World(scenario(THREE_NODES), clock=ManualClock())
    with pytest.raises(WorldError, match="finite number >= 0"):
        manual.advance(-1)
    with pytest.raises(WorldError, match="no node named 'zz'"):
        manual.set_fault("zz", FaultMode.DOWN)
    with pytest.raises(WorldError, match="no node named 'zz'"):
        manual.expire_gui_sessions("zz")


def test_summary_has_no_secret() -> None:
    world = World(load("demo"))
    world.advance(30)
    text = repr(world.summary())
    for state in world.nodes.values():
        for secret in state.folders:
            for kin in secrets.derive(secret).as_api().values():
                assert kin not in text
