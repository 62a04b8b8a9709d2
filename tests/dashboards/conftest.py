"""What the dashboard tests share: the metric contract and the committed dashboards.

The tests read the committed ``grafana/*.json`` (what users import), not the builder's
objects; a freshness test proves the two are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.inspect import PanelQuery, load, panel_queries

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "grafana"

#: The metric contract (docs/metrics.md plus the exporter's self-metrics), metric ->
#: its labels besides the target labels job and instance that Prometheus adds.
CONTRACT: Mapping[str, tuple[str, ...]] = {
    "btsync_up": ("node",),
    "btsync_scrape_duration_seconds": ("node",),
    "btsync_node_info": ("node", "version", "os", "api"),
    "btsync_download_speed_bytes_per_second": ("node",),
    "btsync_upload_speed_bytes_per_second": ("node",),
    "btsync_folder_info": ("node", "folder", "folder_id", "type"),
    "btsync_folder_size_bytes": ("node", "folder"),
    "btsync_folder_files": ("node", "folder"),
    "btsync_folder_error_code": ("node", "folder"),
    "btsync_folder_indexing": ("node", "folder"),
    "btsync_folder_peers": ("node", "folder", "connection"),
    "btsync_peer_info": ("node", "folder", "peer_id", "name", "connection"),
    "btsync_peer_download_bytes_total": ("node", "folder", "peer_id"),
    "btsync_peer_upload_bytes_total": ("node", "folder", "peer_id"),
    "btsync_peer_last_synced_timestamp_seconds": ("node", "folder", "peer_id"),
    # only for nodes read through the web GUI API
    "btsync_folder_pending_bytes": ("node", "folder", "direction"),
    "btsync_folder_pending_files": ("node", "folder", "direction"),
    "btsync_folder_paused": ("node", "folder"),
    "btsync_folder_disk_free_bytes": ("node", "folder"),
    "btsync_peer_online": ("node", "folder", "peer_id"),
    "btsync_peer_last_seen_timestamp_seconds": ("node", "folder", "peer_id"),
    "btsync_exporter_api_requests_total": ("node", "method", "outcome"),
    "btsync_exporter_api_request_duration_seconds_bucket": ("method", "le"),
    "btsync_exporter_api_request_duration_seconds_sum": ("method",),
    "btsync_exporter_api_request_duration_seconds_count": ("method",),
    "btsync_exporter_node_scrape_failures_total": ("node", "reason"),
    "btsync_exporter_build_info": ("version",),
    "btsync_exporter_config_last_reload_successful": (),
    "up": (),
    # Prometheus' own series of alert states; dashboards ask only for alertname=~"BTSync.*".
    "ALERTS": ("alertname", "alertstate", "severity", "node", "folder"),
}


@pytest.fixture(scope="session")
def contract() -> Mapping[str, tuple[str, ...]]:
    """The metric contract: metric name -> labels besides job and instance."""
    return CONTRACT


@pytest.fixture(scope="session")
def committed() -> dict[str, dict[str, Any]]:
    """Every committed dashboard, file name -> parsed JSON."""
    return load(GRAFANA_DIR)


@pytest.fixture(scope="session")
def queries(committed: dict[str, dict[str, Any]]) -> list[PanelQuery]:
    """Every panel query of the committed dashboards."""
    return panel_queries(committed)
