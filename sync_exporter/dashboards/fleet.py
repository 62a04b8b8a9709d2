"""Fleet overview: is every node up, is data moving, is any folder in trouble.

The first screen an SRE opens: stats that are 0 when all is well, then the detail
behind each of them, then whether the exporter itself is healthy.
"""

from __future__ import annotations

from sync_exporter.dashboards.grafana import Dashboard, Row, Target
from sync_exporter.dashboards.panels import (
    FLEET_UID,
    FOLDER_UID,
    link_to,
    standard_variables,
    stat,
    table,
    timeseries,
    up_down_timeline,
)
from sync_exporter.dashboards.promql import (
    COMPARABLE,
    DISK_HORIZON_SECONDS,
    DISK_TREND_WINDOW,
    FOLDER,
    JOB,
    behind_largest,
    by_folder_id,
    free_after_horizon,
    rate,
    sel,
)

_ALERTS = 'ALERTS{alertname=~"BTSync.*"}'
_FIRING = 'count(ALERTS{alertname=~"BTSync.*", alertstate="firing"}) or vector(0)'
_SIZE = "btsync_folder_size_bytes"
_FILE = "btsync_folder_files"
_SIZES = by_folder_id(_SIZE, COMPARABLE)
_FILES = by_folder_id(_FILE, COMPARABLE)
_REQUESTS = rate(sel("btsync_exporter_api_requests_total"))
_SCRAPE_FAILURES = rate(sel("btsync_exporter_node_scrape_failures_total"))
_FAILED = rate(sel("btsync_exporter_api_requests_total", extra='outcome!="success"'))

IN_ERROR = f"count({sel('btsync_folder_error_code', FOLDER)} != 0) or vector(0)"
INDEXING = f"count({sel('btsync_folder_indexing', FOLDER)} == 1) or vector(0)"
WITHOUT_PEERS = (
    "count(sum by (job, instance, node, folder) "
    f"({sel('btsync_folder_peers', FOLDER)}) == 0) or vector(0)"
)
PAUSED = f"count({sel('btsync_folder_paused', FOLDER)} == 1) or vector(0)"
_PENDING = sel("btsync_folder_pending_bytes", FOLDER)
_PENDING_FILES = sel("btsync_folder_pending_files", FOLDER)
_FREE = sel("btsync_folder_disk_free_bytes", FOLDER)
_ONLINE = sel("btsync_peer_online", FOLDER)
_HORIZON = f"{DISK_HORIZON_SECONDS // 3600}h"
OUT_OF_SYNC = (
    f"count((max by (folder_id) ({_SIZES}) != min by (folder_id) ({_SIZES}))"
    f" or (max by (folder_id) ({_FILES}) != min by (folder_id) ({_FILES}))) or vector(0)"
)


def dashboard() -> Dashboard:
    """Return the fleet overview."""
    return Dashboard(
        uid=FLEET_UID,
        title="BTSync / Fleet overview",
        description="Every Sync node the exporter scrapes: availability, speed, folder states.",
        variables=standard_variables(),
        rows=(
            _summary(),
            _nodes(),
            _speed(),
            _folders(),
            _gui_signals(),
            _alerts(),
            _exporter(),
        ),
    )


def _summary() -> Row:
    bad = 1
    return Row(
        "Fleet at a glance",
        (
            stat(
                "Nodes up",
                "Nodes whose API answered the last scrape.",
                "none",
                Target(f"sum({sel('btsync_up')})"),
            ),
            stat(
                "Nodes down",
                "Nodes whose API did not answer the last scrape (refused, timed out, "
                "wrong credentials, garbage). See Exporter health for the reason.",
                "none",
                Target(f"count({sel('btsync_up')} == 0) or vector(0)"),
                bad_from=bad,
            ),
            stat(
                "Folders in error",
                "Folders (per node) whose get_folders error code is not 0.",
                "none",
                Target(IN_ERROR),
                bad_from=bad,
            ),
            stat(
                "Folders indexing",
                "Folders (per node) that are scanning their files right now. Normal for "
                "a while after start or a big change; a folder that never stops is stuck.",
                "none",
                Target(INDEXING),
            ),
            stat(
                "Folders without peers",
                "Folders (per node) with no connected peer, direct or relay: nothing "
                "can sync until one connects.",
                "none",
                Target(WITHOUT_PEERS),
                bad_from=bad,
            ),
            stat(
                "Folders out of sync",
                "Shared folders (by folder_id) whose size or file count differs between "
                "the nodes holding them right now (encrypted and selective-sync copies left "
                "out). Brief "
                "differences are normal while data moves; long ones are what the BTSync "
                "alerts page on.",
                "none",
                Target(OUT_OF_SYNC),
                bad_from=bad,
            ),
            stat(
                "Firing BTSync alerts",
                "Alerts whose name starts with BTSync that are firing in this Prometheus.",
                "none",
                Target(_FIRING),
                bad_from=bad,
            ),
            stat(
                "Connected peers",
                "Peer connections over all folders and nodes, direct and relay.",
                "none",
                Target(f"sum({sel('btsync_folder_peers', FOLDER)})"),
            ),
        ),
    )


