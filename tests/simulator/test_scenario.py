"""Scenario files: what a valid one means, and the exact message every mistake gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_exporter.document import DURATION_HINT
from sync_exporter.simulator.scenario import (
    EventKind,
    ScenarioError,
    bundled_scenarios,
    load_scenario,
    parse_duration,
    parse_scenario_text,
    parse_size,
    synthetic_scenario,
)

MINIMAL = """
nodes:
  - name: a
  - name: b
folders:
  - name: f
    size: 1MiB
    nodes: {a: read_write, b: read_only}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, source="test.yaml")
    return info.value.errors


def test_minimal_scenario_gets_documented_defaults() -> None:
    scenario = parse_scenario_text(MINIMAL, source="mini.yaml")
    assert scenario.name == "mini"
    a = scenario.node("a")
    assert a is not None
    assert (a.device_name, a.version, a.os, a.login, a.password) == (
        "a",
        "1.4.111",
        "linux",
        "api",
        "secret",
    )
    folder = scenario.folder("f")
    assert folder is not None
    assert folder.size == 1024 * 1024
    assert folder.rate == 4 * 1024 * 1024
    assert [(h.node, h.mode, h.dir, h.size) for h in folder.holders] == [
        ("a", "read_write", "/data/f", 1048576),
        ("b", "read_only", "/data/f", 1048576),
    ]
    assert not folder.encryption


