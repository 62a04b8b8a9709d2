"""docs/kubernetes.md stays true: its copy-paste blocks are what the chart renders."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.deploy.chart import CHART, ROOT, load_values, render, schema_errors

DOC = ROOT / "docs" / "kubernetes.md"


def _blocks() -> list[str]:
    """Every ```yaml block of the page, dedented."""
    text = DOC.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^( *)```yaml\n(.*?)^\1```", text, re.S | re.M):
        indent = len(match.group(1))
        blocks.append("\n".join(line[indent:] for line in match.group(2).splitlines()))
    return blocks


def _block(first_line: str) -> dict[str, Any]:
    (found,) = [b for b in _blocks() if b.startswith(first_line)]
    loaded = yaml.safe_load(found)
    assert isinstance(loaded, dict)
    return loaded


def test_sidecar_snippet_is_what_the_chart_prints_for_the_documented_values() -> None:
    values = _block("# sidecar-values.yaml")
    assert schema_errors(values) is None
    notes = render(values, release="sync-exporter").notes
    printed = {
        key: yaml.safe_load(block)[key]
        for block in notes.split("\n\n")
        for key in ("containers", "volumes")
        if block.startswith(f"{key}:")
    }
    snippet = _block("# values of your Sync chart")
    assert snippet["extraContainers"] == printed["containers"]
    assert snippet["extraVolumes"] == printed["volumes"]


def test_standalone_example_values_are_valid() -> None:
    values = _block("config:")
    assert schema_errors(values) is None
    assert render(values).one("Deployment")


def test_the_sidecar_example_matches_the_ci_scenario() -> None:
    documented = _block("# sidecar-values.yaml")
    scenario = load_values(CHART / "ci" / "sidecar-values.yaml")
    assert documented["sidecar"] == scenario["sidecar"]
    assert documented["credentials"] == scenario["credentials"]