def _nodes() -> Row:
    return Row(
        "Nodes",
        (
            up_down_timeline(
                "Node availability",
                "Whether each node's API answered, scrape by scrape.",
                Target(f"max by (node) ({sel('btsync_up')})", legend="{{node}}"),
            ),
            table(
                "Versions and OS",
                "Sync version and operating system each node reports (get_version, "
                "get_os), and the API the exporter reads it through (v1, or gui for the "
                "web GUI's own API). Nodes that are down are missing here: see Node "
                "availability.",
                "none",
                Target(f"max by (node, version, os, api) ({sel('btsync_node_info')})", table=True),
                columns={"node": "Node", "version": "Version", "os": "OS", "api": "Read through"},
                links={"node": link_to(FOLDER_UID, ["node"])},
                width=12,
            ),
        ),
    )


def _speed() -> Row:
    upload = sel("btsync_upload_speed_bytes_per_second")
    download = sel("btsync_download_speed_bytes_per_second")
    return Row(
        "Transfer speed",
        (
            timeseries(
                "Fleet transfer speed",
                "Sum of every node's current upload and download speed (get_speed).",
                "Bps",
                Target(f"sum({upload})", legend="upload"),
                Target(f"sum({download})", legend="download"),
                width=8,
            ),
            timeseries(
                "Upload speed by node",
                "Each node's current upload speed, stacked (get_speed.upload).",
                "Bps",
                Target(f"sum by (node) ({upload})", legend="{{node}}"),
                width=8,
                stack=True,
            ),
            timeseries(
                "Download speed by node",
                "Each node's current download speed, stacked (get_speed.download).",
                "Bps",
                Target(f"sum by (node) ({download})", legend="{{node}}"),
                width=8,
                stack=True,
            ),
        ),
    )


def _folders() -> Row:
    folder_link = link_to(FOLDER_UID, ["node", "folder"])
    return Row(
        "Folders",
        (
            timeseries(
                "Folders by state",
                "How many folders are in error, indexing, without peers, out of sync "
                "across nodes, or paused (nodes read through the GUI API), over time. All "
                "at 0 is a healthy fleet.",
                "none",
                Target(IN_ERROR, legend="in error"),
                Target(INDEXING, legend="indexing"),
                Target(WITHOUT_PEERS, legend="without peers"),
                Target(OUT_OF_SYNC, legend="out of sync across nodes"),
                Target(PAUSED, legend="paused"),
                step=True,
            ),
            table(
                "Copies behind the largest copy",
                "For each copy of a shared folder, how many bytes and files it has fewer "
                "than the largest copy on any node (joined on folder_id). 0 means in sync. "
                "Encrypted and selective-sync copies are left out: their size is not "
                "comparable.",
                "bytes",
                Target(f"max by (node, folder, folder_id) ({behind_largest(_SIZE)})", table=True),
                Target(f"max by (node, folder, folder_id) ({behind_largest(_FILE)})", table=True),
                columns={
                    "node": "Node",
                    "folder": "Folder",
                    "folder_id": "Folder id",
                    "Value #A": "Bytes behind",
                    "Value #B": "Files behind",
                },
                units={"Value #B": "none"},
                links={"folder": folder_link},
                sort_by="Value #A",
                width=12,
            ),
            table(
                "Folder state by node",
                "Every folder on every node: get_folders error code (0 = none), whether "
                "it is indexing, connected peers, size and files.",
                "none",
                Target(
                    f"max by (node, folder) ({sel('btsync_folder_error_code', FOLDER)})", table=True
                ),
                Target(
                    f"max by (node, folder) ({sel('btsync_folder_indexing', FOLDER)})", table=True
                ),
                Target(f"sum by (node, folder) ({sel('btsync_folder_peers', FOLDER)})", table=True),
                Target(
                    f"max by (node, folder) ({sel('btsync_folder_size_bytes', FOLDER)})", table=True
                ),
                Target(f"max by (node, folder) ({sel('btsync_folder_files', FOLDER)})", table=True),
                columns={
                    "node": "Node",
                    "folder": "Folder",
                    "Value #A": "Error code",
                    "Value #B": "Indexing",
                    "Value #C": "Peers",
                    "Value #D": "Size",
                    "Value #E": "Files",
                },
                units={"Value #D": "bytes"},
                links={"folder": folder_link},
                sort_by="Value #A",
                height=10,
            ),
        ),
    )