def test_holder_details_percentages_and_encryption() -> None:
    scenario = parse_scenario_text(
        """
rate: 1MB
nodes: [{name: a, relay: true, login: null}, {name: b}, {name: c}]
folders:
  - name: f
    dir: /x
    size: 1000
    files: 10
    nodes:
      a: {mode: read_write, growth: {bytes_per_second: 1KiB, files_per_hour: 6}}
      b: {mode: read_only, size: 40%, dir: 'C:\\x', selective_sync: true}
      c: {mode: encrypted, indexing: stuck, error: 101}
    peers:
      - {name: phone, connection: relay, joins_at: 1m, leaves_at: 1h30m, nodes: [a]}
events:
  - {at: 90s, event: node_down, node: b}
  - {at: 30, event: slow, node: a, delay: 0.5}
"""
    )
    folder = scenario.folder("f")
    assert folder is not None
    assert folder.encryption
    a, b, c = folder.holders
    assert a.growth is not None
    assert a.growth.bytes_per_second == 1024
    assert (b.size, b.files, b.dir, b.selective_sync) == (400, 4, "C:\\x", True)
    assert (c.mode, c.indexing, c.error) == ("encrypted", "stuck", 101)
    assert folder.rate == 1_000_000
    (phone,) = folder.peers
    assert (phone.connection, phone.joins_at, phone.leaves_at, phone.nodes) == (
        "relay",
        60.0,
        5400.0,
        ("a",),
    )
    node_a = scenario.node("a")
    assert node_a is not None
    assert node_a.relay
    assert node_a.login is None
    # Events come out in time order, whatever the file order.
    assert [(e.at, e.kind) for e in scenario.events] == [
        (30.0, EventKind.SLOW),
        (90.0, EventKind.NODE_DOWN),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "nodes: [{name: a, colour: red}]",
            [
                "nodes[0].colour: unknown key (allowed: "
                "name, device_name, version, os, login, password, down, relay, api_key, build, "
                "disk_free, disk_fill)"
            ],
        ),
        (
            "nodes: [{name: a}]\nfolder: []",
            ["folder: unknown key (did you mean folders?)"],
        ),
        ("nodes: [{name: a}, {name: a}]", ["nodes[1].name: duplicate node name 'a'"]),
        ("nodes: [{version: 1}]", ["nodes[0].name: required"]),
        ("nodes: {a: 1}", ["nodes: expected a list, got a mapping"]),
        ("- 1", ["test.yaml: expected a mapping at the top level, got a list"]),
        (
            "nodes: [{name: a, down: yes please}]",
            ["nodes[0].down: expected true or false, got 'yes please'"],
        ),
        (
            "nodes: [{name: a}]\nfolders: [{name: f, size: 3 parsecs, nodes: {a: rw}}]",
            [
                "folders[0].size: expected a size like 1024, 500MB or 1.5GiB, got '3 parsecs'",
                "folders[0].nodes.a.mode: must be one of read_write, read_only, encrypted, "
                "got 'rw'",
            ],
        ),
        (
            "nodes: [{name: a}]\nfolders: [{name: f, nodes: {z: read_write}}]",
            ["folders[0].nodes.z: no node named 'z' in nodes"],
        ),
        (
            "nodes: [{name: a}]\nfolders: [{name: f, size: 10, nodes: {a: {mode: read_only, "
            "size: 20, files: 3, growth: {bytes_per_second: 1}}}}]",
            [
                "folders[0].nodes.a.size: larger than the folder (10 bytes)",
                "folders[0].nodes.a.files: more than the folder (1 files)",
                "folders[0].nodes.a.growth: only a read_write node can write, not read_only",
            ],
        ),
        (
            "nodes: [{name: a}]\nfolders: [{name: f, size: 10, nodes: {a: {mode: read_write, "
            "size: 120%, indexing: maybe}}}]",
            [
                "folders[0].nodes.a.size: a percentage must be between 0% and 100%, got '120%'",
                "folders[0].nodes.a.indexing: must be one of no, running, stuck, got 'maybe'",
            ],
        ),
        (
            "nodes: [{name: a}, {name: b}]\nfolders: [{name: f, nodes: {a: read_write}, "
            "peers: [{name: p, nodes: [b], joins_at: 2m, leaves_at: 1m, connection: lan}]}]",
            [
                "folders[0].peers[0].nodes: 'b' does not hold this folder",
                "folders[0].peers[0].leaves_at: must be later than joins_at",
                "folders[0].peers[0].connection: must be one of direct, relay, got 'lan'",
            ],
        ),
        (
            "nodes: [{name: a}]\nevents: [{at: 1m, event: explode, node: a}]",
            [
                "events[0].event: unknown event 'explode' (one of: node_down, node_up, slow, "
                "hang, unauthorized, server_error, invalid_json, truncated, clear, "
                "folder_error, indexing_stuck, indexing_done, stall, resume, peer_join, "
                "peer_leave, remove_folder, pause, unpause, expire_sessions)"
            ],
        ),
        (
            "nodes: [{name: a}]\nevents: [{at: soon, event: node_down, node: b, code: 1}]",
            [
                "events[0].code: unknown key (did you mean node?)",
                f'events[0].at: "soon" is not a duration: {DURATION_HINT}',
                "events[0].node: no node named 'b' in nodes",
            ],
        ),
        (
            "nodes: [{name: a}]\nevents: [{event: slow, node: a}]",
            [
                "events[0].at: required",
                "events[0].delay: required",
                "events[0].delay: must be > 0 seconds",
            ],
        ),
        (
            "nodes: [{name: a}, {name: b}]\nfolders: [{name: f, nodes: {a: read_write}}]\n"
            "events: [{at: 0, event: folder_error, folder: f, node: b, code: -1},"
            " {at: 0, event: peer_join, folder: f, peer: ghost}, {at: 0, event: stall, folder: g}]",
            [
                "events[0].code: expected an integer >= 0, got -1",
                "events[0].node: 'b' does not hold 'f'",
                "events[1].peer: no peer named 'ghost' in 'f'",
                "events[2].folder: no folder named 'g' in folders",
            ],
        ),
    ],
)
def test_invalid_scenarios_name_the_key_path(text: str, expected: list[str]) -> None:
    assert errors_of(text) == expected


def test_duplicate_keys_and_broken_yaml_are_refused_with_a_position() -> None:
    assert errors_of("nodes: [{name: a}]\nnodes: [{name: b}]") == [
        "nodes: duplicate key (line 1 and line 2)"
    ]
    (message,) = errors_of("nodes: [{name: a}\n")
    assert message.startswith("line 2, column 1: inside a [...] list: ")
    with pytest.raises(ScenarioError, match=r"^test\.yaml: line 2, column 1: inside a "):
        parse_scenario_text("nodes: [{name: a}\n", source="test.yaml")


