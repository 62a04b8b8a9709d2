"""The metric contract in one table, and the rendering of snapshots into metric families.

Every metric the exporter can emit is declared once in :data:`METRICS`: its name, type,
help text (naming the Sync API field it comes from) and label names. The renderer, the
self-metrics and ``docs/metrics.md`` all read that table, so the documentation cannot
drift from the code (a test regenerates the page and fails when it differs).

Rendering is pure: :func:`render` turns the frozen snapshots of *this* scrape into fresh
prometheus_client families. It is the reference for which series exist when: the
server's fast renderer (``sync_exporter.exposition``) writes the same exposition without
building families, and the tests hold the two equal. Nothing is remembered between
scrapes, so a node, folder or peer that is gone simply yields no series, and Prometheus
marks the old ones stale at once. No sample carries a timestamp, for the same reason.

Sample output (text format)::

    # HELP btsync_up 1 if the node's API answered this scrape, else 0.
    # TYPE btsync_up gauge
    btsync_up{node="nas"} 1.0
    # HELP btsync_folder_peers Connected peers of the folder by connection type (get_folder_peers).
    # TYPE btsync_folder_peers gauge
    btsync_folder_peers{connection="direct",folder="/volume1/Backup",node="nas"} 2.0
    btsync_folder_peers{connection="relay",folder="/volume1/Backup",node="nas"} 0.0

``docs/metrics.md`` and the README's table are written from :data:`METRICS` by
:mod:`sync_exporter.metrics_docs` (``python -m sync_exporter.metrics docs/metrics.md
README.md``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from sync_exporter.model import FolderSnapshot, NodeSnapshot, Outcome

_log = logging.getLogger(__name__)

MetricType = Literal["gauge", "counter", "histogram"]
Scope = Literal["node", "folder", "peer", "exporter"]

#: Connection types that always get a ``btsync_folder_peers`` series, even at zero.
CONNECTIONS: tuple[str, ...] = ("direct", "relay")


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric of the contract.

    ``name`` is the full exposed name (counters include ``_total``); ``scope`` says which
    part of a snapshot the metric describes and groups the documentation.
    """

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    scope: Scope

    def family(self) -> Metric:
        """Return a new, empty family for this metric, ready for ``add_metric``."""
        labels = list(self.labels)
        if self.type == "counter":
            return CounterMetricFamily(self.name, self.help, labels=labels)
        if self.type == "histogram":
            return HistogramMetricFamily(self.name, self.help, labels=labels)
        return GaugeMetricFamily(self.name, self.help, labels=labels)


def _m(name: str, type_: MetricType, help_: str, labels: str, scope: Scope) -> MetricDef:
    return MetricDef(name, type_, help_, tuple(labels.split()), scope)


