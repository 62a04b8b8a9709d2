"""Rendering a node read through the web GUI API: one contract, what each API can tell.

A GUI node gets the GUI-only series (queues, pause, free space, online peers, last seen)
and none of the per-peer byte counters it cannot report; a v1 node gets none of the
GUI-only series. Both pass promtool's lint together.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from sync_exporter.metrics import render
from sync_exporter.model import FolderSnapshot, GuiFolderState, NodeSnapshot, PeerSnapshot
from tests.conftest import GUI_ONLY
from tests.server.conftest import Exposition


def _peer(peer_id: str, *, online: bool | None, seen: float | None = None) -> PeerSnapshot:
    counters = None if online is not None else 100
    return PeerSnapshot(
        peer_id, f"name-{peer_id}", "direct", 1.7e9, counters, counters, online, seen
    )


GUI_NODE = NodeSnapshot(
    node="resilio",
    up=True,
    duration_seconds=0.01,
    version="3.1.2",
    os="Linux",
    download_speed=10,
    upload_speed=20,
    api="gui",
    folders=(
        FolderSnapshot(
            folder="/data/photos",
            dir="/data/photos",
            folder_id="abc123abc123",
            type="read_write",
            size_bytes=5000,
            files=50,
            error_code=0,
            indexing=False,
            peers=(
                _peer("P1", online=True),
                _peer("P2", online=False, seen=1.7e9 + 60),
                PeerSnapshot("P3", "relayed", "relay", 0.0, None, None, True, None),
            ),
            selective=False,
            gui=GuiFolderState(
                pending_download_bytes=4096,
                pending_download_files=2,
                pending_upload_bytes=0,
                pending_upload_files=0,
                paused=True,
                disk_free_bytes=123456789,
            ),
        ),
    ),
)

V1_NODE = NodeSnapshot(
    node="classic",
    up=True,
    duration_seconds=0.01,
    version="1.4.111",
    os="linux",
    api="v1",
    folders=(
        FolderSnapshot(
            folder="/srv/photos",
            dir="/srv/photos",
            folder_id="abc123abc123",
            type="read_only",
            size_bytes=5000,
            files=50,
            error_code=0,
            indexing=False,
            peers=(_peer("P9", online=None),),
        ),
    ),
)


def _exposition(*nodes: NodeSnapshot) -> str:
    class Snapshots(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            return render(nodes)

    registry = CollectorRegistry()
    registry.register(Snapshots())
    return generate_latest(registry).decode()


def test_gui_node_series() -> None:
    expo = Exposition(_exposition(GUI_NODE))
    folder = {"node": "resilio", "folder": "/data/photos"}
    assert expo.value("btsync_node_info", node="resilio", version="3.1.2", os="Linux", api="gui")
    assert expo.value("btsync_folder_pending_bytes", **folder, direction="download") == 4096
    assert expo.value("btsync_folder_pending_bytes", **folder, direction="upload") == 0
    assert expo.value("btsync_folder_pending_files", **folder, direction="download") == 2
    assert expo.value("btsync_folder_pending_files", **folder, direction="upload") == 0
    assert expo.value("btsync_folder_paused", **folder) == 1
    assert expo.value("btsync_folder_disk_free_bytes", **folder) == 123456789
    # Online peers only, by connection: P1 direct, P3 relay; P2 is offline.
    assert expo.value("btsync_folder_peers", **folder, connection="direct") == 1
    assert expo.value("btsync_folder_peers", **folder, connection="relay") == 1
    assert expo.value("btsync_peer_online", **folder, peer_id="P1") == 1
    assert expo.value("btsync_peer_online", **folder, peer_id="P2") == 0
    assert expo.value("btsync_peer_last_seen_timestamp_seconds", **folder, peer_id="P2") == (
        1.7e9 + 60
    )
    assert not expo.find("btsync_peer_last_seen_timestamp_seconds", peer_id="P1")
    assert len(expo.find("btsync_peer_info")) == 3  # offline peers are listed too
    assert "btsync_peer_download_bytes_total" not in expo.names()
    assert "btsync_peer_upload_bytes_total" not in expo.names()


def test_v1_node_has_no_gui_only_series() -> None:
    expo = Exposition(_exposition(V1_NODE))
    assert not GUI_ONLY & expo.names()
    assert expo.value("btsync_node_info", node="classic", version="1.4.111", os="linux", api="v1")
    [counter] = expo.find("btsync_peer_download_bytes_total", peer_id="P9")
    assert counter.value == 100
    [direct] = expo.find("btsync_folder_peers", connection="direct", node="classic")
    assert direct.value == 1


def test_unknown_free_space_has_no_series() -> None:
    [folder] = GUI_NODE.folders
    assert folder.gui is not None
    blind = GuiFolderState(0, 0, 0, 0, paused=False, disk_free_bytes=None)
    node = NodeSnapshot(
        node="resilio",
        up=True,
        duration_seconds=0.0,
        api="gui",
        folders=(replace(folder, gui=blind),),
    )
    expo = Exposition(_exposition(node))
    assert "btsync_folder_disk_free_bytes" not in expo.names()
    [paused] = expo.find("btsync_folder_paused", node="resilio")
    assert paused.value == 0


async def test_promtool_accepts_both_apis_together(promtool: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        str(promtool),
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate(_exposition(GUI_NODE, V1_NODE).encode())
    assert output.decode() == ""
    assert process.returncode == 0