def test_every_mistake_is_reported_at_once() -> None:
    errors = errors_of(
        "nodes: [{name: a, os: 3}, {name: a}]\nfolders: [{nodes: {a: x}}]\nevents: 7\n"
    )
    assert errors == [
        "nodes[0].os: expected a non-empty string, got an integer",
        "nodes[1].name: duplicate node name 'a'",
        "folders[0].name: required",
        "folders[0].nodes.a.mode: must be one of read_write, read_only, encrypted, got 'x'",
        "events: expected a list, got an integer",
    ]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (0, 0),
        (1024, 1024),
        ("1KiB", 1024),
        ("1.5 GiB", 1610612736),
        ("500MB", 500_000_000),
        ("7b", 7),
    ],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", [True, "1 KiBi", "", "1e3", None, 2.5])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError, match=r"expected a size like 1024, 500MB or 1\.5GiB"):
        parse_size(text)


def test_negative_size() -> None:
    with pytest.raises(ValueError, match="must be >= 0, got -1"):
        parse_size(-1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1d", 86400.0),
        ("90", 90.0),
        ("0s", 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m5", "1h 30m", True, -3, float("nan")])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration|must be a duration|must be a finite"):
        parse_duration(text)


def test_load_by_bundled_name_by_path_and_unknown(tmp_path: Path) -> None:
    assert {"demo", "healthy", "timeline"} <= set(bundled_scenarios())
    for name in bundled_scenarios():
        assert load_scenario(name).name == name
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_scenario(path).name == "mine"
    assert load_scenario(str(path)).name == "mine"
    with pytest.raises(ScenarioError) as info:
        load_scenario("nope")
    assert info.value.errors == [
        "unknown scenario 'nope': not a .yaml file, and not a bundled one "
        f"({', '.join(bundled_scenarios())})"
    ]
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read: No such file"):
        load_scenario(missing)


def test_demo_declares_every_problem_the_demo_must_show() -> None:
    demo = load_scenario("demo")
    assert 4 <= len(demo.nodes) <= 7
    modes = {h.mode for f in demo.folders for h in f.holders}
    assert modes == {"read_write", "read_only", "encrypted"}
    assert any(p.connection == "relay" for f in demo.folders for p in f.peers)
    assert any(h.error == 101 for f in demo.folders for h in f.holders)
    assert any(h.indexing == "stuck" for f in demo.folders for h in f.holders)
    stalled = [f for f in demo.folders if f.stalled]
    assert stalled
    assert any(h.size < stalled[0].size for h in stalled[0].holders)
    assert any(n.down for n in demo.nodes)
    names = [h.dir for f in demo.folders for h in f.holders] + [
        p.name for f in demo.folders for p in f.peers
    ]
    assert any(not name.isascii() for name in names)


def test_healthy_is_the_demo_fleet_without_faults() -> None:
    demo, healthy = load_scenario("demo"), load_scenario("healthy")
    assert [(n.name, n.device_name, n.os, n.relay) for n in healthy.nodes] == [
        (n.name, n.device_name, n.os, n.relay) for n in demo.nodes
    ]
    assert not any(n.down for n in healthy.nodes)
    for d, h in zip(demo.folders, healthy.folders, strict=True):
        assert (h.name, h.size, h.files, h.peers) == (d.name, d.size, d.files, d.peers)
        assert [(x.node, x.mode, x.dir, x.growth) for x in h.holders] == [
            (x.node, x.mode, x.dir, x.growth) for x in d.holders
        ]
        assert not h.stalled
        for holder in h.holders:
            assert (holder.size, holder.error, holder.indexing) == (h.size, 0, "no")
            assert not holder.paused
    assert [n.api_key for n in healthy.nodes] == [n.api_key for n in demo.nodes]
    assert not any(n.disk_fill for n in healthy.nodes)
    assert healthy.events == ()


def test_synthetic_shape() -> None:
    scenario = synthetic_scenario(nodes=5, folders=3, peers=2, seed=1)
    assert [n.name for n in scenario.nodes] == ["node-0", "node-1", "node-2", "node-3", "node-4"]
    per_node = {n.name: 0 for n in scenario.nodes}
    for folder in scenario.folders:
        for holder in folder.holders:
            per_node[holder.node] += 1
        # group members + external peers = peers for every copy
        assert len(folder.holders) - 1 + len(folder.peers) == 2
        assert sum(h.mode == "read_write" for h in folder.holders) == 1
    assert set(per_node.values()) == {3}
    assert synthetic_scenario(nodes=5, folders=3, peers=2, seed=1) == scenario
    assert synthetic_scenario(nodes=5, folders=3, peers=2, seed=2) != scenario
