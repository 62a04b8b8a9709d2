"""Golden snapshots of each ci/*-values.yaml render, so every change to the output is reviewed.

Update after an intended change and review the diff like code:
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/deploy/test_golden.py

The rule and dashboard contents are left out (they are the repository's own files, which
test_chart.py compares directly), so their authors' changes do not churn these files.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CI_VALUES, load_values, render

GOLDEN = Path(__file__).resolve().parent / "golden"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (NOTES.txt, the config file) as readable literal blocks."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _literal)


def _snapshot(manifests: tuple[dict[str, Any], ...], notes: str) -> str:
    documents: list[Any] = []
    for original in manifests:
        manifest = copy.deepcopy(original)
        if manifest["kind"] == "PrometheusRule":
            manifest["spec"] = "<files/btsync.rules.yml, with the values' overrides>"
        labels = manifest["metadata"].get("labels", {})
        if manifest["kind"] == "ConfigMap" and "grafana_dashboard" in labels:
            manifest["data"] = {key: f"<files/dashboards/{key}>" for key in manifest["data"]}
        documents.append(manifest)
    documents.append({"NOTES.txt": notes})
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=True, width=100)


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def test_render_matches_the_golden_file(path: Path) -> None:
    rendered = render(load_values(path))
    actual = _snapshot(rendered.manifests, rendered.notes)
    golden = GOLDEN / path.name.replace("-values.yaml", ".yaml")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert actual == golden.read_text(encoding="utf-8"), (
        f"the render of {path.name} differs from {golden.name}; if the change is intended, "
        "rerun with UPDATE_GOLDEN=1 and review the diff"
    )
