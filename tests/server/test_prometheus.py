"""A real Prometheus scrapes the exporter with the README's own scrape configs, both modes.

The two ```yaml blocks of README.md (``job_name: btsync`` and ``job_name: btsync-probe``)
are used as written, with only the addresses, node names and intervals substituted, so
a config a user copies from the README is the config that is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from sync_exporter.simulator.state import FaultMode
from tests.conftest import ServiceStarter
from tests.prometheus_api import query, start_prometheus, wait_for
from tests.server.conftest import Harness, healthy
from tests.server.readme import README_EXPORTER, readme_scrape_configs


def _substitute(job: dict[str, Any], *, exporter: str, targets: list[str]) -> dict[str, Any]:
    """Point a README job at the test exporter: short intervals, real targets and address."""
    job = dict(job)
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    (static,) = job["static_configs"]
    job["static_configs"] = [{**static, "targets": targets}]
    relabels = []
    for rule in job.get("relabel_configs", []):
        if rule.get("replacement") == README_EXPORTER:
            rule = {**rule, "replacement": exporter}
        relabels.append(rule)
    if relabels:
        job["relabel_configs"] = relabels
    return job


async def test_prometheus_scrapes_both_readme_configs(
    harness: Harness,
    prometheus_bin: Path,
    tmp_path: Path,
    start_service: ServiceStarter,
    free_port: Callable[[], int],
) -> None:
    up = healthy(harness.fleet)
    await harness.fleet.set_fault(up[0], FaultMode.DOWN)
    names = list(harness.fleet.nodes)
    server = harness.client.server
    exporter = f"{server.host}:{server.port}"

    jobs = readme_scrape_configs()
    config = {
        "scrape_configs": [
            _substitute(jobs["btsync"], exporter=exporter, targets=[exporter]),
            _substitute(jobs["btsync-probe"], exporter=exporter, targets=names),
        ]
    }

    async with (
        aiohttp.ClientSession() as session,
        start_prometheus(start_service, prometheus_bin, tmp_path, free_port(), config) as base,
    ):
        static = await wait_for(
            session, base, 'btsync_up{job="btsync"}', len(names), at_least=True, within=15.0
        )
        probe = await wait_for(
            session, base, 'btsync_up{job="btsync-probe"}', len(names), at_least=True, within=15.0
        )
        targets = await wait_for(session, base, "up", 1 + len(names), at_least=True)
        folders = await query(session, base, "count by (job) (btsync_folder_size_bytes)")
        exporter_metrics = await query(
            session, base, 'btsync_exporter_config_last_reload_successful{job="btsync"}'
        )

    assert {s["metric"]["node"]: s["value"][1] for s in static} == {
        n: "1" if n in up[1:] else "0" for n in names
    }
    # Multi-target mode: one target per node, the node name as instance.
    assert {s["metric"]["instance"] for s in probe} == set(names)
    assert all(s["metric"]["instance"] == s["metric"]["node"] for s in probe)
    assert {s["metric"]["node"]: s["value"][1] for s in probe} == {
        s["metric"]["node"]: s["value"][1] for s in static
    }
    assert all(s["value"][1] == "1" for s in targets), "every scrape must succeed, even a down node"
    assert {s["metric"]["job"] for s in folders} == {"btsync", "btsync-probe"}
    assert [s["value"][1] for s in exporter_metrics] == ["1"]
