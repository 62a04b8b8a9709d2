"""Policy over the committed rule file: what every alert must carry, and what its tests must show.

These are the checks the monitoring mixins leave to reviewers (and pint does for some):
required labels and annotations, runbook links that land on a real section, summaries
that read the same for every alert grouped under one name, every alert covered by
firing and silent promtool cases, and annotations that only use labels the expression
keeps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync_exporter.alerting import ALERT_NAMES, default_tunables
from sync_exporter.metrics import METRICS
from tests.alerts.promql_labels import infer_labels

_LABEL_USE = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
_GUARD = re.compile(
    r"\{\{ if \$labels\.(?P<label>\w+) \}\}(?P<then>.*?)\{\{ else \}\}(?P<other>.*?)\{\{ end \}\}",
    re.S,
)
#: Series only nodes read through the GUI API have (and node_info's ``api``), by label.
GUI_METRICS = {
    "btsync_node_info": frozenset({"node", "version", "os", "api"}),
    "btsync_folder_pending_bytes": frozenset({"node", "folder", "direction"}),
    "btsync_folder_pending_files": frozenset({"node", "folder", "direction"}),
    "btsync_folder_paused": frozenset({"node", "folder"}),
    "btsync_folder_disk_free_bytes": frozenset({"node", "folder"}),
    "btsync_peer_online": frozenset({"node", "folder", "peer_id"}),
}
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _millis(text: str) -> int:
    return sum(int(n) * _DURATION_MS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text))


def _github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _runbook_anchors(text: str) -> set[str]:
    return {_github_anchor(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def _cases(
    promtool_tests: list[tuple[Path, dict[str, Any]]],
) -> list[tuple[str, int, int, dict[str, Any]]]:
    """(group name, evaluation interval ms, eval time ms, alert_rule_test) for every case."""
    out = []
    for _, document in promtool_tests:
        interval = _millis(document.get("evaluation_interval", "1m"))
        for group in document["tests"]:
            for case in group.get("alert_rule_test", []):
                out.append((group["name"], interval, _millis(case["eval_time"]), case))
    return out


def test_the_file_defines_exactly_the_named_alerts(alert_rules: list[dict[str, Any]]) -> None:
    names = [rule["alert"] for rule in alert_rules]
    assert names == list(ALERT_NAMES)
    assert len(set(names)) == len(names)


def test_every_alert_has_severity_for_and_the_required_annotations(
    alert_rules: list[dict[str, Any]],
) -> None:
    for rule in alert_rules:
        name = rule["alert"]
        assert re.fullmatch(r"BTSync(?:[A-Z][a-z]+)+", name), name
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert _millis(rule["for"]) > 0, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"][0].isupper(), name
        assert annotations["summary"].endswith("."), name
        assert annotations["description"].strip(), name
        for key, value in rule["labels"].items():
            assert "{{" not in value, (name, key)  # $value in a label resets `for` on change


def test_summaries_read_the_same_for_every_alert_of_one_name(
    alert_rules: list[dict[str, Any]],
) -> None:
    """A summary is the headline of a grouped notification: no per-instance template in it."""
    for rule in alert_rules:
        assert "{{" not in rule["annotations"]["summary"], rule["alert"]


def test_every_runbook_url_lands_on_a_section_of_the_runbook(
    alert_rules: list[dict[str, Any]], runbook: str
) -> None:
    anchors = _runbook_anchors(runbook)
    base = default_tunables().runbook_url
    for rule in alert_rules:
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == base, url
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in docs/runbook.md"


def test_every_runbook_section_says_what_it_means_how_to_confirm_and_fix(runbook: str) -> None:
    sections = re.split(r"^## ", runbook, flags=re.M)
    by_name = {s.split("\n", 1)[0].strip(): s for s in sections}
    for name in ALERT_NAMES:
        section = by_name.get(name)
        assert section is not None, f"{name} has no section"
        for part in ("**Meaning.**", "**Confirm.**", "**Fix.**", "```promql"):
            assert part in section, f"{name}: no {part}"
        # a way to ask the node itself: API v1, or the GUI API for what only it reports
        assert "api?method=" in section or "/gui/?token=" in section, f"{name}: no node query"


def test_every_alert_has_a_firing_case_a_boundary_case_and_a_silent_near_miss(
    alert_rules: list[dict[str, Any]],
    promtool_tests: list[tuple[Path, dict[str, Any]]],
) -> None:
    firing: dict[str, set[tuple[str, int]]] = defaultdict(set)
    silent: dict[str, set[tuple[str, int]]] = defaultdict(set)
    interval_of: dict[str, int] = {}
    for group, interval, when, case in _cases(promtool_tests):
        target = firing if case.get("exp_alerts") else silent
        target[case["alertname"]].add((group, when))
        interval_of[group] = interval
    for rule in alert_rules:
        name = rule["alert"]
        assert firing[name], f"{name}: no promtool case where it fires"
        boundary = [
            (group, when)
            for group, when in firing[name]
            if (group, when - interval_of[group]) in silent[name]
        ]
        assert boundary, f"{name}: no silent case one evaluation before a firing one"
        fire_groups = {group for group, _ in firing[name]}
        near_misses = {group for group, _ in silent[name]} - fire_groups
        assert near_misses, f"{name}: no group where it must stay silent throughout"


def test_firing_cases_assert_severity_and_every_annotation(
    alert_rules: list[dict[str, Any]],
    promtool_tests: list[tuple[Path, dict[str, Any]]],
) -> None:
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in alert_rules}
    for group, _, _, case in _cases(promtool_tests):
        for alert in case.get("exp_alerts") or []:
            assert alert["exp_labels"]["severity"] == severity[case["alertname"]], group
            assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}


def _used_labels(template: str, present: set[str]) -> set[str]:
    """Labels a template reads, taking ``{{ if $labels.x }}`` guards the way Go would."""

    def choose(match: re.Match[str]) -> str:
        return match["then"] if match["label"] in present else match["other"]

    return set(_LABEL_USE.findall(_GUARD.sub(choose, template)))


def test_annotations_only_use_labels_that_survive_the_expression(
    alert_rules: list[dict[str, Any]],
    promtool_tests: list[tuple[Path, dict[str, Any]]],
) -> None:
    """Every ``$labels.x`` must be a label of the alert in every firing case.

    promtool compares exp_labels exactly with what the real PromQL engine produced, so the
    firing cases are ground truth for the labels each expression keeps; an annotation
    reading a label that an aggregation dropped would render it empty.
    """
    annotations = {rule["alert"]: rule["annotations"] for rule in alert_rules}
    for group, _, _, case in _cases(promtool_tests):
        for alert in case.get("exp_alerts") or []:
            present = set(alert["exp_labels"])
            for key, template in annotations[case["alertname"]].items():
                missing = _used_labels(template, present) - present
                assert not missing, f"{group}: {key} reads {missing}, which the alert lacks"


def _metric_labels(rules: list[dict[str, Any]]) -> dict[str, frozenset[str] | None]:
    """Labels of every series the rules read: the exporter's table, then each recording."""
    known: dict[str, frozenset[str] | None] = {
        d.name: frozenset(d.labels) | {"job", "instance"} for d in METRICS
    }
    known["up"] = frozenset({"job", "instance"})
    for name, labels in GUI_METRICS.items():  # the GUI backend's, once the exporter has them
        known[name] = (known.get(name) or frozenset()) | labels | {"job", "instance"}
    for rule in rules:
        if "record" in rule:
            known[rule["record"]] = None  # a latch may read its own previous value
            (labels,) = infer_labels(rule["expr"], known)
            known[rule["record"]] = labels
    return known


