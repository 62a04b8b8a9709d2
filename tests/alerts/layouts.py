"""One fleet with every problem, labelled as each supported scrape layout labels it.

Prometheus gives a series its ``job`` and ``instance`` (and, under the Prometheus
Operator, ``namespace``, ``pod``, ...) from the scrape, not from the exporter, so a rule
that joins two series can work in one layout and never fire in another (a join on
``instance`` did, with ``/probe``). This module writes ``alerts/tests/layout-*.yml``:
the same fleet, one file per layout, each asserting with promtool that every alert fires
for exactly the expected node and folder. The labels per layout follow the README's
scrape configs and the chart's ServiceMonitor/PodMonitor (docs/alerts.md, docs/kubernetes.md).

Regenerate with ``python -m tests.alerts.layouts``; ``test_layouts.py`` fails when a
committed file differs from what this module writes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "alerts" / "tests"

#: Samples and evaluations every 5m; everything fires by EVAL (PeerNotSynced needs 48h).
STEP = "5m"
SAMPLES = 620
EVAL = "3000m"

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class Series:
    """A series as the exporter writes it; ``source`` says which scrape carries it.

    ``source`` is ``node`` (a node's data: ``/metrics``, or ``/probe?target=<node>``),
    ``self`` (the exporter's own counters) or ``up`` (Prometheus' target health).
    """

    source: str
    metric: str
    labels: Mapping[str, str]
    values: str


def _node(metric: str, node: str, values: str, **labels: str) -> Series:
    return Series("node", metric, {"node": node, **labels}, values)


def _folder(metric: str, node: str, folder: str, values: str, **labels: str) -> Series:
    return _node(metric, node, values, folder=folder, **labels)


FLAT = f"1x{SAMPLES}"


def fleet() -> list[Series]:
    """Five v1 nodes and one GUI node; each alert has exactly one cause (two for Stalled)."""
    s: list[Series] = []
    versions = {
        "nas": ("1.4.111", "v1"),
        "office": ("1.4.106", "v1"),
        "laptop": ("1.4.111", "v1"),
        "cellar": ("3.1.2", "gui"),
    }
    for node, (version, api) in versions.items():
        s.append(_node("btsync_up", node, FLAT))
        s.append(_node("btsync_node_info", node, FLAT, version=version, os="linux", api=api))
    s.append(_node("btsync_up", "pi", f"0x{SAMPLES}"))  # NodeDown
    # /data: office's read-only copy is behind nas and nothing moves (Stalled on both,
    # OutOfSync on office)
    for node, kind, size in (("nas", "read_write", 2000), ("office", "read_only", 1000)):
        info = {"folder_id": "f1", "type": kind, "selective": "false"}
        s.append(_folder("btsync_folder_info", node, "/data", FLAT, **info))
        s.append(_folder("btsync_folder_size_bytes", node, "/data", f"{size}x{SAMPLES}"))
        s.append(_folder("btsync_folder_files", node, "/data", f"{size // 100}x{SAMPLES}"))
        s.append(_folder("btsync_folder_peers", node, "/data", FLAT, connection="direct"))
        for counter in ("btsync_peer_download_bytes_total", "btsync_peer_upload_bytes_total"):
            s.append(_folder(counter, node, "/data", f"500x{SAMPLES}", peer_id="P-other"))
    # /docs on nas: changed at 100m, its peer last synced at 10m (PeerNotSynced); bytes move
    s.append(
        _folder(
            "btsync_folder_info",
            "nas",
            "/docs",
            FLAT,
            folder_id="f2",
            type="read_write",
            selective="false",
        )
    )
    s.append(_folder("btsync_folder_size_bytes", "nas", "/docs", f"1000x19 1200x{SAMPLES - 20}"))
    s.append(_folder("btsync_folder_files", "nas", "/docs", f"10x{SAMPLES}"))
    s.append(_folder("btsync_folder_peers", "nas", "/docs", FLAT, connection="relay"))
    peer = {"peer_id": "P-office"}
    s.append(
        _folder(
            "btsync_peer_info", "nas", "/docs", FLAT, name="office-pc", connection="relay", **peer
        )
    )
    s.append(
        _folder(
            "btsync_peer_last_synced_timestamp_seconds", "nas", "/docs", f"600x{SAMPLES}", **peer
        )
    )
    s.append(_folder("btsync_peer_upload_bytes_total", "nas", "/docs", f"0+1000x{SAMPLES}", **peer))
    # /solo on nas: no peer (NoPeers); /err on nas: error 101 (FolderError)
    s.append(_folder("btsync_folder_peers", "nas", "/solo", f"0x{SAMPLES}", connection="direct"))
    s.append(_folder("btsync_folder_peers", "nas", "/err", FLAT, connection="direct"))
    s.append(_folder("btsync_folder_error_code", "nas", "/err", f"101x{SAMPLES}"))
    # /music on laptop: indexing, frozen (IndexingStuck)
    s.append(_folder("btsync_folder_peers", "laptop", "/music", FLAT, connection="direct"))
    s.append(_folder("btsync_folder_indexing", "laptop", "/music", FLAT))
    s.append(_folder("btsync_folder_files", "laptop", "/music", f"50x{SAMPLES}"))
    s.append(_folder("btsync_folder_size_bytes", "laptop", "/music", f"5000x{SAMPLES}"))
    # cellar (GUI): /proj's queue never shrinks (Stalled, exact), /fotos paused (Paused,
    # and not NoPeers), /proj's volume fills (DiskSpaceLow: full within 24h from 2560m on)
    s.append(
        _folder(
            "btsync_folder_info",
            "cellar",
            "/proj",
            FLAT,
            folder_id="f3",
            type="read_only",
            selective="false",
        )
    )
    s.append(_folder("btsync_folder_peers", "cellar", "/proj", FLAT, connection="direct"))
    for direction, size in (("download", 5000), ("upload", 0)):
        s.append(
            _folder(
                "btsync_folder_pending_bytes",
                "cellar",
                "/proj",
                f"{size}x{SAMPLES}",
                direction=direction,
            )
        )
        s.append(
            _folder(
                "btsync_folder_pending_files",
                "cellar",
                "/proj",
                f"{size // 1000}x{SAMPLES}",
                direction=direction,
            )
        )
    s.append(_folder("btsync_folder_paused", "cellar", "/proj", f"0x{SAMPLES}"))
    s.append(
        _folder(
            "btsync_folder_disk_free_bytes", "cellar", "/proj", f"400000000000-500000000x{SAMPLES}"
        )
    )
    s.append(
        _folder("btsync_folder_peers", "cellar", "/fotos", f"0x{SAMPLES}", connection="direct")
    )
    s.append(_folder("btsync_folder_paused", "cellar", "/fotos", FLAT))
    # the exporter's own counters: laptop's requests keep timing out while it is up
    # (ScrapeErrors); pi's fail because it is down (NodeDown's job, not ScrapeErrors)
    requests = "btsync_exporter_api_requests_total"
    s.append(
        Series(
            "self",
            requests,
            {"node": "laptop", "method": "get_folder_peers", "outcome": "timeout"},
            f"0+1x{SAMPLES}",
        )
    )
    s.append(
        Series(
            "self",
            requests,
            {"node": "laptop", "method": "get_folders", "outcome": "success"},
            f"0+2x{SAMPLES}",
        )
    )
    s.append(
        Series(
            "self",
            requests,
            {"node": "pi", "method": "get_version", "outcome": "connect_error"},
            f"0+1x{SAMPLES}",
        )
    )
    s.append(
        Series(
            "self",
            "btsync_exporter_node_scrape_failures_total",
            {"node": "pi", "reason": "connect_error"},
            f"0+1x{SAMPLES}",
        )
    )
    return s


#: (alertname, node, folder) that must fire at EVAL, in every layout; "" = no such label.
EXPECTED: tuple[tuple[str, str, str], ...] = (
    ("BTSyncExporterDown", "", ""),
    ("BTSyncNodeDown", "pi", ""),
    ("BTSyncFolderError", "nas", "/err"),
    ("BTSyncFolderIndexingStuck", "laptop", "/music"),
    ("BTSyncFolderNoPeers", "nas", "/solo"),
    ("BTSyncFolderPaused", "cellar", "/fotos"),
    ("BTSyncFolderStalled", "nas", "/data"),
    ("BTSyncFolderStalled", "office", "/data"),
    ("BTSyncFolderStalled", "cellar", "/proj"),
    ("BTSyncFolderOutOfSync", "office", "/data"),
    ("BTSyncPeerNotSynced", "nas", "/docs"),
    ("BTSyncDiskSpaceLow", "cellar", "/proj"),
    ("BTSyncExporterScrapeErrors", "laptop", ""),
    ("BTSyncVersionMismatch", "", ""),
)

NODES = ("nas", "office", "laptop", "cellar", "pi")


@dataclass(frozen=True, slots=True)
class Layout:
    """How one way of scraping labels the three kinds of series."""

    name: str
    description: str
    #: Target labels of a node's series (``node`` is the node's name).
    node_target: Callable[[str], Labels]
    #: Target labels of the exporter's own series about node ``node``.
    self_target: Callable[[str], Labels]
    #: Every ``up`` series: (target labels, values); one of them is a dead target.
    ups: tuple[tuple[Labels, str], ...]


_STATIC = {"job": "btsync", "instance": "localhost:9888"}
_PROBE_SELF = {"job": "btsync-self", "instance": "localhost:9888"}
#: Target labels the Prometheus Operator adds to a ServiceMonitor's targets.
_SERVICE = {
    "namespace": "sync",
    "service": "sync-exporter",
    "pod": "sync-exporter-6f7c9d5b8-x2x4k",
    "container": "sync-exporter",
    "endpoint": "http-metrics",
}
_POD_IP = "10.42.0.7:9888"


def _sidecar(node: str) -> Labels:
    """Sidecar mode: the exporter in each Sync pod; node = pod name (docs/kubernetes.md)."""
    address = f"10.42.1.{NODES.index(node) + 10}:9888"
    return {
        "job": "btsync",
        "instance": address,
        "namespace": "sync",
        "pod": node,
        "container": "sync-exporter",
        "endpoint": "btsync-metrics",
    }


DEAD = f"0x{SAMPLES}"
LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "static",
        "README's static /metrics job: every series from one target, the exporter.",
        lambda node: dict(_STATIC),
        lambda node: dict(_STATIC),
        ((dict(_STATIC), FLAT), ({"job": "btsync", "instance": "backup:9888"}, DEAD)),
    ),
    Layout(
        "probe",
        "README's multi-target jobs: /probe per node (instance = node) and the exporter's "
        "own /metrics (started with --no-metrics.nodes) as job btsync-self.",
        lambda node: {"job": "btsync-probe", "instance": node},
        lambda node: dict(_PROBE_SELF),
        (
            *(({"job": "btsync-probe", "instance": n}, FLAT) for n in NODES),
            ({"job": "btsync-probe", "instance": "attic"}, DEAD),
            (dict(_PROBE_SELF), FLAT),
        ),
    ),
    Layout(
        "chart-metrics",
        "Helm chart, standalone, ServiceMonitor on /metrics: job from jobLabel, instance "
        "the pod address, plus the Operator's namespace/service/pod/container/endpoint.",
        lambda node: {"job": "btsync", "instance": _POD_IP, **_SERVICE},
        lambda node: {"job": "btsync", "instance": _POD_IP, **_SERVICE},
        (
            ({"job": "btsync", "instance": _POD_IP, **_SERVICE}, FLAT),
            ({"job": "btsync", "instance": "10.42.0.8:9888", **_SERVICE}, DEAD),
        ),
    ),
    Layout(
        "chart-probe",
        "Helm chart, standalone, serviceMonitor.probe.enabled: one /probe endpoint per node "
        "(instance relabelled to the node) and one /metrics endpoint for the exporter's own "
        'metrics, all with job="btsync".',
        lambda node: {"job": "btsync", "instance": node, **_SERVICE},
        lambda node: {"job": "btsync", "instance": _POD_IP, **_SERVICE},
        (
            *(({"job": "btsync", "instance": n, **_SERVICE}, FLAT) for n in NODES),
            ({"job": "btsync", "instance": "attic", **_SERVICE}, DEAD),
            ({"job": "btsync", "instance": _POD_IP, **_SERVICE}, FLAT),
        ),
    ),
    Layout(
        "chart-probe-sd",
        "Helm chart, standalone, probe.discovery: sd: a ScrapeConfig reads the exporter's /sd "
        "(one /probe target per node, instance = the node, no pod labels: any replica "
        "answers) and the ServiceMonitor keeps the /metrics endpoint for the exporter's own "
        'metrics, all with job="btsync".',
        lambda node: {"job": "btsync", "instance": node},
        lambda node: {"job": "btsync", "instance": _POD_IP, **_SERVICE},
        (
            *(({"job": "btsync", "instance": n}, FLAT) for n in NODES),
            ({"job": "btsync", "instance": "attic"}, DEAD),
            ({"job": "btsync", "instance": _POD_IP, **_SERVICE}, FLAT),
        ),
    ),
    Layout(
        "chart-sidecar",
        "Helm chart, sidecar mode, PodMonitor: one exporter per Sync pod, node = pod name, "
        "instance the pod address.",
        _sidecar,
        _sidecar,
        (
            *((_sidecar(n), FLAT) for n in NODES),
            ({**_sidecar("pi"), "pod": "attic", "instance": "10.42.1.99:9888"}, DEAD),
        ),
    ),
)


def _selector(metric: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def _expected_samples() -> list[dict[str, object]]:
    samples = []
    for alert, node, folder in EXPECTED:
        labels = {"alertname": alert}
        if node:
            labels["node"] = node
        if folder:
            labels["folder"] = folder
        samples.append({"labels": _selector("", labels), "value": 1})
    return samples


def document(layout: Layout) -> dict[str, object]:
    """The promtool test file for ``layout``."""
    series = []
    for s in fleet():
        node = s.labels["node"]
        target = layout.node_target(node) if s.source == "node" else layout.self_target(node)
        series.append({"series": _selector(s.metric, {**target, **s.labels}), "values": s.values})
    for target, values in layout.ups:
        series.append({"series": _selector("up", target), "values": values})
    query = 'count by (alertname, node, folder) (ALERTS{alertstate="firing"})'
    return {
        "rule_files": ["../btsync.rules.yml"],
        "evaluation_interval": STEP,
        "tests": [
            {
                "name": f"every alert fires in the {layout.name} layout: {layout.description}",
                "interval": STEP,
                "input_series": series,
                "promql_expr_test": [
                    {"expr": query, "eval_time": EVAL, "exp_samples": _expected_samples()}
                ],
            }
        ],
    }


_HEADER = """\
# promtool unit test: every alert fires in the {name} layout.
# Generated by `python -m tests.alerts.layouts` (tests/alerts/layouts.py): regenerate
# instead of editing. {description}
"""


def render(layout: Layout) -> str:
    """The text of ``alerts/tests/layout-<name>.yml``."""
    body = yaml.safe_dump(document(layout), sort_keys=False, width=1_000_000, allow_unicode=True)
    return _HEADER.format(name=layout.name, description=layout.description) + body


def path_of(layout: Layout) -> Path:
    """Where ``layout``'s test file is committed."""
    return OUT / f"layout-{layout.name}.yml"


def main() -> int:
    """Write every layout's file."""
    for layout in LAYOUTS:
        path_of(layout).write_text(render(layout), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