#: The whole metric contract (docs/metrics.md) plus the exporter's self-metrics.
METRICS: tuple[MetricDef, ...] = (
    # -- per node
    _m("btsync_up", "gauge", "1 if the node's API answered this scrape, else 0.", "node", "node"),
    _m(
        "btsync_scrape_duration_seconds",
        "gauge",
        "Wall time spent scraping the node's API this scrape.",
        "node",
        "node",
    ),
    _m(
        "btsync_node_info",
        "gauge",
        "Always 1; the node's version (get_version.version, or the GUI's version without "
        "the build), OS (get_os.os, or getsysteminfo.os) and the API it was read through "
        "(api: v1 or gui).",
        "node version os api",
        "node",
    ),
    _m(
        "btsync_download_speed_bytes_per_second",
        "gauge",
        "Current download speed of the node (get_speed.download).",
        "node",
        "node",
    ),
    _m(
        "btsync_upload_speed_bytes_per_second",
        "gauge",
        "Current upload speed of the node (get_speed.upload).",
        "node",
        "node",
    ),
    # -- per folder
    _m(
        "btsync_folder_info",
        "gauge",
        "Always 1; folder_id is a short hash of the weakest secret every holder can derive "
        "(get_secrets: encryption, else read_only), equal on every node that holds the "
        "folder; type is get_folders.type; selective is get_folder_prefs.selective_sync "
        "(true, false, or unknown when the node does not say).",
        "node folder folder_id type selective",
        "folder",
    ),
    _m(
        "btsync_folder_size_bytes",
        "gauge",
        "Size of the folder on this node (get_folders.size).",
        "node folder",
        "folder",
    ),
    _m(
        "btsync_folder_files",
        "gauge",
        "Number of files in the folder on this node (get_folders.files).",
        "node folder",
        "folder",
    ),
    _m(
        "btsync_folder_error_code",
        "gauge",
        "Folder error code (get_folders.error); 0 means no error.",
        "node folder",
        "folder",
    ),
    _m(
        "btsync_folder_indexing",
        "gauge",
        "1 while the node is indexing the folder (get_folders.indexing).",
        "node folder",
        "folder",
    ),
    _m(
        "btsync_folder_peers",
        "gauge",
        "Connected (online) peers of the folder by connection type (get_folder_peers."
        "connection, or the GUI's peers[].direct); direct and relay are always present. "
        "Absent when get_folder_peers failed.",
        "node folder connection",
        "folder",
    ),
    # -- per folder, web GUI API only
    _m(
        "btsync_folder_pending_bytes",
        "gauge",
        "Bytes queued for transfer by direction (GUI queue_download_size, "
        "queue_upload_size). Only for nodes read through the web GUI API.",
        "node folder direction",
        "folder",
    ),
    _m(
        "btsync_folder_pending_files",
        "gauge",
        "Files queued for transfer by direction (GUI queue_download_files, "
        "queue_upload_files). Only for nodes read through the web GUI API.",
        "node folder direction",
        "folder",
    ),
    _m(
        "btsync_folder_paused",
        "gauge",
        "1 while the folder is paused on this node (GUI paused). Only for nodes read "
        "through the web GUI API.",
        "node folder",
        "folder",
    ),
    _m(
        "btsync_folder_disk_free_bytes",
        "gauge",
        "Free bytes on the volume holding the folder (GUI available_space). Only for nodes "
        "read through the web GUI API.",
        "node folder",
        "folder",
    ),
    # -- per peer (only for nodes with peers: true)
    _m(
        "btsync_peer_info",
        "gauge",
        "Always 1; one per peer of a folder (get_folder_peers.name, .connection).",
        "node folder peer_id name connection",
        "peer",
    ),
    _m(
        "btsync_peer_download_bytes_total",
        "counter",
        "Bytes received from the peer for the folder (get_folder_peers.download). Only for "
        "nodes read through API v1 (the web GUI API has no such counter).",
        "node folder peer_id",
        "peer",
    ),
    _m(
        "btsync_peer_upload_bytes_total",
        "counter",
        "Bytes sent to the peer for the folder (get_folder_peers.upload). Only for nodes "
        "read through API v1 (the web GUI API has no such counter).",
        "node folder peer_id",
        "peer",
    ),
    _m(
        "btsync_peer_last_synced_timestamp_seconds",
        "gauge",
        "Unix time the last sync with the peer completed (get_folder_peers.synced, or the "
        "GUI's lastsynctime); 0 = never.",
        "node folder peer_id",
        "peer",
    ),
    _m(
        "btsync_peer_online",
        "gauge",
        "1 while the peer is online (GUI isonline). Only for nodes read through the web "
        "GUI API, which also lists known peers that are offline.",
        "node folder peer_id",
        "peer",
    ),
    _m(
        "btsync_peer_last_seen_timestamp_seconds",
        "gauge",
        "Unix time the peer was last seen (GUI lastseentime), only where the node gives it "
        "(offline peers).",
        "node folder peer_id",
        "peer",
    ),
    # -- the exporter itself (sync_exporter.selfmetrics)
    _m(
        "btsync_exporter_build_info",
        "gauge",
        "Always 1; the exporter's version and the Python running it.",
        "version python_version",
        "exporter",
    ),
    _m(
        "btsync_exporter_api_requests_total",
        "counter",
        "Sync API requests by node, API method and outcome (success, timeout, connect_error, "
        "auth_error, api_disabled, http_error, invalid_response, api_error); a failed "
        "outcome's series appears with its first failure.",
        "node method outcome",
        "exporter",
    ),
    _m(
        "btsync_exporter_api_request_duration_seconds",
        "histogram",
        "Duration of Sync API requests by API method, across all nodes (a node's own time "
        "is btsync_scrape_duration_seconds; its failures, btsync_exporter_api_requests_total).",
        "method",
        "exporter",
    ),
    _m(
        "btsync_exporter_node_scrape_failures_total",
        "counter",
        "Scrapes in which the node was down (btsync_up 0), by reason (the failing outcome).",
        "node reason",
        "exporter",
    ),
    _m(
        "btsync_exporter_config_last_reload_successful",
        "gauge",
        "1 if the last configuration load (startup, SIGHUP or POST /-/reload) succeeded.",
        "",
        "exporter",
    ),
    _m(
        "btsync_exporter_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful configuration load.",
        "",
        "exporter",
    ),
)

