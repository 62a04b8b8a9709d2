"""The monitoring mixin (mixin/): evaluated with jsonnet, compared with what it is built from.

The mixin takes its rules and dashboards from copies of alerts/ and grafana/ in
mixin/generated/ (jsonnet-bundler vendors mixin/ alone). These tests keep the copies fresh,
show that the mixin as it is gives exactly the shipped rules and dashboards, and that each
_config knob gives what the rule generator gives for the same tunable.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from sync_exporter.alerting import parse_tunables, render_rules
from tests.deploy.chart import ROOT
from tests.deploy.conftest import assert_promtool_accepts

MIXIN = ROOT / "mixin"
jsonnet = pytest.importorskip(
    "_jsonnet", reason="jsonnet is not installed: .venv/bin/pip install jsonnet"
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mixin_generate", MIXIN / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evaluate(config: str = "{}") -> dict[str, Any]:
    """The mixin's three outputs, with the jsonnet object ``config`` added to its _config."""
    snippet = (
        "local mixin = (import 'mixin.libsonnet') + { _config+:: " + config + " };\n"
        "{ alerts: mixin.prometheusAlerts, rules: mixin.prometheusRules,"
        " dashboards: mixin.grafanaDashboards }"
    )
    result: dict[str, Any] = json.loads(
        jsonnet.evaluate_snippet("test", snippet, jpathdir=[str(MIXIN)])
    )
    return result


def _shipped_rules(text: str | None = None) -> list[dict[str, Any]]:
    if text is None:
        text = (ROOT / "alerts" / "btsync.rules.yml").read_text(encoding="utf-8")
    (group,) = yaml.safe_load(text)["groups"]
    rules: list[dict[str, Any]] = group["rules"]
    return rules


def _mixin_rules(output: dict[str, Any]) -> list[dict[str, Any]]:
    (records,) = output["rules"]["groups"]
    (alerts,) = output["alerts"]["groups"]
    return [*records["rules"], *alerts["rules"]]


def test_generated_copies_are_fresh() -> None:
    """alerts/ or grafana/ changed without `python mixin/generate.py`: this says so."""
    stale = _generator().stale_files()
    assert not stale, f"mixin/generated/{stale} is stale: run python mixin/generate.py"


def test_the_mixin_as_it_is_gives_the_shipped_rules() -> None:
    output = _evaluate()
    assert _mixin_rules(output) == _shipped_rules()
    (records,) = output["rules"]["groups"]
    assert all("record" in r for r in records["rules"])
    (alerts,) = output["alerts"]["groups"]
    assert alerts["name"] == "btsync"
    assert all("alert" in r for r in alerts["rules"])


def test_the_mixin_as_it_is_gives_the_shipped_dashboards() -> None:
    dashboards = _evaluate()["dashboards"]
    files = sorted((ROOT / "grafana").glob("*.json"))
    assert sorted(dashboards) == [f.name for f in files]
    for path in files:
        assert dashboards[path.name] == json.loads(path.read_text(encoding="utf-8"))


def test_each_knob_gives_what_the_generator_gives_for_the_same_tunable() -> None:
    """_config and alerts/config.yml mean the same: one config, two routes, one result."""
    tunables = yaml.safe_load((ROOT / "alerts" / "config.yml").read_text(encoding="utf-8"))
    selector = 'job="sync", cluster="eu"'
    runbook = "https://sync-exporter.example.org/runbook"
    overrides: dict[str, dict[str, Any]] = {}
    for number, name in enumerate(tunables["alerts"]):
        # A `for` no alert has yet, and the other severity, for every alert at once.
        severity = "info" if tunables["alerts"][name]["severity"] != "info" else "critical"
        overrides[name] = {"for": f"{170 + number}m", "severity": severity}
    overrides["BTSyncVersionMismatch"]["enabled"] = False
    alerts = ", ".join(f"{name}+: {json.dumps(o)}" for name, o in overrides.items())
    output = _evaluate(
        f"{{ selector: {json.dumps(selector)}, runbookBase: {json.dumps(runbook)},"
        f" alertLabels: {{ team: 'storage' }}, alerts+: {{ {alerts} }} }}"
    )
    tunables.update(selector=selector, runbook_url=runbook, labels={"team": "storage"})
    for name, override in overrides.items():
        tunables["alerts"][name].update(override)
    expected = _shipped_rules(render_rules(parse_tunables(yaml.safe_dump(tunables))))
    assert _mixin_rules(output) == expected


def test_a_custom_selector_narrows_the_dashboards_job_choice() -> None:
    dashboards = _evaluate("""{ selector: 'job="sync"', dashboardTags: ['storage'] }""")[
        "dashboards"
    ]
    for board in dashboards.values():
        (job,) = [v for v in board["templating"]["list"] if v["name"] == "job"]
        assert job["definition"] == 'label_values(btsync_up{job="sync"}, job)'
        assert 'btsync_up{job="sync"}' in json.dumps(job["query"]).replace('\\"', '"')
        assert "storage" in board["tags"]


def test_mixin_rules_pass_promtool(promtool: Path, tmp_path: Path) -> None:
    output = _evaluate()
    groups = output["rules"]["groups"] + output["alerts"]["groups"]
    assert_promtool_accepts(promtool, {"groups": groups}, tmp_path)