def _gui_signals() -> Row:
    """What only nodes read through the GUI API report: queues, pause, disk, offline peers."""
    per_folder = "node, folder"
    download = sel("btsync_folder_pending_bytes", FOLDER, 'direction="download"')
    upload = sel("btsync_folder_pending_bytes", FOLDER, 'direction="upload"')
    return Row(
        "Transfers, pause and disk (nodes read through the GUI API)",
        (
            stat(
                "Folders paused",
                "Folders (per node) paused in Sync: they neither send nor receive changes.",
                "none",
                Target(PAUSED),
                bad_from=1,
                width=4,
            ),
            stat(
                "Bytes pending",
                "Bytes the nodes still have to download or upload, by their own count "
                "(queue_download_size + queue_upload_size). 0 is a fleet in sync.",
                "bytes",
                Target(f"sum({_PENDING}) or vector(0)"),
                width=4,
            ),
            stat(
                "Files pending",
                "Files the nodes still have to download or upload, by their own count.",
                "none",
                Target(f"sum({_PENDING_FILES}) or vector(0)"),
                width=4,
            ),
            stat(
                "Least free disk space",
                "Free space of the fullest volume holding a folder (available_space). No "
                "data: no node reports it (API v1 nodes cannot).",
                "bytes",
                Target(f"min({_FREE})"),
                width=4,
            ),
            stat(
                "Peers online",
                "Known peers of every folder that are online now (isonline), over all nodes.",
                "none",
                Target(f"sum({_ONLINE}) or vector(0)"),
                width=4,
            ),
            stat(
                "Peers offline",
                "Known peers of every folder that are offline now. API v1 nodes list "
                "connected peers only, so their offline peers are not counted.",
                "none",
                Target(f"count({_ONLINE} == 0) or vector(0)"),
                width=4,
            ),
            timeseries(
                "Pending transfers by node",
                "Bytes each node still has to download and upload, by its own count. A "
                "line that stays flat above 0 while peers are online is a stalled transfer "
                "(BTSyncFolderStalled).",
                "bytes",
                Target(f"sum by (node, direction) ({_PENDING})", legend="{{node}} {{direction}}"),
                width=12,
            ),
            timeseries(
                "Free disk space",
                "Free space of the volume holding each folder, and where the last "
                f"{DISK_TREND_WINDOW}'s trend puts it in {_HORIZON} (predict_linear, as "
                "BTSyncDiskSpaceLow: a prediction at 0 means full within that time).",
                "bytes",
                Target(f"min by ({per_folder}) ({_FREE})", legend="{{node}}: {{folder}}"),
                Target(
                    f"min by ({per_folder}) ({free_after_horizon(_FREE)})",
                    legend="{{node}}: {{folder}} in " + _HORIZON,
                ),
                width=12,
            ),
            table(
                "Transfers, pause and disk by folder",
                "Every folder on a node read through the GUI API: bytes and files it still "
                "has to download and upload, whether it is paused (1), free space on its "
                f"volume and the prediction in {_HORIZON}, and its known peers online.",
                "bytes",
                Target(f"sum by ({per_folder}) ({download})", table=True),
                Target(f"sum by ({per_folder}) ({upload})", table=True),
                Target(f"sum by ({per_folder}) ({_PENDING_FILES})", table=True),
                Target(
                    f"max by ({per_folder}) ({sel('btsync_folder_paused', FOLDER)})", table=True
                ),
                Target(f"min by ({per_folder}) ({_FREE})", table=True),
                Target(f"min by ({per_folder}) ({free_after_horizon(_FREE)})", table=True),
                Target(f"sum by ({per_folder}) ({_ONLINE})", table=True),
                columns={
                    "node": "Node",
                    "folder": "Folder",
                    "Value #A": "Download pending",
                    "Value #B": "Upload pending",
                    "Value #C": "Files pending",
                    "Value #D": "Paused",
                    "Value #E": "Free",
                    "Value #F": f"Free in {_HORIZON}",
                    "Value #G": "Peers online",
                },
                units={"Value #C": "none", "Value #D": "none", "Value #G": "none"},
                links={"folder": link_to(FOLDER_UID, ["node", "folder"])},
                sort_by="Value #A",
                height=10,
            ),
        ),
    )