#: The table by name, for the renderers.
BY_NAME: dict[str, MetricDef] = {d.name: d for d in METRICS}

#: Metrics built from node snapshots (everything but the exporter's own).
SNAPSHOT_METRICS: tuple[MetricDef, ...] = tuple(d for d in METRICS if d.scope != "exporter")


def render(
    snapshots: Iterable[NodeSnapshot], peers: Mapping[str, bool] | None = None
) -> list[Metric]:
    """Build this scrape's families from ``snapshots``; empty families are left out.

    ``peers`` maps a node's name to its ``peers`` setting (``Config.peers()``); a node
    whose setting is false gets the folder peer counts but no per-peer series, and a node
    it does not name gets both. Only that flag, not the whole config: the renderer needs
    nothing else of it, and the fast renderer takes the same mapping.
    A node that is down yields only ``btsync_up 0`` and its scrape duration. A folder
    label or peer id seen twice in one node (two folders aliased alike) is exported once,
    because duplicate series make Prometheus reject samples.
    """
    families = {d.name: d.family() for d in SNAPSHOT_METRICS}
    for snap in snapshots:
        peers_enabled = peers.get(snap.node, True) if peers is not None else True
        staged = _render_staged(snap, peers_enabled=peers_enabled)
        for name, family in staged.items():
            families[name].samples.extend(family.samples)
    return [f for f in families.values() if f.samples]


#: What rendering a node raises for a value no encoder could write.
UNEXPORTABLE = (ArithmeticError, ValueError, TypeError)


def unexportable(snap: NodeSnapshot, exc: BaseException) -> NodeSnapshot:
    """Log that ``snap`` cannot be exported; return what is exported instead (the node down).

    Both renderers (this module's and ``sync_exporter.exposition``) fall back to it.
    """
    _log.error(
        "dropped a node's data that cannot be exported",
        extra={"node": snap.node, "err": type(exc).__name__},
    )
    return dataclasses.replace(
        snap,
        up=False,
        folders=(),
        outcome=Outcome.INVALID_RESPONSE,
        error="its data cannot be exported",
    )


def _render_staged(snap: NodeSnapshot, *, peers_enabled: bool) -> dict[str, Metric]:
    """One node's families, or only its ``btsync_up 0`` when its data cannot be exported.

    The parsers bound every value a node sends, so this is the last line of defence: a
    value no encoder could write (a number beyond float64, a string that is not
    encodable text) drops that node's data here, and every other node still answers.
    """
    staged = {d.name: d.family() for d in SNAPSHOT_METRICS}
    try:
        _render_node(staged, snap, peers_enabled=peers_enabled)
    except UNEXPORTABLE as exc:
        staged = {d.name: d.family() for d in SNAPSHOT_METRICS}
        _render_node(staged, unexportable(snap, exc), peers_enabled=False)
    return staged


