"""Render the Helm chart offline, the way `helm template` would, for the deploy tests.

helm-python-sdk binds Helm's Go SDK (no helm binary needed). Rendering is pure and
deterministic, so each (chart, values) pair is rendered once per session and shared.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sync-exporter"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
HOST_CHART = Path(__file__).resolve().parent / "fixtures" / "sync-host"
RELEASE = "rel"
NAMESPACE = "sync"


def _helm() -> Any:
    """The helm_python module, or a skip that says how to install it.

    Imported on first use, so tests that only need the paths above (the Dockerfile's)
    still run without it.
    """
    return pytest.importorskip(
        "helm_python",
        reason="helm-python-sdk is not installed: .venv/bin/pip install helm-python-sdk",
    )


@dataclass(frozen=True)
class Rendered:
    """One offline render: the manifests by template path, parsed, plus NOTES.txt."""

    manifests: tuple[dict[str, Any], ...]
    notes: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind``."""
        return [m for m in self.manifests if m.get("kind") == kind]

    def one(self, kind: str) -> dict[str, Any]:
        """The single object of ``kind``; fails the test when there are none or several."""
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        """The kinds rendered."""
        return {str(m["kind"]) for m in self.manifests}


def load_values(path: Path) -> dict[str, Any]:
    """A values file as a dict (an all-comment file is no values)."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


@functools.cache
def _chart(path: Path) -> Any:
    return _helm().Chart.load(str(path))


def _documents(text: str) -> Iterator[dict[str, Any]]:
    for document in yaml.safe_load_all(text):
        if isinstance(document, dict):
            yield document


@functools.cache
def _render(path: Path, values_json: str, release: str) -> Rendered:
    output: dict[str, str] = _chart(path).render(
        json.loads(values_json), name=release, namespace=NAMESPACE
    )
    manifests: list[dict[str, Any]] = []
    notes = ""
    for template, text in sorted(output.items()):
        if template.endswith("NOTES.txt"):
            notes = text
        else:
            manifests.extend(_documents(text))
    return Rendered(tuple(manifests), notes)


def render(values: dict[str, Any], chart: Path = CHART, *, release: str = RELEASE) -> Rendered:
    """Render ``chart`` with ``values`` as ``release`` (cached per distinct input)."""
    return _render(chart, json.dumps(values, sort_keys=True), release)


def schema_errors(values: dict[str, Any]) -> str | None:
    """The values.schema.json verdict on ``values``: None when valid, else Helm's message."""
    try:
        _chart(CHART).validate_schema(values)
    except _helm().HelmValuesError as exc:
        return str(exc)
    return None


def render_error(values: dict[str, Any]) -> str:
    """The message of a render that must fail (a `fail` in the templates)."""
    with pytest.raises(_helm().HelmError) as caught:
        _chart(CHART).render(values, name=RELEASE, namespace=NAMESPACE)
    return str(caught.value)


def lint(values: dict[str, Any], kube_version: str) -> dict[str, Any]:
    """`helm lint --strict` of the chart with ``values``."""
    report: dict[str, Any] = _helm().lint(
        str(CHART), values, strict=True, kube_version=kube_version, namespace=NAMESPACE
    )
    return report


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Regular and init containers of a pod spec."""
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def exporter_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The chart's own container of the standalone pod (extraContainers may sit beside it)."""
    (container,) = [c for c in containers(pod_spec) if c["name"] == "sync-exporter"]
    return container
