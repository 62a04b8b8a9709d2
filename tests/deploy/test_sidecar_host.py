"""Sidecar mode from a Sync chart's side: a parent chart embeds the exporter by include.

fixtures/sync-host is a minimal Resilio Sync chart that has this chart as a dependency
(charts/sync-exporter links to it) and calls the public named templates with
`.Subcharts.exporter`, as docs/kubernetes.md tells chart authors to. Its rendered pod is a
real StatefulSet, so the Kubernetes schemas check the injected container in place.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import HOST_CHART, containers, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate is not installed: .venv/bin/pip install kubernetes-validate",
)


def _pod(values: dict[str, Any]) -> dict[str, Any]:
    statefulset = render(values, HOST_CHART).one("StatefulSet")
    kubernetes_validate.validate(statefulset, "1.29.0", strict=True)
    spec: dict[str, Any] = statefulset["spec"]["template"]["spec"]
    return spec


def test_the_exporter_joins_the_sync_pod_with_its_volumes() -> None:
    pod = _pod({})
    names = [c["name"] for c in pod["containers"]]
    assert names == ["sync", "sync-exporter"]
    exporter = pod["containers"][1]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in exporter["volumeMounts"]:
        assert mount["name"] in volumes
    assert volumes["sync-exporter-credentials"]["secret"]["secretName"] == "sync-host-webui"
    # The Sync pod's fsGroup is not the exporter's: its password files must be readable anyway.
    assert volumes["sync-exporter-credentials"]["secret"]["defaultMode"] == 0o444


def test_ports_do_not_collide_with_the_sync_container() -> None:
    pod = _pod({})
    ports = [p for c in containers(pod) for p in c.get("ports", [])]
    assert len({p["containerPort"] for p in ports}) == len(ports)
    assert len({p["name"] for p in ports}) == len(ports)


def test_the_subchart_renders_the_pod_monitor_for_the_parent_pods() -> None:
    rendered = render({}, HOST_CHART)
    statefulset = rendered.one("StatefulSet")
    selector = rendered.one("PodMonitor")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    assert not rendered.of_kind("Deployment")


def test_native_sidecar_validates_where_kubernetes_supports_it() -> None:
    pod = _pod({"exporter": {"sidecar": {"native": True}}})
    (init,) = pod["initContainers"]
    assert init["name"] == "sync-exporter"
    assert init["restartPolicy"] == "Always"
    assert [c["name"] for c in pod["containers"]] == ["sync"]


def test_a_config_change_rolls_the_parent_pods() -> None:
    def checksum(url: str) -> str:
        values = {"exporter": {"config": {"nodes": [{"name": "${POD_NAME}", "url": url}]}}}
        template = render(values, HOST_CHART).one("StatefulSet")["spec"]["template"]
        return str(template["metadata"]["annotations"]["checksum/sync-exporter"])

    assert checksum("http://127.0.0.1:8888") != checksum("http://127.0.0.1:8889")
