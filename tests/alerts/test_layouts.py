"""Every alert fires in every supported scrape layout (alerts/tests/layout-*.yml).

promtool runs those files with the others (test_promtool.py); here: they are what
tests/alerts/layouts.py generates, they cover every alert, and they label series the way
the chart's monitors actually do.
"""

from __future__ import annotations

import pytest

from sync_exporter.alerting import ALERT_NAMES
from tests.alerts.conftest import ROOT
from tests.alerts.layouts import EXPECTED, LAYOUTS, Layout, path_of, render

CHART = ROOT / "helm" / "sync-exporter" / "templates"


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_the_committed_layout_file_is_current(layout: Layout) -> None:
    path = path_of(layout)
    assert path.exists(), f"{path.name} missing: run python -m tests.alerts.layouts"
    assert path.read_text(encoding="utf-8") == render(layout), (
        f"{path.name} is stale: run python -m tests.alerts.layouts"
    )


def test_every_alert_is_expected_to_fire_in_the_layouts() -> None:
    assert {alert for alert, _, _ in EXPECTED} == set(ALERT_NAMES)


def test_the_chart_layouts_match_the_chart_monitors() -> None:
    """The chart sets job (jobLabel) on every endpoint and instance=<node> on /probe ones."""
    service = (CHART / "servicemonitor.yaml").read_text(encoding="utf-8")
    pods = (CHART / "podmonitor.yaml").read_text(encoding="utf-8")
    scrape = (CHART / "scrapeconfig.yaml").read_text(encoding="utf-8")
    # The per-node /probe endpoints and the /metrics endpoint; the /sd ScrapeConfig's targets.
    assert service.count('include "sync-exporter.jobRelabeling"') == 2
    assert scrape.count('include "sync-exporter.jobRelabeling"') == 1
    assert "targetLabel: instance" in service
    assert "port: http-metrics" in service
    assert "port: btsync-metrics" in pods
    assert "targetLabel: instance" not in pods