def test_annotations_only_use_labels_every_result_of_the_expression_keeps(
    rules_file: Path,
) -> None:
    """Static check (pint's alerts/template): each ``$labels.x`` survives every by/on/or.

    Each alternative label set the expression can produce (``a or b`` gives two) is
    checked with the template's ``{{ if $labels.x }}`` guards resolved as Go would.
    """
    rules = [r for g in yaml.safe_load(rules_file.read_text("utf-8"))["groups"] for r in g["rules"]]
    known = _metric_labels(rules)
    for rule in rules:
        if "alert" not in rule:
            continue
        for labels in infer_labels(rule["expr"], known):
            for key, template in rule["annotations"].items():
                missing = _used_labels(template, set(labels)) - labels
                assert not missing, f"{rule['alert']}: {key} reads {missing}, kept: {labels}"


def test_the_static_check_catches_a_label_an_aggregation_drops(rules_file: Path) -> None:
    rules = [r for g in yaml.safe_load(rules_file.read_text("utf-8"))["groups"] for r in g["rules"]]
    known = _metric_labels(rules)
    no_peers = next(r for r in rules if r.get("alert") == "BTSyncFolderNoPeers")
    narrowed = no_peers["expr"].replace("by (job, instance, node, folder)", "by (job, node)")
    (labels,) = infer_labels(narrowed, known)
    assert "folder" not in labels
    assert "folder" in _used_labels(no_peers["annotations"]["description"], set(labels))


def test_label_guard_reading_follows_go_templates() -> None:
    template = (
        "{{ if $labels.instance }}at {{ $labels.instance }}{{ else }}{{ $labels.job }}{{ end }}"
    )
    assert _used_labels(template, {"instance"}) == {"instance"}
    assert _used_labels(template, set()) == {"job"}


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_the_runbook_names_each_alert_once_as_a_heading(name: str, runbook: str) -> None:
    headings = re.findall(r"^## (\w+)$", runbook, re.M)
    assert headings.count(name) == 1


def test_the_rule_file_parses_as_yaml_with_one_group(rules_file: Path) -> None:
    groups = yaml.safe_load(rules_file.read_text(encoding="utf-8"))["groups"]
    assert [g["name"] for g in groups] == ["btsync"]