def _add(families: dict[str, Metric], name: str, labels: Sequence[str], value: float) -> None:
    """Add one sample, checked now so that encoding the exposition cannot fail later."""
    family = families[name]
    assert isinstance(family, GaugeMetricFamily | CounterMetricFamily)
    for label in labels:
        if not label.isascii():
            label.encode("utf-8")  # a lone surrogate raises here, not in the encoder
    family.add_metric(list(labels), float(value))  # a huge int raises OverflowError here


def _render_node(families: dict[str, Metric], snap: NodeSnapshot, *, peers_enabled: bool) -> None:
    node = snap.node
    _add(families, "btsync_up", [node], 1 if snap.up else 0)
    _add(families, "btsync_scrape_duration_seconds", [node], snap.duration_seconds)
    if not snap.up:
        return
    _add(families, "btsync_node_info", [node, snap.version or "", snap.os or "", snap.api or ""], 1)
    _add(families, "btsync_download_speed_bytes_per_second", [node], snap.download_speed)
    _add(families, "btsync_upload_speed_bytes_per_second", [node], snap.upload_speed)
    seen: set[str] = set()
    for folder in snap.folders:
        if folder.folder in seen:
            continue
        seen.add(folder.folder)
        _render_folder(families, node, folder, peers_enabled=peers_enabled)


def _render_folder(
    families: dict[str, Metric], node: str, folder: FolderSnapshot, *, peers_enabled: bool
) -> None:
    key = [node, folder.folder]
    selective = "unknown" if folder.selective is None else str(folder.selective).lower()
    _add(families, "btsync_folder_info", [*key, folder.folder_id, folder.type, selective], 1)
    _add(families, "btsync_folder_size_bytes", key, folder.size_bytes)
    _add(families, "btsync_folder_files", key, folder.files)
    _add(families, "btsync_folder_error_code", key, folder.error_code)
    _add(families, "btsync_folder_indexing", key, 1 if folder.indexing else 0)
    gui = folder.gui
    if gui is not None:
        for direction, size, count in (
            ("download", gui.pending_download_bytes, gui.pending_download_files),
            ("upload", gui.pending_upload_bytes, gui.pending_upload_files),
        ):
            _add(families, "btsync_folder_pending_bytes", [*key, direction], size)
            _add(families, "btsync_folder_pending_files", [*key, direction], count)
        _add(families, "btsync_folder_paused", key, 1 if gui.paused else 0)
        if gui.disk_free_bytes is not None:
            _add(families, "btsync_folder_disk_free_bytes", key, gui.disk_free_bytes)
    if folder.peers is None:  # get_folder_peers failed: unknown, not zero
        return
    counts = dict.fromkeys(CONNECTIONS, 0)
    peers = {p.peer_id: p for p in reversed(folder.peers)}  # first occurrence wins
    for peer in peers.values():
        if peer.online is not False:  # API v1 lists connected peers only
            counts[peer.connection] = counts.get(peer.connection, 0) + 1
    for connection, count in counts.items():
        _add(families, "btsync_folder_peers", [*key, connection], count)
    if not peers_enabled:
        return
    for peer in folder.peers:
        if peers.get(peer.peer_id) is not peer:
            continue
        pkey = [*key, peer.peer_id]
        _add(families, "btsync_peer_info", [*pkey, peer.name, peer.connection], 1)
        if peer.download_bytes is not None:
            _add(families, "btsync_peer_download_bytes_total", pkey, peer.download_bytes)
        if peer.upload_bytes is not None:
            _add(families, "btsync_peer_upload_bytes_total", pkey, peer.upload_bytes)
        _add(families, "btsync_peer_last_synced_timestamp_seconds", pkey, peer.synced)
        if peer.online is not None:
            _add(families, "btsync_peer_online", pkey, 1 if peer.online else 0)
        if peer.last_seen is not None:
            _add(families, "btsync_peer_last_seen_timestamp_seconds", pkey, peer.last_seen)


if __name__ == "__main__":  # the documented command; the generator is metrics_docs
    from sync_exporter.metrics_docs import main

    raise SystemExit(main())
