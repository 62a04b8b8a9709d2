"""The dashboard-linter rules, ported, plus our own: what a user importing the JSON relies on.

Rule names follow grafana/dashboard-linter where one exists (template-datasource-rule,
panel-units-rule, target-rate-interval-rule, ...). Exceptions are data, each with its
reason, never a skipped panel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.dashboards import build_all
from sync_exporter.dashboards.promql import DISK_TREND_WINDOW
from tests.dashboards.inspect import PanelQuery, field_refs, table_columns, variables_used

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "grafana"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
FILTER_VARIABLES = ("job", "node", "folder")

#: Grafana unit ids our panels may use (all exist in Grafana's unit catalogue).
VALID_UNITS = frozenset(
    {"none", "short", "bytes", "decbytes", "Bps", "binBps", "s", "ms", "dtdurations"}
    | {"percentunit", "percent", "reqps", "ops", "dateTimeAsIso", "dateTimeFromNow"}
)

#: Metrics exempt from target-job-rule, with the reason.
NO_JOB_MATCHER = {
    "ALERTS": "alert series carry the alert's own labels; an aggregated rule drops job",
}

#: Metrics exempt from the node matcher (our target-instance-rule), with the reason.
NO_NODE_MATCHER = {
    "ALERTS": "not every BTSync alert is about one node (e.g. the exporter being down)",
    "up": "the exporter's scrape target, not a Sync node",
    "btsync_exporter_build_info": "one per exporter process, no node label",
    "btsync_exporter_config_last_reload_successful": "one per exporter process, no node label",
    "btsync_exporter_api_request_duration_seconds_bucket": "by method only, fleet-wide",
}

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
    | {"and", "or", "unless", "offset", "inf", "nan"}
)
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)")
_SELECTOR = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def metric_names(expr: str) -> set[str]:
    """Return the metric names an expression selects (functions and labels excluded)."""
    text = _strip_strings(expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if match.group(1) not in _KEYWORDS and not rest.startswith("("):
            names.add(match.group(1))
    return names


def selectors(expr: str) -> list[tuple[str, str]]:
    """Return every ``metric{matchers}`` as (metric, matcher text)."""
    return _SELECTOR.findall(expr)


def enclosing_function(expr: str, position: int) -> str | None:
    """Return the name of the innermost function call around ``position``, if any."""
    depth = 0
    for i in range(position - 1, -1, -1):
        if expr[i] == ")":
            depth += 1
        elif expr[i] == "(":
            if depth == 0:
                match = re.search(r"([a-zA-Z_]\w*)\s*$", expr[:i])
                return match.group(1) if match else None
            depth -= 1
    return None


def panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the dashboard's panels other than rows."""
    return [p for p in dashboard["panels"] if p["type"] != "row"]


# --- freshness -------------------------------------------------------------------


def test_committed_json_is_the_builders_output() -> None:
    built = build_all()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in GRAFANA_DIR.glob("*.json")}
    assert set(on_disk) == set(built), "run: python -m sync_exporter.dashboards"
    for name, text in built.items():
        assert on_disk[name] == text, f"{name} is stale: run python -m sync_exporter.dashboards"


def test_there_are_the_three_dashboards(committed: dict[str, dict[str, Any]]) -> None:
    titles = {d["title"] for d in committed.values()}
    assert {
        "BTSync / Fleet overview",
        "BTSync / Folder detail",
        "BTSync / Peers and transfers",
    } <= titles


# --- identity and import -------------------------------------------------------


def test_uids_are_short_unique_and_stable(committed: dict[str, dict[str, Any]]) -> None:
    uids = [d["uid"] for d in committed.values()]
    assert len(set(uids)) == len(uids)
    for name, dashboard in committed.items():
        assert 0 < len(dashboard["uid"]) <= 40, name
        assert re.fullmatch(r"[a-z0-9-]+", dashboard["uid"]), name
        assert dashboard["uid"] == name.removesuffix(".json"), "uid follows the file name"


