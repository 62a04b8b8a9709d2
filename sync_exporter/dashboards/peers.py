"""Peers and transfers: who moves data with whom, how, and who has gone quiet.

Rates come from the per-peer byte counters; connection type and peer names come from
btsync_peer_info, joined on the peer's identity.
"""

from __future__ import annotations

from sync_exporter.dashboards.grafana import Dashboard, Row, Target
from sync_exporter.dashboards.panels import (
    FOLDER_UID,
    PEERS_UID,
    bargauge,
    link_to,
    standard_variables,
    stat,
    table,
    timeseries,
)
from sync_exporter.dashboards.promql import FOLDER, PEER_IDENTITY, rate, sel

_PER_PEER = "node, folder, peer_id"
_INFO = sel("btsync_peer_info", FOLDER)
_SYNCED = sel("btsync_peer_last_synced_timestamp_seconds", FOLDER)
_ONLINE = sel("btsync_peer_online", FOLDER)
_SEEN = sel("btsync_peer_last_seen_timestamp_seconds", FOLDER)
_DOWN = rate(sel("btsync_peer_download_bytes_total", FOLDER))
_UP = rate(sel("btsync_peer_upload_bytes_total", FOLDER))
_HOUR = 3600
_DAY = 24 * _HOUR


def dashboard() -> Dashboard:
    """Return the peers and transfers dashboard."""
    return Dashboard(
        uid=PEERS_UID,
        title="BTSync / Peers and transfers",
        description="Per-peer transfer rates, relay versus direct, and peers that stopped syncing.",
        variables=standard_variables(),
        rows=(_rates(), _connections(), _last_sync(), _known_peers()),
    )


def _traffic(info: str) -> str:
    """Return both directions per peer, with the connection type from ``info`` attached."""
    return f"({_DOWN} + {_UP}) * on ({PEER_IDENTITY}) group_left (connection) {info}"


def _named(rate_expr: str) -> str:
    """Return a per-peer rate with the peer's name attached for the legend."""
    return (
        f"sum by ({_PER_PEER}) ({rate_expr}) * on ({_PER_PEER}) group_left (name) "
        f"max by ({_PER_PEER}, name) ({_INFO})"
    )


def _rates() -> Row:
    return Row(
        "Per-peer rates",
        (
            timeseries(
                "Download from each peer",
                "Bytes per second each node receives from each peer, per folder "
                "(from get_folder_peers.download).",
                "Bps",
                Target(_named(_DOWN), legend="{{node}} ← {{name}} ({{folder}})"),
            ),
            timeseries(
                "Upload to each peer",
                "Bytes per second each node sends to each peer, per folder "
                "(from get_folder_peers.upload).",
                "Bps",
                Target(_named(_UP), legend="{{node}} → {{name}} ({{folder}})"),
            ),
        ),
    )


def _connections() -> Row:
    peers = sel("btsync_folder_peers", FOLDER)
    relay_peers = sel("btsync_folder_peers", FOLDER, 'connection="relay"')
    relay_info = sel("btsync_peer_info", FOLDER, 'connection="relay"')
    return Row(
        "Relay versus direct",
        (
            stat(
                "Relay share of peers",
                "Share of connected peers that go through a relay server rather than a "
                "direct connection. Relayed peers are slower and depend on the relay.",
                "percentunit",
                Target(f"sum({relay_peers}) / clamp_min(sum({peers}), 1)"),
                width=4,
            ),
            stat(
                "Relay share of traffic",
                "Share of the bytes moving right now (both directions) that go through a relay.",
                "percentunit",
                Target(
                    f"(sum({_traffic(relay_info)}) or vector(0))"
                    f" / clamp_min(sum({_DOWN} + {_UP}) or vector(0), 1)"
                ),
                width=4,
            ),
            timeseries(
                "Connected peers by connection",
                "Peers connected over all selected folders and nodes, direct and relay.",
                "none",
                Target(f"sum by (connection) ({peers})", legend="{{connection}}"),
                width=8,
                stack=True,
            ),
            timeseries(
                "Traffic by connection",
                "Bytes per second moving over direct and over relayed connections.",
                "Bps",
                Target(f"sum by (connection) ({_traffic(_INFO)})", legend="{{connection}}"),
                width=8,
                stack=True,
            ),
        ),
    )


def _last_sync() -> Row:
    never = f"count({_SYNCED} == 0) or vector(0)"

    def older(low: int | None, high: int | None) -> str:
        expr = f"{_SYNCED} > 0"
        if low is not None:
            expr += f" <= time() - {low}"
        if high is not None:
            expr += f" > time() - {high}"
        return f"count({expr}) or vector(0)"

    age = f"(time() - ({_SYNCED} > 0))"
    return Row(
        "Last completed sync",
        (
            bargauge(
                "Peers by age of last completed sync",
                "How long ago each peer last completed a sync with its node, in bands. "
                "Peers that never completed one are counted apart.",
                "none",
                Target(older(None, _HOUR), legend="under 1 hour"),
                Target(older(_HOUR, _DAY), legend="1 hour to 1 day"),
                Target(older(_DAY, 7 * _DAY), legend="1 to 7 days"),
                Target(older(7 * _DAY, None), legend="over 7 days"),
                Target(never, legend="never"),
            ),
            table(
                "Peers, oldest sync first",
                "Every peer that has completed a sync, with the time since the last one. "
                "Peers that never did are counted in the bars beside.",
                "s",
                Target(
                    f"max by ({_PER_PEER}, name) ({age} * on ({PEER_IDENTITY}) "
                    f"group_left (name) {_INFO})",
                    table=True,
                ),
                columns={
                    "node": "Node",
                    "folder": "Folder",
                    "name": "Peer",
                    "peer_id": "Peer id",
                    "Value": "Last completed sync (ago)",
                },
                links={"folder": link_to(FOLDER_UID, ["node", "folder"])},
                sort_by="Value",
                width=12,
            ),
        ),
    )


def _known_peers() -> Row:
    named = f"* on ({PEER_IDENTITY}) group_left (name) {_INFO}"
    return Row(
        "Known peers, online and offline (nodes read through the GUI API)",
        (
            timeseries(
                "Peers online by node",
                "Known peers of the selected folders that are online (isonline) on each "
                "node, and those that are offline. API v1 nodes list connected peers only.",
                "none",
                Target(f"sum by (node) ({_ONLINE})", legend="{{node}} online"),
                Target(f"count by (node) ({_ONLINE} == 0)", legend="{{node}} offline"),
                width=12,
                step=True,
            ),
            table(
                "Known peers",
                "Every peer a node read through the GUI API knows for a folder: online (1) "
                "or not, and for an offline peer how long ago the node last saw it.",
                "none",
                Target(f"max by ({_PER_PEER}, name) ({_ONLINE} {named})", table=True),
                Target(f"max by ({_PER_PEER}) (time() - {_SEEN})", table=True),
                columns={
                    "node": "Node",
                    "folder": "Folder",
                    "name": "Peer",
                    "peer_id": "Peer id",
                    "Value #A": "Online",
                    "Value #B": "Last seen (ago)",
                },
                units={"Value #B": "s"},
                links={"folder": link_to(FOLDER_UID, ["node", "folder"])},
                sort_by="Value #B",
                width=12,
            ),
        ),
    )
