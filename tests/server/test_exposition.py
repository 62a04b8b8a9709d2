"""The exposition as bytes: golden files, promtool's lint, and the generated metric docs.

Golden files hold the exact /metrics output for the demo scenario (seed 0, manual clock)
minus the series that cannot be deterministic (self-metrics, process metrics, scrape
durations). Review a golden diff like code; rewrite the files on purpose with::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/server/test_exposition.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from sync_exporter.metrics import METRICS
from sync_exporter.metrics_docs import REGENERATE_DOCS, metrics_markdown, with_readme_table
from tests.server.conftest import NONDETERMINISTIC_PREFIXES, Harness, parse_openmetrics

GOLDEN = Path(__file__).parent / "golden"
DOCS = Path(__file__).parents[2] / "docs" / "metrics.md"


def _deterministic(text: str) -> str:
    """Drop the lines (samples, HELP and TYPE) of series that vary from run to run."""
    kept = []
    for line in text.splitlines(keepends=True):
        words = line.split(" ")
        name = words[2] if line.startswith(("# HELP ", "# TYPE ", "# UNIT ")) else line
        if not name.startswith(NONDETERMINISTIC_PREFIXES):
            kept.append(line)
    return "".join(kept)


def _compare_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"/metrics differs from {path}; if the change is intended, rerun with UPDATE_GOLDEN=1 "
        "and review the diff"
    )


@pytest.mark.parametrize(
    ("accept", "golden"),
    [("", "demo.prom"), (openmetrics.CONTENT_TYPE_LATEST, "demo-openmetrics.prom")],
)
async def test_golden_exposition_of_the_demo_scenario(
    harness: Harness, accept: str, golden: str
) -> None:
    text = await harness.get_text("/metrics", headers={"Accept": accept} if accept else None)
    actual = _deterministic(text)
    _compare_golden(golden, actual)
    parse = parse_openmetrics if accept else text_string_to_metric_families
    families = list(parse(actual))
    assert {f.name for f in families} >= {"btsync_up", "btsync_folder_info", "btsync_peer_info"}
    assert all(s.timestamp is None for f in families for s in f.samples)


async def test_promtool_finds_nothing_to_complain_about(harness: Harness, promtool: Path) -> None:
    text = await harness.get_text("/metrics")
    assert "btsync_exporter_api_request_duration_seconds_bucket" in text
    assert "process_cpu_seconds_total" in text
    process = await asyncio.create_subprocess_exec(
        str(promtool),
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate(text.encode())
    assert output.decode() == ""
    assert process.returncode == 0


def test_docs_metrics_md_is_generated_from_the_table() -> None:
    assert DOCS.read_text(encoding="utf-8") == metrics_markdown(), (
        f"docs/metrics.md is stale: regenerate it with `.venv/bin/{REGENERATE_DOCS}`"
    )
    for metric in METRICS:
        assert f"`{metric.name}`" in metrics_markdown()


def test_readme_metrics_table_is_generated_from_the_table() -> None:
    readme = (DOCS.parents[1] / "README.md").read_text(encoding="utf-8")
    assert with_readme_table(readme) == readme, (
        f"README.md's metric table is stale: regenerate it with `.venv/bin/{REGENERATE_DOCS}`"
    )
    for metric in METRICS:
        assert f"| `{metric.name}` |" in readme


#: The fixed metric contract (docs/metrics.md): name -> (type, identity labels).
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "btsync_up": ("gauge", ("node",)),
    "btsync_scrape_duration_seconds": ("gauge", ("node",)),
    "btsync_node_info": ("gauge", ("node", "version", "os", "api")),
    "btsync_download_speed_bytes_per_second": ("gauge", ("node",)),
    "btsync_upload_speed_bytes_per_second": ("gauge", ("node",)),
    "btsync_folder_info": ("gauge", ("node", "folder", "folder_id", "type")),
    "btsync_folder_size_bytes": ("gauge", ("node", "folder")),
    "btsync_folder_files": ("gauge", ("node", "folder")),
    "btsync_folder_error_code": ("gauge", ("node", "folder")),
    "btsync_folder_indexing": ("gauge", ("node", "folder")),
    "btsync_folder_peers": ("gauge", ("node", "folder", "connection")),
    "btsync_peer_info": ("gauge", ("node", "folder", "peer_id", "name", "connection")),
    "btsync_peer_download_bytes_total": ("counter", ("node", "folder", "peer_id")),
    "btsync_peer_upload_bytes_total": ("counter", ("node", "folder", "peer_id")),
    "btsync_peer_last_synced_timestamp_seconds": ("gauge", ("node", "folder", "peer_id")),
    # What only the web GUI API gives (issue 8: names fixed).
    "btsync_folder_pending_bytes": ("gauge", ("node", "folder", "direction")),
    "btsync_folder_pending_files": ("gauge", ("node", "folder", "direction")),
    "btsync_folder_paused": ("gauge", ("node", "folder")),
    "btsync_folder_disk_free_bytes": ("gauge", ("node", "folder")),
    "btsync_peer_online": ("gauge", ("node", "folder", "peer_id")),
    "btsync_peer_last_seen_timestamp_seconds": ("gauge", ("node", "folder", "peer_id")),
}


def test_the_table_holds_the_fixed_contract() -> None:
    table = {m.name: m for m in METRICS}
    for name, (type_, labels) in CONTRACT.items():
        assert table[name].type == type_, name
        assert set(labels) <= set(table[name].labels), name
    others = [m.name for m in METRICS if m.name not in CONTRACT]
    assert all(name.startswith("btsync_exporter_") for name in others)


async def test_every_metric_in_the_output_is_in_the_table(harness: Harness) -> None:
    text = await harness.get_text("/metrics")
    names = {f.name for f in text_string_to_metric_families(text)}
    documented = {m.name for m in METRICS} | {m.name.removesuffix("_total") for m in METRICS}
    undocumented = {n for n in names if not n.startswith("process_")} - documented
    assert not undocumented
