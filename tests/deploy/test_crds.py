"""The chart's Prometheus Operator objects against the Operator's published CRD schemas.

The schemas are vendored in tests/deploy/crds/ (each file names its source, operator version
and what was left out). Two checks per object, as the API server would make them:

- JSON-schema validation (types, enums, patterns, required fields);
- no field the schema does not know: a structural CRD does not refuse unknown fields, it
  silently drops them, so a misspelt or misplaced setting would vanish without a word.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CI_VALUES, load_values, render

jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema is not installed (kubernetes-validate brings it)"
)

CRDS = Path(__file__).resolve().parent / "crds"
SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.v1.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor.v1.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.v1.yaml",
    ("monitoring.coreos.com/v1alpha1", "ScrapeConfig"): "scrapeconfig.v1alpha1.yaml",
}


def _python_patterns(node: Any) -> Any:
    """The schema with its Go (RE2) patterns in Python's spelling.

    RE2 takes an inline flag anywhere (`^(?i)abort`); Python only at the very start. Moving
    it there changes nothing for these anchored patterns.
    """
    if isinstance(node, dict):
        fixed = {key: _python_patterns(value) for key, value in node.items()}
        pattern = fixed.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):
            fixed["pattern"] = "(?i)^" + pattern.removeprefix("^(?i)")
        return fixed
    if isinstance(node, list):
        return [_python_patterns(item) for item in node]
    return node


@cache
def _schema(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CRDS / name).read_text(encoding="utf-8"))
    schema: dict[str, Any] = _python_patterns(loaded["schema"])
    return schema


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths in ``value`` that ``schema`` has no place for (the API server would prune them)."""
    found: list[str] = []
    if isinstance(value, dict) and schema.get("type") == "object":
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                found += unknown_fields(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(item, extra, f"{path}.{key}")
            elif properties is not None:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def _crd_objects() -> list[tuple[str, dict[str, Any]]]:
    objects = []
    for path in CI_VALUES:
        for manifest in render(load_values(path)).manifests:
            if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
                scenario = path.name.removesuffix("-values.yaml")
                objects.append((f"{scenario}:{manifest['kind']}", manifest))
    return objects


CRD_OBJECTS = _crd_objects()


def test_every_operator_kind_the_chart_renders_has_a_vendored_schema() -> None:
    kinds = {(m["apiVersion"], m["kind"]) for _, m in CRD_OBJECTS}
    assert kinds == set(SCHEMAS), "a scenario per kind, and a schema per rendered kind"


@pytest.mark.parametrize(("name", "manifest"), CRD_OBJECTS, ids=[n for n, _ in CRD_OBJECTS])
def test_operator_objects_pass_the_published_schema(name: str, manifest: dict[str, Any]) -> None:
    schema = _schema(SCHEMAS[(manifest["apiVersion"], manifest["kind"])])
    jsonschema.validate(manifest, schema)
    assert unknown_fields(manifest, schema) == [], name


@pytest.mark.parametrize(
    ("kind", "mutate", "message"),
    [
        ("ServiceMonitor", lambda m: m["spec"]["endpoints"][0].update(scheme="ftp"), "'ftp'"),
        ("ServiceMonitor", lambda m: m["spec"].pop("selector"), "'selector'"),
        ("ServiceMonitor", lambda m: m["spec"]["endpoints"][0].update(interval="30 s"), "30 s"),
        ("PrometheusRule", lambda m: m["spec"]["groups"][0]["rules"][0].pop("expr"), "'expr'"),
        ("ScrapeConfig", lambda m: m["spec"].update(scheme="http"), "'http'"),
    ],
)
def test_the_schemas_catch_real_mistakes(kind: str, mutate: Any, message: str) -> None:
    """The vendored schemas are not empty shells: each refuses what the Operator refuses."""
    manifest = next(m for _, m in CRD_OBJECTS if m["kind"] == kind)
    broken = yaml.safe_load(yaml.safe_dump(manifest))
    mutate(broken)
    schema = _schema(SCHEMAS[(broken["apiVersion"], broken["kind"])])
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(broken, schema)


def test_a_misplaced_field_is_reported_not_silently_dropped() -> None:
    manifest = next(m for _, m in CRD_OBJECTS if m["kind"] == "ServiceMonitor")
    broken = yaml.safe_load(yaml.safe_dump(manifest))
    broken["spec"]["endpoints"][0]["sampleLimit"] = 10  # belongs to spec, not the endpoint
    schema = _schema(SCHEMAS[("monitoring.coreos.com/v1", "ServiceMonitor")])
    assert unknown_fields(broken, schema) == [".spec.endpoints[0].sampleLimit"]