def _alerts() -> Row:
    return Row(
        "Alerts",
        (
            table(
                "BTSync alerts",
                "Alerts whose name starts with BTSync, pending or firing, from the ALERTS "
                "series of this Prometheus (empty when the rules are not loaded here).",
                "none",
                Target(
                    f"max by (alertname, alertstate, severity, node, folder) ({_ALERTS})",
                    table=True,
                ),
                columns={
                    "alertname": "Alert",
                    "alertstate": "State",
                    "severity": "Severity",
                    "node": "Node",
                    "folder": "Folder",
                },
                height=6,
            ),
        ),
    )


def _exporter() -> Row:
    # Labelled by method only (no node: its size must not grow with the fleet).
    buckets = rate(sel("btsync_exporter_api_request_duration_seconds_bucket", JOB))
    return Row(
        "Exporter health",
        (
            timeseries(
                "Scrape duration by node",
                "Time the exporter spent collecting each node. Close to the scrape "
                "timeout means the node is slow and scrapes are about to fail.",
                "s",
                Target(
                    f"max by (node) ({sel('btsync_scrape_duration_seconds')})", legend="{{node}}"
                ),
                width=8,
            ),
            timeseries(
                "API requests by outcome",
                "Sync API requests the exporter made per second, by outcome (success, "
                "timeout, connect_error, auth_error, ...).",
                "reqps",
                Target(f"sum by (outcome) ({_REQUESTS})", legend="{{outcome}}"),
                width=8,
                stack=True,
            ),
            timeseries(
                "API error ratio by node",
                "Share of each node's Sync API requests that did not succeed.",
                "percentunit",
                Target(
                    f"(sum by (node) ({_FAILED}) or 0 * sum by (node) ({_REQUESTS}))"
                    f" / sum by (node) ({_REQUESTS})",
                    legend="{{node}}",
                ),
                width=8,
            ),
            timeseries(
                "API request latency (p90) by method",
                "90th percentile of Sync API request durations, per API method, over every "
                "node (the node filter does not apply; per node: Scrape duration by node).",
                "s",
                Target(
                    f"histogram_quantile(0.9, sum by (method, le) ({buckets}))",
                    legend="{{method}}",
                ),
            ),
            timeseries(
                "Failed node scrapes by reason",
                "Scrapes per second in which a node was down, by the reason (timeout, "
                "connect_error, auth_error, ...). No data means no failure in the range.",
                "ops",
                Target(
                    f"sum by (node, reason) ({_SCRAPE_FAILURES})",
                    legend="{{node}}: {{reason}}",
                ),
            ),
            table(
                "Exporter instances",
                "Each scrape target of the exporter: whether Prometheus reached it, its "
                "version, and whether its last configuration reload succeeded (1 = yes).",
                "none",
                Target(
                    f"max by (instance, version) (btsync_exporter_build_info{{{JOB}}})",
                    table=True,
                ),
                Target(f"max by (instance) (up{{{JOB}}})", table=True),
                Target(
                    f"max by (instance) (btsync_exporter_config_last_reload_successful{{{JOB}}})",
                    table=True,
                ),
                columns={
                    "instance": "Instance",
                    "version": "Version",
                    "Value #B": "Up",
                    "Value #C": "Last reload OK",
                },
                width=24,
                height=6,
            ),
        ),
    )
