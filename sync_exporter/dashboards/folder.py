"""Folder detail: one shared folder across every node that holds it.

A folder has a different path on each node, so everything here joins on folder_id:
choosing a folder by one node's path shows its copies on all the others too. The
question it answers: is this folder in sync, and if not, which copy lags and why.
"""

from __future__ import annotations

from sync_exporter.dashboards.grafana import Dashboard, Row, Target
from sync_exporter.dashboards.panels import (
    FOLDER_UID,
    PEERS_UID,
    link_to,
    standard_variables,
    table,
    timeseries,
)
from sync_exporter.dashboards.promql import (
    DISK_HORIZON_SECONDS,
    behind_largest,
    by_folder_id,
    free_after_horizon,
    on_holders,
    rate,
    sel,
)

_COPY = "{{node}}: {{folder}}"


def dashboard() -> Dashboard:
    """Return the folder detail dashboard."""
    return Dashboard(
        uid=FOLDER_UID,
        title="BTSync / Folder detail",
        description="One shared folder on every node that holds it: size, divergence, peers.",
        variables=standard_variables(),
        rows=(_growth(), _divergence(), _transfers(), _peers(), _state()),
    )


def _growth() -> Row:
    return Row(
        "Size and files",
        (
            timeseries(
                "Size on each node",
                "Size of the folder's copy on each node holding it (get_folders.size).",
                "bytes",
                Target(
                    f"max by (node, folder) ({by_folder_id('btsync_folder_size_bytes')})",
                    legend=_COPY,
                ),
            ),
            timeseries(
                "Files on each node",
                "Number of files in the folder's copy on each node (get_folders.files).",
                "none",
                Target(
                    f"max by (node, folder) ({by_folder_id('btsync_folder_files')})",
                    legend=_COPY,
                ),
            ),
        ),
    )


def _divergence() -> Row:
    return Row(
        "Divergence across nodes",
        (
            timeseries(
                "Bytes behind the largest copy",
                "How many bytes each copy has fewer than the largest copy of the same "
                "folder_id. 0 everywhere means the copies agree; a line that stays up "
                "is a node that is not catching up. Encrypted and selective-sync copies are "
                "left out.",
                "bytes",
                Target(
                    f"max by (node, folder) ({behind_largest('btsync_folder_size_bytes')})",
                    legend=_COPY,
                ),
            ),
            timeseries(
                "Files behind the largest copy",
                "How many files each copy has fewer than the copy with the most files "
                "(encrypted and selective-sync copies left out).",
                "none",
                Target(
                    f"max by (node, folder) ({behind_largest('btsync_folder_files')})",
                    legend=_COPY,
                ),
            ),
        ),
    )


def _transfers() -> Row:
    pending = on_holders(sel("btsync_folder_pending_bytes"))
    free = sel("btsync_folder_disk_free_bytes")
    horizon = f"{DISK_HORIZON_SECONDS // 3600}h"
    return Row(
        "Pending transfers and disk (nodes read through the GUI API)",
        (
            timeseries(
                "Pending on each node",
                "Bytes each copy still has to download and upload, by the node's own count "
                "(queue_download_size, queue_upload_size). Nodes read through API v1 cannot "
                "say: see Divergence above for them.",
                "bytes",
                Target(
                    f"sum by (node, folder, direction) ({pending})",
                    legend=_COPY + " {{direction}}",
                ),
            ),
            timeseries(
                "Free space on each node",
                "Free space of the volume holding each copy (available_space), and where "
                f"the trend puts it in {horizon} (as BTSyncDiskSpaceLow predicts it).",
                "bytes",
                Target(f"min by (node, folder) ({on_holders(free)})", legend=_COPY),
                Target(
                    f"min by (node, folder) ({on_holders(free_after_horizon(free))})",
                    legend=_COPY + " in " + horizon,
                ),
            ),
        ),
    )


def _peers() -> Row:
    info = on_holders(sel("btsync_peer_info"))
    synced = sel("btsync_peer_last_synced_timestamp_seconds")
    age = on_holders(f"time() - ({synced} > 0)")
    down = on_holders(rate(sel("btsync_peer_download_bytes_total")))
    up = on_holders(rate(sel("btsync_peer_upload_bytes_total")))
    per_peer = "node, folder, peer_id"
    return Row(
        "Peers",
        (
            table(
                "Peers",
                "Every peer of the folder on every node holding it: its name, whether the "
                "connection is direct or relayed, how long ago it last completed a sync "
                "(empty: never), and the current transfer rates with it.",
                "none",
                Target(f"max by ({per_peer}, name, connection) ({info})", table=True),
                Target(f"max by ({per_peer}) ({age})", table=True),
                Target(f"sum by ({per_peer}) ({down})", table=True),
                Target(f"sum by ({per_peer}) ({up})", table=True),
                columns={
                    "node": "Node",
                    "folder": "Folder",
                    "name": "Peer",
                    "connection": "Connection",
                    "peer_id": "Peer id",
                    "Value #B": "Last completed sync (ago)",
                    "Value #C": "Download",
                    "Value #D": "Upload",
                },
                units={"Value #B": "s", "Value #C": "Bps", "Value #D": "Bps"},
                links={"name": link_to(PEERS_UID, ["node", "folder"])},
                sort_by="Value #B",
                height=10,
            ),
        ),
    )


def _state() -> Row:
    peers = on_holders(sel("btsync_folder_peers"))
    return Row(
        "State",
        (
            timeseries(
                "Error code history",
                "The folder's get_folders error code on each node over time; 0 is no "
                "error. A step up is when the node hit a problem with this folder.",
                "none",
                Target(
                    f"max by (node, folder) ({on_holders(sel('btsync_folder_error_code'))})",
                    legend=_COPY,
                ),
                width=6,
                step=True,
            ),
            timeseries(
                "Indexing",
                "1 while the node is scanning the folder. Long stretches at 1 without "
                "the file count moving mean indexing is stuck.",
                "none",
                Target(
                    f"max by (node, folder) ({on_holders(sel('btsync_folder_indexing'))})",
                    legend=_COPY,
                ),
                width=6,
                step=True,
            ),
            timeseries(
                "Paused",
                "1 while the folder is paused on the node (nodes read through the GUI API): "
                "it neither sends nor receives changes.",
                "none",
                Target(
                    f"max by (node, folder) ({on_holders(sel('btsync_folder_paused'))})",
                    legend=_COPY,
                ),
                width=6,
                step=True,
            ),
            timeseries(
                "Connected peers by connection",
                "Peers connected (online) to the folder on each node, direct and via relay.",
                "none",
                Target(
                    f"sum by (node, folder, connection) ({peers})",
                    legend=_COPY + " ({{connection}})",
                ),
                width=6,
                step=True,
            ),
        ),
    )
