"""/metrics and /probe tell the truth: every value equals the simulated nodes' state."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import defaultdict

import aiohttp
import pytest

from sync_exporter.logs import LogfmtFormatter
from sync_exporter.model import Outcome
from sync_exporter.selfmetrics import METHODS_BY_API
from sync_exporter.simulator.secrets import derive
from sync_exporter.simulator.state import FaultMode, FolderState
from tests.conftest import GUI_ONLY
from tests.server.conftest import Exposition, Harness, healthy


async def node_api(harness: Harness, name: str) -> str:
    """The API the exporter must read ``name`` through under ``auto``, asked of the node.

    A node whose API v1 answers 400 (no ``webui.api_key``) is read through the GUI API.
    """
    login, password = harness.fleet.credentials(name)
    url = f"{harness.fleet.nodes[name].url}/api"
    token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"method": "get_version"}, headers=headers) as response,
    ):
        return "gui" if response.status == 400 else "v1"


def _check_node(expo: Exposition, harness: Harness, name: str, api: str) -> None:
    state = harness.fleet.nodes[name].state
    gui = api == "gui"
    assert expo.value("btsync_up", node=name) == 1
    assert expo.value("btsync_node_info", node=name, version=state.version, os=state.os, api=api)
    assert expo.value("btsync_download_speed_bytes_per_second", node=name) == state.download_speed
    assert expo.value("btsync_upload_speed_bytes_per_second", node=name) == state.upload_speed
    folders = {f.dir: f for f in state.folders.values() if f.synclevel != 0}
    assert expo.label_values("btsync_folder_size_bytes", "folder", node=name) == set(folders)
    for path, folder in folders.items():
        key = {"node": name, "folder": path}
        assert expo.value("btsync_folder_size_bytes", **key) == folder.size
        assert expo.value("btsync_folder_files", **key) == folder.files
        assert expo.value("btsync_folder_error_code", **key) == folder.error
        assert expo.value("btsync_folder_indexing", **key) == (1 if folder.indexing else 0)
        (info,) = expo.find("btsync_folder_info", **key)
        assert info.labels["type"] == folder.type
        assert info.value == 1
        _check_gui_folder(expo, key, folder, gui=gui)
        listed = {i: p for i, p in folder.peers.items() if gui or p.online}
        for connection in ("direct", "relay"):
            want = sum(1 for p in listed.values() if p.connection == connection and p.online)
            assert expo.value("btsync_folder_peers", connection=connection, **key) == want
        assert expo.label_values("btsync_peer_info", "peer_id", **key) == set(listed)
        for peer_id, peer in listed.items():
            pkey = {**key, "peer_id": peer_id}
            labels = {**pkey, "name": peer.name, "connection": peer.connection}
            assert expo.value("btsync_peer_info", **labels) == 1
            assert expo.value("btsync_peer_last_synced_timestamp_seconds", **pkey) == peer.synced
            if gui:  # the GUI API has no byte counters, but knows who is online
                assert not expo.find("btsync_peer_download_bytes_total", **pkey)
                assert expo.value("btsync_peer_online", **pkey) == (1 if peer.online else 0)
                seen = peer.last_seen if not peer.online and peer.last_seen else None
                assert expo.value("btsync_peer_last_seen_timestamp_seconds", **pkey) == seen
            else:
                assert expo.value("btsync_peer_download_bytes_total", **pkey) == peer.download
                assert expo.value("btsync_peer_upload_bytes_total", **pkey) == peer.upload
                assert not expo.find("btsync_peer_online", **pkey)


def _check_gui_folder(
    expo: Exposition, key: dict[str, str], folder: FolderState, *, gui: bool
) -> None:
    """The GUI-only folder series: exact on a GUI node, absent on a v1 node."""
    if not gui:
        for name in (n for n in GUI_ONLY if n.startswith("btsync_folder_")):
            assert not expo.find(name, **key), name
        return
    for direction, size, files in (
        ("download", folder.pending_down_bytes, folder.pending_down_files),
        ("upload", folder.pending_up_bytes, folder.pending_up_files),
    ):
        assert expo.value("btsync_folder_pending_bytes", direction=direction, **key) == size
        assert expo.value("btsync_folder_pending_files", direction=direction, **key) == files
    assert expo.value("btsync_folder_paused", **key) == (1 if folder.paused else 0)
    if folder.available_space is not None:
        free = expo.value("btsync_folder_disk_free_bytes", **key)
        assert free == max(0, folder.available_space)


async def test_every_value_equals_the_simulator_state(harness: Harness) -> None:
    expo = await harness.metrics()
    up = healthy(harness.fleet)
    assert len(up) >= 2, "the scenario should have several healthy nodes"
    for name in harness.fleet.nodes:
        if name in up:
            _check_node(expo, harness, name, await node_api(harness, name))
        else:
            assert expo.value("btsync_up", node=name) == 0
            assert not expo.find("btsync_folder_size_bytes", node=name)


async def test_folder_id_is_equal_across_nodes_holding_the_same_folder(harness: Harness) -> None:
    expo = await harness.metrics()
    ids_by_shared_secret: dict[str, set[str]] = defaultdict(set)
    for name in healthy(harness.fleet):
        for folder in harness.fleet.nodes[name].state.folders.values():
            read_only = derive(folder.secret).read_only
            (info,) = expo.find("btsync_folder_info", node=name, folder=folder.dir)
            if read_only is not None:
                ids_by_shared_secret[read_only].add(info.labels["folder_id"])
    shared = [ids for ids in ids_by_shared_secret.values()]
    assert shared, "the scenario should have folders"
    assert all(len(ids) == 1 for ids in shared), ids_by_shared_secret
    all_ids = [next(iter(ids)) for ids in shared]
    assert len(set(all_ids)) == len(all_ids), "different folders must get different ids"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (FaultMode.DOWN, "connect_error"),
        (FaultMode.UNAUTHORIZED, "auth_error"),
        (FaultMode.SERVER_ERROR, "http_error"),
        (FaultMode.INVALID_JSON, "invalid_response"),
        (FaultMode.TRUNCATED, "invalid_response"),
    ],
)
async def test_a_fault_downs_only_that_node_and_is_counted_by_reason(
    harness: Harness, mode: FaultMode, reason: str
) -> None:
    up = healthy(harness.fleet)
    victim = up[0]
    await harness.fleet.set_fault(victim, mode)
    expo = await harness.metrics()
    assert expo.value("btsync_up", node=victim) == 0
    assert not expo.find("btsync_node_info", node=victim)
    for other in up[1:]:
        assert expo.value("btsync_up", node=other) == 1
    failures = expo.find("btsync_exporter_node_scrape_failures_total", node=victim)
    assert {s.labels["reason"]: s.value for s in failures if s.value} == {reason: 1}
    for other in up[1:]:
        assert all(
            s.value == 0
            for s in expo.find("btsync_exporter_node_scrape_failures_total", node=other)
        )


async def test_the_deadline_holds_with_a_node_that_never_answers(harness: Harness) -> None:
    up = healthy(harness.fleet)
    victim = up[0]
    await harness.fleet.set_fault(victim, FaultMode.HANG)
    started = time.monotonic()
    # Prometheus' timeout 1.5 s minus the default 0.5 s offset: 1 s for the nodes.
    expo = await harness.metrics(headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"answered after {elapsed:.2f}s, past Prometheus' timeout"
    assert expo.value("btsync_up", node=victim) == 0
    for other in up[1:]:
        assert expo.value("btsync_up", node=other) == 1
    assert expo.value("btsync_exporter_node_scrape_failures_total", node=victim, reason="timeout")
    duration = expo.value("btsync_scrape_duration_seconds", node=victim)
    assert duration is not None
    assert 0.9 <= duration < 1.5


async def test_a_removed_folder_or_peer_vanishes_at_the_next_scrape(harness: Harness) -> None:
    name, secret, peer_id = next(
        (n, s, next(iter(f.peers)))
        for n in healthy(harness.fleet)
        for s, f in harness.fleet.nodes[n].state.folders.items()
        if f.peers and len(harness.fleet.nodes[n].state.folders) >= 2
    )
    state = harness.fleet.nodes[name].state
    folder_with_peer = state.folders[secret]
    other_secret, other_folder = next((s, f) for s, f in state.folders.items() if s != secret)
    before = await harness.metrics()
    assert before.find("btsync_peer_info", node=name, peer_id=peer_id, folder=folder_with_peer.dir)
    assert before.find("btsync_folder_size_bytes", node=name, folder=other_folder.dir)

    del folder_with_peer.peers[peer_id]
    del state.folders[other_secret]
    after = await harness.metrics()

    for metric in (
        "btsync_peer_info",
        "btsync_peer_download_bytes_total",
        "btsync_peer_upload_bytes_total",
        "btsync_peer_last_synced_timestamp_seconds",
    ):
        assert not after.find(metric, node=name, folder=folder_with_peer.dir, peer_id=peer_id)
    assert not [s for s in after.samples if s.labels.get("folder") == other_folder.dir]
    assert after.value("btsync_folder_size_bytes", node=name, folder=folder_with_peer.dir) == (
        folder_with_peer.size
    )


async def test_probe_serves_one_node_without_self_metrics(harness: Harness) -> None:
    name = healthy(harness.fleet)[0]
    expo = await harness.metrics(f"/probe?target={name}")
    assert {s.labels["node"] for s in expo.samples} == {name}
    assert expo.value("btsync_up", node=name) == 1
    assert expo.value("btsync_scrape_duration_seconds", node=name) is not None
    assert not {n for n in expo.names() if n.startswith(("btsync_exporter_", "process_"))}
    _check_node(expo, harness, name, await node_api(harness, name))


async def test_probe_of_a_down_node_is_200_with_up_0(harness: Harness) -> None:
    name = healthy(harness.fleet)[0]
    await harness.fleet.set_fault(name, FaultMode.UNAUTHORIZED)
    expo = await harness.metrics(f"/probe?target={name}")
    assert expo.value("btsync_up", node=name) == 0
    assert expo.names() == {"btsync_up", "btsync_scrape_duration_seconds"}


async def test_concurrent_scrapes_share_one_set_of_api_calls(harness: Harness) -> None:
    up = healthy(harness.fleet)
    for name in up:  # slow answers (real seconds) so the two scrapes surely overlap
        await harness.fleet.set_fault(name, FaultMode.NONE, delay=0.2)
    first, second = await asyncio.gather(harness.metrics(), harness.metrics())
    assert [first.value("btsync_up", node=n) for n in up] == [1] * len(up)
    assert [second.value("btsync_up", node=n) for n in up] == [1] * len(up)
    expo = await harness.metrics()
    for name in up:
        # One fetch shared by the concurrent pair, one for this last scrape.
        method = "getstatuses" if await node_api(harness, name) == "gui" else "get_speed"
        calls = expo.value(
            "btsync_exporter_api_requests_total", node=name, method=method, outcome="success"
        )
        assert calls == 2


async def test_self_metrics_stay_small_per_node_and_start_at_zero(harness: Harness) -> None:
    # Sized for fleets: 14 self series per v1 node, 16 per GUI node under auto (it was
    # 161: every outcome of every method, and a histogram per node and method).
    # rate()/increase() still see a first failed scrape: every failure reason starts at 0.
    expo = await harness.metrics()
    requests = expo.find("btsync_exporter_api_requests_total", outcome="success")
    apis = {node: await node_api(harness, node) for node in healthy(harness.fleet)}
    used = {
        api: {s.labels["method"] for s in requests if s.value and apis.get(s.labels["node"]) == api}
        for api in set(apis.values())
    }
    assert {"get_folders", "get_folder_peers", "get_secrets", "get_folder_prefs"} <= used["v1"]
    reasons = {o.value for o in Outcome if o is not Outcome.SUCCESS}
    for node, api in apis.items():
        own = [s for s in expo.samples if s.name.startswith("btsync_exporter_")]
        mine = [s for s in own if s.labels.get("node") == node]
        # A GUI node under api: auto also keeps its v1 probe's api_disabled series.
        limit = 16 if api == "gui" else 14
        assert len(mine) <= limit, (node, len(mine))
        # Success counters for the methods of the API the node is read through, and
        # only those: a GUI node carries no v1 zeros (it carried seven).
        successes = expo.find("btsync_exporter_api_requests_total", node=node, outcome="success")
        assert {s.labels["method"] for s in successes} == set(METHODS_BY_API[api]), node
        failures = expo.find("btsync_exporter_node_scrape_failures_total", node=node)
        assert {s.labels["reason"] for s in failures} == reasons
        assert all(s.value == 0 for s in failures)
    # The zero-started methods are the ones a scrape really uses.
    assert used == {api: set(METHODS_BY_API[api]) for api in used}
    # The duration histogram is per method, whatever the fleet's size.
    buckets = expo.find("btsync_exporter_api_request_duration_seconds_bucket")
    assert buckets
    assert all(set(s.labels) == {"method", "le"} for s in buckets)


async def test_a_failed_request_gets_its_series_and_the_node_its_reason(harness: Harness) -> None:
    victim = healthy(harness.fleet)[0]
    await harness.metrics()
    await harness.fleet.set_fault(victim, FaultMode.UNAUTHORIZED)
    expo = await harness.metrics()
    failed = expo.find("btsync_exporter_api_requests_total", node=victim, outcome="auth_error")
    assert failed
    assert sum(s.value for s in failed) >= 1
    reason = "btsync_exporter_node_scrape_failures_total"
    assert expo.value(reason, node=victim, reason="auth_error") == 1


async def test_each_node_failure_logs_one_line_with_node_and_reason(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    up = healthy(harness.fleet)
    victim = up[0]
    await harness.fleet.set_fault(victim, FaultMode.UNAUTHORIZED)
    down = {victim} | {n for n in harness.fleet.nodes if n not in up}
    caplog.set_level(logging.INFO, logger="sync_exporter")
    await harness.metrics()
    lines = [
        LogfmtFormatter().format(r)
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("sync_exporter")
    ]
    assert len(lines) == len(down), lines
    for name in down:
        (line,) = [line for line in lines if f" node={name} " in line]
        assert "level=warn" in line
        assert " reason=" in line
    (line,) = [line for line in lines if f" node={victim} " in line]
    assert " reason=auth_error " in line
