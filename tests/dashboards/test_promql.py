"""Every panel query, as Grafana sends it, against the real Prometheus 2.42 parser and engine.

Two promtool runs cover all queries at once:

- ``promtool check rules``: each query, variables substituted, wrapped as a recording
  rule, must parse (the dashboard-linter's PromQL rule, with the real parser);
- ``promtool test rules``: over series shaped exactly like the metric contract, each
  query returns something, and every label its legend (or its table) prints is on every
  series it returns. A few queries whose arithmetic matters get exact expected values.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboards.inspect import PanelQuery, substitute

ALL = {"job": ".+", "node": ".+", "folder": ".+"}
RATE_INTERVAL = "1m"
TARGET = 'job="sync-exporter", instance="exporter:9888"'
EVAL_TIME = "8m"  # time() is 480 there: the last_synced values below are just before it

#: Series shaped like a scrape of three nodes: "nas" and "laptop" share three folders
#: (photos: laptop has 200 bytes fewer; docs: equal, error 3 on laptop; music: selective
#: on laptop), "cold" is down.
#: Values are promtool's expanding notation over 15 s steps.
SERIES: tuple[tuple[str, str, str], ...] = (
    ("btsync_up", 'node="nas"', "1x40"),
    ("btsync_up", 'node="laptop"', "1x40"),
    ("btsync_up", 'node="cold"', "0x40"),
    ("btsync_scrape_duration_seconds", 'node="nas"', "0.05x40"),
    ("btsync_scrape_duration_seconds", 'node="laptop"', "0.2x40"),
    ("btsync_scrape_duration_seconds", 'node="cold"', "8x40"),
    ("btsync_node_info", 'node="nas", version="2.3.8", os="linux", api="v1"', "1x40"),
    ("btsync_node_info", 'node="laptop", version="1.4.111", os="mac", api="v1"', "1x40"),
    # cellar: a node read through the web GUI API, with its own folder f4 (paused, with a
    # queue, on a volume losing 100 kB every 15 s) and two known peers, one offline
    ("btsync_up", 'node="cellar"', "1x40"),
    ("btsync_node_info", 'node="cellar", version="3.1.2", os="linux", api="gui"', "1x40"),
    (
        "btsync_folder_info",
        'node="cellar", folder="/srv/Fotos", folder_id="f4", type="read_write", selective="false"',
        "1x40",
    ),
    (
        "btsync_folder_pending_bytes",
        'node="cellar", folder="/srv/Fotos", direction="download"',
        "5000x40",
    ),
    (
        "btsync_folder_pending_bytes",
        'node="cellar", folder="/srv/Fotos", direction="upload"',
        "1000x40",
    ),
    (
        "btsync_folder_pending_files",
        'node="cellar", folder="/srv/Fotos", direction="download"',
        "5x40",
    ),
    (
        "btsync_folder_pending_files",
        'node="cellar", folder="/srv/Fotos", direction="upload"',
        "1x40",
    ),
    ("btsync_folder_paused", 'node="cellar", folder="/srv/Fotos"', "1x40"),
    ("btsync_folder_disk_free_bytes", 'node="cellar", folder="/srv/Fotos"', "100000000-100000x40"),
    (
        "btsync_peer_info",
        'node="cellar", folder="/srv/Fotos", peer_id="P5", name="nas", connection="direct"',
        "1x40",
    ),
    (
        "btsync_peer_info",
        'node="cellar", folder="/srv/Fotos", peer_id="P6", name="old-laptop", connection="direct"',
        "1x40",
    ),
    ("btsync_peer_online", 'node="cellar", folder="/srv/Fotos", peer_id="P5"', "1x40"),
    ("btsync_peer_online", 'node="cellar", folder="/srv/Fotos", peer_id="P6"', "0x40"),
    (
        "btsync_peer_last_seen_timestamp_seconds",
        'node="cellar", folder="/srv/Fotos", peer_id="P6"',
        "300x40",
    ),
    ("btsync_download_speed_bytes_per_second", 'node="nas"', "500x40"),
    ("btsync_download_speed_bytes_per_second", 'node="laptop"', "2000x40"),
    ("btsync_upload_speed_bytes_per_second", 'node="nas"', "2000x40"),
    ("btsync_upload_speed_bytes_per_second", 'node="laptop"', "500x40"),
    (
        "btsync_folder_info",
        'node="nas", folder="/volume1/photos", folder_id="f1", type="read_write"',
        "1x40",
    ),
    (
        "btsync_folder_info",
        'node="laptop", folder="/home/ann/Photos", folder_id="f1", type="read_only"',
        "1x40",
    ),
    (
        "btsync_folder_info",
        'node="nas", folder="/volume1/docs", folder_id="f2", type="read_write"',
        "1x40",
    ),
    (
        "btsync_folder_info",
        'node="laptop", folder="docs", folder_id="f2", type="encrypted"',
        "1x40",
    ),
    # music: laptop chose a subset with selective sync; smaller on purpose, never "behind".
    (
        "btsync_folder_info",
        'node="nas", folder="/volume1/music", folder_id="f3", type="read_write", selective="false"',
        "1x40",
    ),
    (
        "btsync_folder_info",
        'node="laptop", folder="/home/ann/Music", folder_id="f3", type="read_only", '
        'selective="true"',
        "1x40",
    ),
    ("btsync_folder_size_bytes", 'node="nas", folder="/volume1/music"', "3000x40"),
    ("btsync_folder_size_bytes", 'node="laptop", folder="/home/ann/Music"', "300x40"),
    ("btsync_folder_files", 'node="nas", folder="/volume1/music"', "30x40"),
    ("btsync_folder_files", 'node="laptop", folder="/home/ann/Music"', "3x40"),
    ("btsync_folder_size_bytes", 'node="nas", folder="/volume1/photos"', "1000x40"),
    ("btsync_folder_size_bytes", 'node="laptop", folder="/home/ann/Photos"', "800x40"),
    ("btsync_folder_size_bytes", 'node="nas", folder="/volume1/docs"', "50x40"),
    ("btsync_folder_size_bytes", 'node="laptop", folder="docs"', "50x40"),
    ("btsync_folder_files", 'node="nas", folder="/volume1/photos"', "10x40"),
    ("btsync_folder_files", 'node="laptop", folder="/home/ann/Photos"', "8x40"),
    ("btsync_folder_files", 'node="nas", folder="/volume1/docs"', "2x40"),
    ("btsync_folder_files", 'node="laptop", folder="docs"', "2x40"),
    ("btsync_folder_error_code", 'node="nas", folder="/volume1/photos"', "0x40"),
    ("btsync_folder_error_code", 'node="laptop", folder="/home/ann/Photos"', "0x40"),
    ("btsync_folder_error_code", 'node="nas", folder="/volume1/docs"', "0x40"),
    ("btsync_folder_error_code", 'node="laptop", folder="docs"', "3x40"),
    ("btsync_folder_indexing", 'node="nas", folder="/volume1/photos"', "0x40"),
    ("btsync_folder_indexing", 'node="laptop", folder="/home/ann/Photos"', "1x40"),
    ("btsync_folder_indexing", 'node="nas", folder="/volume1/docs"', "0x40"),
    ("btsync_folder_indexing", 'node="laptop", folder="docs"', "0x40"),
    ("btsync_folder_peers", 'node="nas", folder="/volume1/photos", connection="direct"', "1x40"),
    ("btsync_folder_peers", 'node="nas", folder="/volume1/photos", connection="relay"', "0x40"),
    (
        "btsync_folder_peers",
        'node="laptop", folder="/home/ann/Photos", connection="direct"',
        "1x40",
    ),
    ("btsync_folder_peers", 'node="laptop", folder="/home/ann/Photos", connection="relay"', "1x40"),
    ("btsync_folder_peers", 'node="nas", folder="/volume1/docs", connection="direct"', "0x40"),
    ("btsync_folder_peers", 'node="nas", folder="/volume1/docs", connection="relay"', "0x40"),
    ("btsync_folder_peers", 'node="laptop", folder="docs", connection="direct"', "0x40"),
    ("btsync_folder_peers", 'node="laptop", folder="docs", connection="relay"', "1x40"),
    *(
        series
        for node, folder, peer, name, connection, synced in (
            ("nas", "/volume1/photos", "P1", "laptop", "direct", 200),
            ("laptop", "/home/ann/Photos", "P2", "nas", "direct", 250),
            ("laptop", "/home/ann/Photos", "P3", "phone", "relay", 0),
            ("laptop", "docs", "P4", "phone", "relay", 100),
        )
        for series in (
            (
                "btsync_peer_info",
                f'node="{node}", folder="{folder}", peer_id="{peer}", name="{name}", '
                f'connection="{connection}"',
                "1x40",
            ),
            (
                "btsync_peer_download_bytes_total",
                f'node="{node}", folder="{folder}", peer_id="{peer}"',
                "0+1500x40",
            ),
            (
                "btsync_peer_upload_bytes_total",
                f'node="{node}", folder="{folder}", peer_id="{peer}"',
                "0+1500x40",
            ),
            (
                "btsync_peer_last_synced_timestamp_seconds",
                f'node="{node}", folder="{folder}", peer_id="{peer}"',
                f"{synced}x40",
            ),
        )
    ),
    (
        "btsync_exporter_api_requests_total",
        'node="nas", method="get_folders", outcome="success"',
        "0+30x40",
    ),
    (
        "btsync_exporter_api_requests_total",
        'node="laptop", method="get_folders", outcome="success"',
        "0+30x40",
    ),
    (
        "btsync_exporter_api_requests_total",
        'node="cold", method="get_version", outcome="connect_error"',
        "0+15x40",
    ),
    *(
        (
            "btsync_exporter_api_request_duration_seconds_bucket",
            f'node="nas", method="get_folders", le="{le}"',
            f"0+{count}x40",
        )
        for le, count in (("0.1", 20), ("1", 30), ("+Inf", 30))
    ),
    (
        "btsync_exporter_api_request_duration_seconds_sum",
        'node="nas", method="get_folders"',
        "0+3x40",
    ),
    (
        "btsync_exporter_api_request_duration_seconds_count",
        'node="nas", method="get_folders"',
        "0+30x40",
    ),
    (
        "btsync_exporter_node_scrape_failures_total",
        'node="cold", reason="connect_error"',
        "0+15x40",
    ),
    ("btsync_exporter_build_info", 'version="0.1.0"', "1x40"),
    ("btsync_exporter_config_last_reload_successful", "", "1x40"),
    ("up", "", "1x40"),
)

#: Alert series are Prometheus' own and carry only the alert's labels.
ALERT_SERIES = (
    'ALERTS{alertname="BTSyncFolderOutOfSync", alertstate="firing", severity="warning", '
    'node="laptop", folder="/home/ann/Photos"}'
)


def input_series() -> list[dict[str, str]]:
    """Return promtool input_series for SERIES plus the alert."""
    out = []
    for metric, labels, values in SERIES:
        inner = f"{TARGET}, {labels}" if labels else TARGET
        out.append({"series": f"{metric}{{{inner}}}", "values": values})
    out.append({"series": ALERT_SERIES, "values": "1x40"})
    return out


def missing_label(expr: str, label: str) -> str:
    """Return a query for the series of ``expr`` that lack ``label`` (empty means none)."""
    return (
        f'label_replace({expr}, "legend_ok", "yes", "{label}", ".+")'
        ' unless on (legend_ok) label_replace(vector(1), "legend_ok", "yes", "", "")'
    )


def required_labels(query: PanelQuery) -> tuple[str, ...]:
    """Return the labels every series of ``query`` must carry for its panel to read well.

    Legends read their placeholders; a table's first query defines its rows and must carry
    every label column (later queries only add value columns to those rows).
    """
    if query.kind == "table":
        return query.columns if query.ref == "A" else ()
    return query.legend_labels


def find(queries: list[PanelQuery], dashboard: str, panel: str, ref: str = "A") -> PanelQuery:
    """Return one query by dashboard file stem, panel title and refId."""
    for query in queries:
        if query.dashboard == f"{dashboard}.json" and query.panel == panel and query.ref == ref:
            return query
    raise LookupError(f"no query {dashboard}/{panel}/{ref}")


def run_promtool(promtool: Path, args: list[str], document: Mapping[str, Any], tmp: Path) -> str:
    """Write ``document`` as YAML, run promtool on it, and return its output if it passed."""
    path = tmp / "dashboards.yml"
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [str(promtool), *args, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_every_query_parses(promtool: Path, queries: list[PanelQuery], tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query:{i}", "expr": substitute(q.expr, ALL, RATE_INTERVAL)}
        for i, q in enumerate(queries)
    ]
    document = {"groups": [{"name": "dashboards", "interval": "1m", "rules": rules}]}
    output = run_promtool(promtool, ["check", "rules"], document, tmp_path)
    assert f"SUCCESS: {len(queries)} rules found" in output


def test_promtool_catches_a_broken_query(promtool: Path, tmp_path: Path) -> None:
    """The check above is only worth something if a typo fails it."""
    document = {
        "groups": [
            {
                "name": "x",
                "interval": "1m",
                "rules": [{"record": "x:y:1", "expr": "sum by (node (btsync_up)"}],
            }
        ]
    }
    with pytest.raises(AssertionError, match="parse error"):
        run_promtool(promtool, ["check", "rules"], document, tmp_path)


def test_every_query_returns_series_with_its_legend_labels(
    promtool: Path, queries: list[PanelQuery], tmp_path: Path
) -> None:
    expr_tests: list[dict[str, Any]] = []
    for query in queries:
        expr = substitute(query.expr, ALL, RATE_INTERVAL)
        expr_tests.append(
            {
                "expr": f"clamp_max(count({expr}), 1)",
                "eval_time": EVAL_TIME,
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        )
        for label in required_labels(query):
            expr_tests.append(
                {"expr": missing_label(expr, label), "eval_time": EVAL_TIME, "exp_samples": []}
            )
    document = {
        "rule_files": [],
        "evaluation_interval": "15s",
        "tests": [
            {
                "name": "every dashboard query on contract-shaped series",
                "interval": "15s",
                "input_series": input_series(),
                "promql_expr_test": expr_tests,
            }
        ],
    }
    run_promtool(promtool, ["test", "rules"], document, tmp_path)


def test_the_legend_check_catches_a_dropped_label(promtool: Path, tmp_path: Path) -> None:
    """A legend printing {{node}} over a query that aggregates node away must fail."""
    expr = 'sum by (folder) (btsync_folder_size_bytes{job=~".+"})'
    document = {
        "rule_files": [],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": input_series(),
                "promql_expr_test": [
                    {"expr": missing_label(expr, "node"), "eval_time": EVAL_TIME, "exp_samples": []}
                ],
            }
        ],
    }
    with pytest.raises(AssertionError, match="got"):
        run_promtool(promtool, ["test", "rules"], document, tmp_path)


def sample(labels: str, value: float) -> dict[str, Any]:
    """Return one expected promtool sample."""
    return {"labels": f"{{{labels}}}", "value": value}


def test_the_numbers_that_matter(promtool: Path, queries: list[PanelQuery], tmp_path: Path) -> None:
    """Exact results for the queries whose joins and arithmetic carry the meaning."""
    photos = {**ALL, "folder": "/volume1/photos"}
    cases: list[tuple[PanelQuery, Mapping[str, str], list[dict[str, Any]]]] = [
        # Choosing a folder by one node's path shows every node holding it (folder_id).
        (
            find(queries, "btsync-folder-detail", "Size on each node"),
            photos,
            [
                sample('node="nas", folder="/volume1/photos"', 1000),
                sample('node="laptop", folder="/home/ann/Photos"', 800),
            ],
        ),
        (
            find(queries, "btsync-folder-detail", "Bytes behind the largest copy"),
            photos,
            [
                sample('node="nas", folder="/volume1/photos"', 0),
                sample('node="laptop", folder="/home/ann/Photos"', 200),
            ],
        ),
        (
            find(queries, "btsync-fleet-overview", "Copies behind the largest copy", "B"),
            ALL,
            [
                sample('node="nas", folder="/volume1/photos", folder_id="f1"', 0),
                sample('node="laptop", folder="/home/ann/Photos", folder_id="f1"', 2),
                # laptop's docs copy is encrypted: not comparable, so not listed.
                sample('node="nas", folder="/volume1/docs", folder_id="f2"', 0),
                # laptop's music copy uses selective sync: not comparable either.
                sample('node="nas", folder="/volume1/music", folder_id="f3"', 0),
            ],
        ),
        (find(queries, "btsync-fleet-overview", "Folders out of sync"), ALL, [sample("", 1)]),
        (find(queries, "btsync-fleet-overview", "Folders in error"), ALL, [sample("", 1)]),
        (find(queries, "btsync-fleet-overview", "Folders without peers"), ALL, [sample("", 1)]),
        (find(queries, "btsync-fleet-overview", "Folders indexing"), ALL, [sample("", 1)]),
        (find(queries, "btsync-fleet-overview", "Nodes down"), ALL, [sample("", 1)]),
        (find(queries, "btsync-fleet-overview", "Firing BTSync alerts"), ALL, [sample("", 1)]),
        (
            find(queries, "btsync-fleet-overview", "API error ratio by node"),
            ALL,
            [sample('node="nas"', 0), sample('node="laptop"', 0), sample('node="cold"', 1)],
        ),
        (find(queries, "btsync-peers-transfers", "Relay share of peers"), ALL, [sample("", 0.5)]),
        # GUI-only signals: cellar's queue (5000 + 1000), its offline peer seen at 300 s,
        # and its volume, 96.8 MB free at 480 s and losing 6,666.7 B/s: -479.2 MB in 24h.
        (find(queries, "btsync-fleet-overview", "Bytes pending"), ALL, [sample("", 6000)]),
        (find(queries, "btsync-fleet-overview", "Folders paused"), ALL, [sample("", 1)]),
        (find(queries, "btsync-fleet-overview", "Peers offline"), ALL, [sample("", 1)]),
        (
            find(queries, "btsync-fleet-overview", "Free disk space", "B"),
            ALL,
            [sample('node="cellar", folder="/srv/Fotos"', -479200000)],
        ),
        (
            find(queries, "btsync-peers-transfers", "Known peers", "B"),
            ALL,
            [sample('node="cellar", folder="/srv/Fotos", peer_id="P6"', 180)],
        ),
        (
            find(queries, "btsync-peers-transfers", "Relay share of traffic"),
            ALL,
            [sample("", 0.5)],
        ),
        (
            find(queries, "btsync-peers-transfers", "Peers by age of last completed sync", "A"),
            ALL,
            [sample("", 3)],
        ),
        (
            find(queries, "btsync-peers-transfers", "Peers by age of last completed sync", "E"),
            ALL,
            [sample("", 1)],
        ),
        (
            find(queries, "btsync-peers-transfers", "Download from each peer"),
            {**ALL, "node": "nas"},
            [sample('node="nas", folder="/volume1/photos", peer_id="P1", name="laptop"', 100)],
        ),
    ]
    document = {
        "rule_files": [],
        "evaluation_interval": "15s",
        "tests": [
            {
                "name": "exact values",
                "interval": "15s",
                "input_series": input_series(),
                "promql_expr_test": [
                    {
                        "expr": substitute(query.expr, values, RATE_INTERVAL),
                        "eval_time": EVAL_TIME,
                        "exp_samples": expected,
                    }
                    for query, values, expected in cases
                ],
            }
        ],
    }
    run_promtool(promtool, ["test", "rules"], document, tmp_path)