def test_no_import_inputs_or_fixed_datasources(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        text = json.dumps(dashboard)
        assert "__inputs" not in dashboard, name
        assert "__requires" not in dashboard, name
        assert "DS_" not in text, f"{name}: an import-time ${{DS_...}} input"
        assert dashboard.get("id") is None, f"{name}: a fixed numeric id breaks provisioning"


def test_uneditable_utc_and_tagged(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        assert dashboard["editable"] is False, name
        assert dashboard["timezone"] == "utc", name
        assert "btsync" in dashboard["tags"], name
        assert dashboard["title"].startswith("BTSync / "), name


# --- templating ------------------------------------------------------------------


def test_template_datasource_rule(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        found = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
        assert len(found) == 1, name
        assert found[0]["name"] == "datasource", name
        assert found[0]["label"] == "Data Source", name
        assert found[0]["query"] == "prometheus", name


@pytest.mark.parametrize("variable", FILTER_VARIABLES)
def test_template_filter_variables(committed: dict[str, dict[str, Any]], variable: str) -> None:
    """template-job-rule / template-instance-rule, applied to job, node and folder."""
    for name, dashboard in committed.items():
        found = [v for v in dashboard["templating"]["list"] if v["name"] == variable]
        assert len(found) == 1, f"{name}: no {variable} variable"
        var = found[0]
        assert var["type"] == "query", name
        assert var["datasource"] == DATASOURCE, name
        assert var["label"] == variable, name
        assert var["multi"] is True, name
        assert var["includeAll"] is True, name
        assert var["allValue"] == ".+", name
        # template-on-time-change-reload-rule: values follow the chosen time range.
        assert var["refresh"] == 2, name
        assert var["query"] == var["definition"], name
        assert var["query"].startswith("label_values("), name
        assert var["query"].endswith(f", {variable})"), name


def test_variables_chain_job_node_folder(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        order = [v["name"] for v in dashboard["templating"]["list"]]
        assert order == ["datasource", *FILTER_VARIABLES], name
        by_name = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert '"$job"' in by_name["node"]["definition"], name
        assert '"$node"' in by_name["folder"]["definition"], name


# --- panels ----------------------------------------------------------------------


def test_panel_datasource_rule(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        for panel in panels(dashboard):
            assert panel["datasource"] == DATASOURCE, f"{name}: {panel['title']}"
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, f"{name}: {panel['title']}"


def test_panel_title_description_rule(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        for panel in dashboard["panels"]:
            assert panel["title"].strip(), name
            if panel["type"] != "row":
                assert len(panel["description"].strip()) >= 20, f"{name}: {panel['title']}"


def test_panel_units_rule(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        for panel in panels(dashboard):
            where = f"{name}: {panel['title']}"
            assert panel["fieldConfig"]["defaults"].get("unit") in VALID_UNITS, where
            for override in panel["fieldConfig"]["overrides"]:
                for prop in override["properties"]:
                    if prop["id"] == "unit":
                        assert prop["value"] in VALID_UNITS, where


def test_panel_no_targets_rule(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        for panel in panels(dashboard):
            assert panel["targets"], f"{name}: {panel['title']}"
            assert all(t["expr"].strip() for t in panel["targets"]), f"{name}: {panel['title']}"


def test_panel_ids_unique_and_grid_without_overlap(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(set(ids)) == len(ids), name
        cells: dict[tuple[int, int], str] = {}
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0, panel["title"]
            assert pos["w"] > 0, panel["title"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_graph_legends_are_set(committed: dict[str, dict[str, Any]]) -> None:
    """A time series or bar without a legend shows raw label sets: unreadable."""
    for name, dashboard in committed.items():
        for panel in panels(dashboard):
            if panel["type"] in ("timeseries", "bargauge", "state-timeline"):
                for target in panel["targets"]:
                    assert target["legendFormat"].strip(), f"{name}: {panel['title']}"


def test_table_queries_are_instant_tables(committed: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in committed.items():
        for panel in panels(dashboard):
            if panel["type"] == "table":
                assert table_columns(panel), f"{name}: {panel['title']} shows no label"
                for target in panel["targets"]:
                    assert target["format"] == "table", name
                    assert target["instant"] is True, name


# --- queries ---------------------------------------------------------------------


def test_target_rate_interval_rule(queries: list[PanelQuery]) -> None:
    """Ranges follow Grafana's rate interval, except the free-space trend.

    A trend over one rate interval is noise; the dashboards draw the trend
    BTSyncDiskSpaceLow alerts on, over the alert's own look-back.
    """
    trend = re.compile(
        r"predict_linear\(btsync_folder_disk_free_bytes\{[^}]*\}\[" + DISK_TREND_WINDOW + r"\], "
    )
    for query in queries:
        ranges = re.findall(r"\[([^\]]*)\]", trend.sub("", query.expr))
        assert all(r == "$__rate_interval" for r in ranges), query.id
        for match in re.finditer(r"\b(rate|irate|increase)\s*\(", query.expr):
            assert "[$__rate_interval]" in query.expr[match.end() :], query.id


def test_target_counter_agg_rule(queries: list[PanelQuery]) -> None:
    """A counter's raw value means nothing to a reader: it must go through rate()."""
    for query in queries:
        text = _strip_strings(query.expr)
        for match in _SELECTOR.finditer(text):
            if match.group(1).endswith(("_total", "_bucket", "_sum", "_count")):
                assert enclosing_function(text, match.start()) == "rate", query.id


def test_target_job_rule(queries: list[PanelQuery]) -> None:
    for query in queries:
        for metric, matchers in selectors(query.expr):
            if metric not in NO_JOB_MATCHER:
                assert 'job=~"$job"' in matchers, f"{query.id}: {metric}"


def test_target_node_rule(queries: list[PanelQuery]) -> None:
    for query in queries:
        for metric, matchers in selectors(query.expr):
            if metric not in NO_NODE_MATCHER:
                assert 'node=~"$node"' in matchers, f"{query.id}: {metric}"


def test_every_metric_is_selected_with_matchers(queries: list[PanelQuery]) -> None:
    for query in queries:
        with_braces = {metric for metric, _ in selectors(query.expr)}
        assert metric_names(query.expr) == with_braces, query.id


def test_metrics_are_in_the_contract(
    queries: list[PanelQuery], contract: Mapping[str, tuple[str, ...]]
) -> None:
    used: set[str] = set()
    for query in queries:
        names = metric_names(query.expr)
        assert names, f"{query.id} selects no metric"
        assert names <= set(contract), f"{query.id}: {sorted(names - set(contract))}"
        used |= names
    for metric, matchers in (s for q in queries for s in selectors(q.expr)):
        if metric == "ALERTS":
            assert 'alertname=~"BTSync.*"' in matchers, "only our own alerts"
    # The dashboards show the whole contract; a histogram is read through its buckets.
    assert set(contract) - used == {
        "btsync_exporter_api_request_duration_seconds_sum",
        "btsync_exporter_api_request_duration_seconds_count",
    }


def test_metric_name_extraction_ignores_labels_and_functions() -> None:
    """The rules above are only as good as this parser; pin what it must not confuse."""
    expr = (
        'sum by (node, folder) (rate(a_total{job=~"$job", x="b{c}"}[$__rate_interval]))'
        ' * on (node) group_left (name) max by (node, name) (b_info{job=~"$job"}) > 0.5'
        " or vector(0)"
    )
    assert metric_names(expr) == {"a_total", "b_info"}
    assert [m for m, _ in selectors(expr)] == ["a_total", "b_info"]
    assert enclosing_function(_strip_strings(expr), expr.index("a_total")) == "rate"
    assert enclosing_function("sum(a_total{})", 4) == "sum"
    assert enclosing_function("a_total{}", 0) is None


# --- links -----------------------------------------------------------------------


def test_dashboards_link_to_each_other_with_variables(
    committed: dict[str, dict[str, Any]],
) -> None:
    for name, dashboard in committed.items():
        links = [link for link in dashboard["links"] if link["type"] == "dashboards"]
        assert links, name
        for link in links:
            assert link["includeVars"] is True, name
            assert link["keepTime"] is True, name
            # The link lists every dashboard with its tags: all of ours, this one included.
            for other in committed.values():
                assert set(link["tags"]) <= set(other["tags"]), other["title"]


def test_data_links_open_existing_dashboards_with_context(
    committed: dict[str, dict[str, Any]],
) -> None:
    uids = {d["uid"] for d in committed.values()}
    seen = 0
    for name, dashboard in committed.items():
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        for panel in panels(dashboard):
            columns = set(table_columns(panel))
            assert field_refs(panel) <= columns, f"{name}: {panel['title']}"
            for override in panel["fieldConfig"]["overrides"]:
                for prop in override["properties"]:
                    if prop["id"] != "links":
                        continue
                    for link in prop["value"]:
                        seen += 1
                        url = link["url"]
                        match = re.match(r"/d/([a-z0-9-]+)/\?", url)
                        assert match, url
                        assert match.group(1) in uids, url
                        assert "${__url_time_range}" in url, url
                        set_vars = set(re.findall(r"var-(\w+)=", url))
                        set_vars |= {
                            v for v in variables_used(url) if v in variables
                        }  # ${job:queryparam} sets var-job
                        assert {"datasource", "job"} <= set_vars, url
                        assert set_vars <= variables, url
    assert seen >= 3
