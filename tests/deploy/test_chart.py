"""The Helm chart, per ci/*-values.yaml scenario: lint, schema, render, Kubernetes schemas.

Then what each mode promises an SRE: a hardened pod, credentials as rotatable files, the
job label the bundled alerts select, CRD objects only on request, and the repository's own
rules and dashboards inside the PrometheusRule and ConfigMaps, unchanged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    ROOT,
    Rendered,
    containers,
    exporter_container,
    lint,
    load_values,
    render,
    render_error,
    schema_errors,
)
from tests.deploy.conftest import assert_promtool_accepts

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate is not installed: .venv/bin/pip install kubernetes-validate",
)

#: Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema set.
KUBE_VERSIONS = ("1.25.0", "1.33.0")
#: Kinds kubernetes-validate has schemas for; the Prometheus Operator CRDs are checked below.
CORE_KINDS = {
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Deployment",
    "NetworkPolicy",
    "PodDisruptionBudget",
}
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ScrapeConfig"}
MONITOR_KINDS = {"ServiceMonitor", "PodMonitor", "ScrapeConfig"}


@pytest.fixture(params=CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def scenario(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The values of one ci/*-values.yaml file."""
    path: Path = request.param
    return load_values(path)


def _alert_job_regex() -> re.Pattern[str]:
    """The job matcher the generated alert rules use (alerts/config.yml `selector`)."""
    tunables = yaml.safe_load((ROOT / "alerts" / "config.yml").read_text(encoding="utf-8"))
    match = re.fullmatch(r'job=~"([^"]+)"', tunables["selector"])
    assert match, f"unexpected selector {tunables['selector']!r}"
    return re.compile(match.group(1))


def _exporter_container(rendered: Rendered) -> dict[str, Any]:
    """The exporter container of the standalone Deployment."""
    return exporter_container(rendered.one("Deployment")["spec"]["template"]["spec"])


def _sidecar_container(rendered: Rendered) -> dict[str, Any]:
    """The container printed by NOTES.txt in sidecar mode, parsed."""
    block = rendered.notes.split("\n\n")
    snippet = next(b for b in block if b.startswith(("containers:", "initContainers:")))
    parsed = yaml.safe_load(snippet)
    (container,) = next(iter(parsed.values()))
    assert isinstance(container, dict)
    return container


# ------------------------------------------------------------------ every scenario


def test_lints_strictly_clean(scenario: dict[str, Any]) -> None:
    report = lint(scenario, "v1.29.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"], report
    assert not problems, report


def test_values_pass_the_schema(scenario: dict[str, Any]) -> None:
    assert schema_errors(scenario) is None


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_core_objects_pass_the_kubernetes_schemas(
    scenario: dict[str, Any], kube_version: str
) -> None:
    rendered = render(scenario)
    assert rendered.kinds() <= CORE_KINDS | CRD_KINDS, rendered.kinds()
    for manifest in rendered.manifests:
        if manifest["kind"] in CORE_KINDS:
            kubernetes_validate.validate(manifest, kube_version, strict=True)


def test_every_object_is_in_the_release_namespace_and_labelled(scenario: dict[str, Any]) -> None:
    rendered = render(scenario)
    dashboards_namespace = scenario.get("dashboards", {}).get("namespace") or NAMESPACE
    monitors_namespace = (
        scenario.get("serviceMonitor", {}).get("namespace")
        or scenario.get("podMonitor", {}).get("namespace")
        or NAMESPACE
    )
    for manifest in rendered.manifests:
        meta = manifest["metadata"]
        is_dashboard = manifest["kind"] == "ConfigMap" and "grafana_dashboard" in meta["labels"]
        if is_dashboard:
            assert meta["namespace"] == dashboards_namespace
        elif manifest["kind"] in MONITOR_KINDS:
            assert meta["namespace"] == monitors_namespace
        else:
            assert meta["namespace"] == NAMESPACE
        assert meta["labels"]["app.kubernetes.io/instance"] == "rel"
        assert len(meta["name"]) <= 63


def test_crd_objects_are_rendered_only_when_enabled(scenario: dict[str, Any]) -> None:
    rendered = render(scenario)
    service_monitor = scenario.get("serviceMonitor", {})
    probe = service_monitor.get("probe", {})
    wanted = {
        "ServiceMonitor": service_monitor.get("enabled", False),
        "PodMonitor": scenario.get("podMonitor", {}).get("enabled", False),
        "PrometheusRule": scenario.get("prometheusRule", {}).get("enabled", False),
        "ScrapeConfig": bool(
            service_monitor.get("enabled")
            and probe.get("enabled")
            and probe.get("discovery") == "sd"
        ),
    }
    for kind, enabled in wanted.items():
        assert (kind in rendered.kinds()) == enabled, kind
    for monitor in rendered.of_kind("ServiceMonitor") + rendered.of_kind("PodMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"


def test_the_container_is_hardened(scenario: dict[str, Any]) -> None:
    rendered = render(scenario)
    mode = scenario.get("mode", "standalone")
    container = (
        _exporter_container(rendered) if mode == "standalone" else _sidecar_container(rendered)
    )
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert isinstance(security["runAsUser"], int)
    assert security["runAsUser"] > 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"]


def test_probes_never_depend_on_sync(scenario: dict[str, Any]) -> None:
    """Readiness and liveness hit endpoints that never contact a node (docs/operations.md)."""
    rendered = render(scenario)
    mode = scenario.get("mode", "standalone")
    container = (
        _exporter_container(rendered) if mode == "standalone" else _sidecar_container(rendered)
    )
    port_names = {p["name"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in port_names


def test_credentials_are_mounted_as_a_rotatable_directory(scenario: dict[str, Any]) -> None:
    """No subPath: Kubernetes only updates Secret and ConfigMap volumes mounted whole."""
    rendered = render(scenario)
    mode = scenario.get("mode", "standalone")
    container = (
        _exporter_container(rendered) if mode == "standalone" else _sidecar_container(rendered)
    )
    for mount in container["volumeMounts"]:
        assert "subPath" not in mount
        assert mount["readOnly"] is True
    secret = scenario.get("credentials", {})
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    has_secret = bool(secret.get("existingSecret") or secret.get("passwords"))
    assert ("/etc/sync-exporter/secrets" in mounted) == has_secret


def test_password_values_never_appear_in_clear(scenario: dict[str, Any]) -> None:
    passwords = scenario.get("credentials", {}).get("passwords", {})
    text = json.dumps(render(scenario).manifests) + render(scenario).notes
    for password in passwords.values():
        assert password not in text


# ------------------------------------------------------------------ standalone


def test_standalone_is_a_deployment_behind_a_service() -> None:
    rendered = render({})
    deployment = rendered.one("Deployment")
    service = rendered.one("Service")
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "btsync-metrics"
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert rendered.one("ServiceAccount")["automountServiceAccountToken"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "PodMonitor" not in rendered.kinds()


def test_a_config_change_rolls_the_deployment() -> None:
    def checksum(url: str) -> str:
        values = {"config": {"nodes": [{"name": "nas", "url": url}]}}
        pod = render(values).one("Deployment")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/config"])

    assert checksum("http://10.0.0.1:8888") == checksum("http://10.0.0.1:8888")
    assert checksum("http://10.0.0.1:8888") != checksum("http://10.0.0.2:8888")


def test_service_monitor_scrapes_metrics_with_the_alerts_job_label() -> None:
    values = load_values(CHART / "ci" / "standalone-full-values.yaml")
    monitor = render(values).one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = render(values).one("Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    job = next(r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job")
    assert _alert_job_regex().fullmatch(job), job


def test_probe_mode_has_one_endpoint_per_configured_node() -> None:
    values = load_values(CHART / "ci" / "standalone-probe-values.yaml")
    rendered = render(values)
    monitor = rendered.one("ServiceMonitor")
    *endpoints, own = monitor["spec"]["endpoints"]
    names = [n["name"] for n in values["config"]["nodes"]]
    assert [e["params"]["target"] for e in endpoints] == [[n] for n in names]
    # The exporter's own metrics from /metrics, which then asks no node (no double scrape).
    assert own["path"] == "/metrics"
    assert "params" not in own
    (container,) = containers(rendered.one("Deployment")["spec"]["template"]["spec"])
    assert "--no-metrics.nodes" in container["args"]
    for endpoint, name in zip(endpoints, names, strict=True):
        assert endpoint["path"] == "/probe"
        assert endpoint["interval"] == "60s"
        assert endpoint["scrapeTimeout"] == "30s"
        labels = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
        assert labels["instance"] == name
        assert _alert_job_regex().fullmatch(labels["job"])


def test_probe_targets_can_be_chosen() -> None:
    values = load_values(CHART / "ci" / "standalone-probe-values.yaml")
    values["serviceMonitor"]["probe"]["targets"] = ["pi"]
    endpoint, own = render(values).one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["params"]["target"] == ["pi"]
    assert own["path"] == "/metrics"


def test_network_policy_admits_only_scrapers_and_allows_dns() -> None:
    values = load_values(CHART / "ci" / "standalone-full-values.yaml")
    policy = render(values).one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "btsync-metrics", "protocol": "TCP"}]
    selector = ingress["from"][0]["namespaceSelector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": "monitoring"}
    dns = policy["egress"][0]["ports"]
    assert {"port": 53, "protocol": "UDP"} in dns
    assert len(policy["egress"]) == 1 + len(values["networkPolicy"]["egress"])


def test_chart_created_secret_holds_the_passwords_base64() -> None:
    values = load_values(CHART / "ci" / "secret-values.yaml")
    secret = render(values).one("Secret")
    import base64

    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == values["credentials"]["passwords"]


# ------------------------------------------------------------------ sidecar


@pytest.mark.parametrize("name", ["sidecar-values.yaml", "sidecar-native-values.yaml"])
def test_sidecar_renders_no_workload_but_a_pod_monitor(name: str) -> None:
    values = load_values(CHART / "ci" / name)
    rendered = render(values)
    assert not rendered.kinds() & {"Deployment", "Service", "ServiceAccount", "NetworkPolicy"}
    monitor = rendered.one("PodMonitor")["spec"]
    assert monitor["selector"]["matchLabels"] == values["sidecar"]["podSelector"]
    (endpoint,) = monitor["podMetricsEndpoints"]
    container = _sidecar_container(rendered)
    assert endpoint["port"] in {p["name"] for p in container["ports"]}
    job = next(r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job")
    assert _alert_job_regex().fullmatch(job)


def test_sidecar_snippet_is_the_standalone_container() -> None:
    """One container template serves both modes: only the name and sidecar details differ."""
    shared = {"credentials": {"existingSecret": "pw"}}
    standalone = _exporter_container(render(shared))
    sidecar = _sidecar_container(
        render({**shared, "mode": "sidecar", "sidecar": {"containerName": "exporter"}})
    )
    assert sidecar.pop("name") == "exporter"
    assert standalone.pop("name") == "sync-exporter"
    assert sidecar == standalone


def test_native_sidecar_is_an_init_container_that_keeps_running() -> None:
    rendered = render(load_values(CHART / "ci" / "sidecar-native-values.yaml"))
    assert "\ninitContainers:\n" in rendered.notes
    assert _sidecar_container(rendered)["restartPolicy"] == "Always"
    plain = render(load_values(CHART / "ci" / "sidecar-values.yaml"))
    assert "restartPolicy" not in _sidecar_container(plain)


# ------------------------------------------------------------------ rules and dashboards


def test_prometheus_rule_is_the_repository_rule_file_unchanged(tmp_path: Path) -> None:
    """{{ $labels.x }} and every other template in the rules survive Helm untouched."""
    values = load_values(CHART / "ci" / "sidecar-values.yaml")
    spec = render(values).one("PrometheusRule")["spec"]
    source = yaml.safe_load((ROOT / "alerts" / "btsync.rules.yml").read_text(encoding="utf-8"))
    assert spec == source
    assert "{{ $labels.node }}" in json.dumps(spec)


def test_prometheus_rule_overrides() -> None:
    values = load_values(CHART / "ci" / "standalone-full-values.yaml")
    spec = render(values).one("PrometheusRule")["spec"]
    source = yaml.safe_load((ROOT / "alerts" / "btsync.rules.yml").read_text(encoding="utf-8"))
    alerts = [r for g in spec["groups"] for r in g["rules"] if "alert" in r]
    source_alerts = [r for g in source["groups"] for r in g["rules"] if "alert" in r]
    assert "BTSyncVersionMismatch" in {r["alert"] for r in source_alerts}
    assert {r["alert"] for r in alerts} == {r["alert"] for r in source_alerts} - {
        "BTSyncVersionMismatch"
    }
    base = values["prometheusRule"]["runbookUrl"]
    for rule, original in zip(
        alerts, [r for r in source_alerts if r["alert"] != "BTSyncVersionMismatch"], strict=True
    ):
        assert rule["labels"] == {**original["labels"], "team": "storage"}
        assert rule["annotations"]["runbook_url"] == f"{base}#{rule['alert'].lower()}"
        assert rule["expr"] == original["expr"]
    records = [r for g in spec["groups"] for r in g["rules"] if "record" in r]
    assert records == [r for g in source["groups"] for r in g["rules"] if "record" in r]


@pytest.mark.parametrize(
    "name", ["sidecar-values.yaml", "standalone-full-values.yaml", "standalone-probe-values.yaml"]
)
def test_rendered_rules_pass_promtool(promtool: Path, tmp_path: Path, name: str) -> None:
    spec = render(load_values(CHART / "ci" / name)).one("PrometheusRule")["spec"]
    assert_promtool_accepts(promtool, spec, tmp_path)


def test_dashboards_are_the_repository_files_with_the_sidecar_label() -> None:
    values = load_values(CHART / "ci" / "standalone-full-values.yaml")
    maps = [
        m
        for m in render(values).of_kind("ConfigMap")
        if m["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    files = sorted((ROOT / "grafana").glob("*.json"))
    assert files, "no dashboards in grafana/"
    assert sorted(k for m in maps for k in m["data"]) == [f.name for f in files]
    for configmap in maps:
        assert configmap["metadata"]["namespace"] == "grafana"
        assert configmap["metadata"]["annotations"]["grafana_folder"] == "Sync"
        ((name, text),) = configmap["data"].items()
        assert json.loads(text) == json.loads((ROOT / "grafana" / name).read_text())
        assert len(text.encode()) < 1_000_000  # the ConfigMap size limit is 1 MiB


def test_chart_files_link_every_shipped_rule_and_dashboard() -> None:
    """The chart carries the repository files themselves (symlinks), so they cannot go stale."""
    files = CHART / "files"
    assert (files / "btsync.rules.yml").resolve() == (ROOT / "alerts" / "btsync.rules.yml")
    linked = sorted(p.resolve() for p in (files / "dashboards").glob("*.json"))
    assert linked == sorted((ROOT / "grafana").glob("*.json"))


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "daemonset"}, "value must be one of 'standalone', 'sidecar'"),
        ({"serviceMonitr": {"enabled": True}}, "'serviceMonitr' not allowed"),
        (
            {"config": {"nodes": [{"name": "a", "url": "http://a:8888", "pasword": "x"}]}},
            "'pasword' not allowed",
        ),
        ({"config": {"nodes": []}}, "minItems"),
        ({"jobLabel": "sync"}, "does not match pattern '^btsync'"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        (
            {"prometheusRule": {"runbookUrl": "https://x/runbook.md#top"}},
            "/prometheusRule/runbookUrl",
        ),
    ],
)
def test_schema_refuses_mistakes(values: dict[str, Any], message: str) -> None:
    error = schema_errors(values)
    assert error is not None
    assert message in error, error


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"mode": "sidecar", "networkPolicy": {"enabled": True}},
            "would select the Sync pods",
        ),
        ({"mode": "sidecar", "podMonitor": {"enabled": True}}, "needs sidecar.podSelector"),
        ({"mode": "sidecar", "serviceMonitor": {"enabled": True}}, "use podMonitor.enabled"),
        ({"podMonitor": {"enabled": True}}, "use serviceMonitor.enabled"),
        (
            {"credentials": {"existingSecret": "a", "passwords": {"password": "b"}}},
            "not both",
        ),
        (
            {
                "existingConfigMap": "mine",
                "serviceMonitor": {"enabled": True, "probe": {"enabled": True}},
            },
            "serviceMonitor.probe.targets must list the node names",
        ),
        (
            {"replicaCount": 2, "serviceMonitor": {"enabled": True, "probe": {"enabled": True}}},
            "serviceMonitor.probe.enabled with discovery static needs replicaCount 1",
        ),
    ],
)
def test_contradictory_values_fail_with_a_reason(values: dict[str, Any], message: str) -> None:
    assert message in render_error(values)


# ------------------------------------------------------------------ prometheus-community values


def test_global_image_registry_wins_over_the_charts_registry() -> None:
    values = load_values(CHART / "ci" / "standalone-extras-values.yaml")
    container = _exporter_container(render(values))
    assert container["image"] == "mirror.example.org/sync-exporter/sync-exporter:0.1.0"
    assert _exporter_container(render({}))["image"].startswith("ghcr.io/")
    sidecar = _sidecar_container(
        render({"mode": "sidecar", "global": {"imageRegistry": "mirror.example.org"}})
    )
    assert sidecar["image"].startswith("mirror.example.org/")


def test_pod_hooks_reach_the_deployment() -> None:
    values = load_values(CHART / "ci" / "standalone-extras-values.yaml")
    deployment = render(values).one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["annotations"] == values["deploymentAnnotations"]
    assert deployment["spec"]["strategy"] == values["strategy"]
    assert pod["hostAliases"] == values["hostAliases"]
    assert pod["dnsPolicy"] == "None"
    assert pod["dnsConfig"] == values["dnsConfig"]
    names = [c["name"] for c in pod["containers"]]
    assert names == ["sync-exporter", "tls-proxy"]
    assert _exporter_container(render(values))["envFrom"] == values["extraEnvFrom"]
    for absent in ("hostAliases", "dnsConfig", "dnsPolicy"):
        assert absent not in render({}).one("Deployment")["spec"]["template"]["spec"]


def test_extra_manifests_are_rendered_and_strings_templated() -> None:
    values = load_values(CHART / "ci" / "standalone-extras-values.yaml")
    rendered = render(values)
    secret = next(s for s in rendered.of_kind("Secret") if s["metadata"]["name"] == "sync-api-env")
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel"
    names = {m["metadata"]["name"] for m in rendered.of_kind("ConfigMap")}
    assert "sync-exporter-ca" in names


def test_pod_disruption_budget_selects_the_exporter_pods() -> None:
    values = load_values(CHART / "ci" / "standalone-sd-values.yaml")
    rendered = render(values)
    budget = rendered.one("PodDisruptionBudget")["spec"]
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["maxUnavailable"] == 1
    assert "PodDisruptionBudget" not in render({}).kinds()
    sidecar = {"mode": "sidecar", "podDisruptionBudget": {"maxUnavailable": 1}}
    assert "PodDisruptionBudget" not in render(sidecar).kinds()
    both = {"podDisruptionBudget": {"maxUnavailable": 1, "minAvailable": 1}}
    assert schema_errors(both) is not None


@pytest.mark.parametrize(
    ("name", "kind", "endpoints_key"),
    [
        ("standalone-extras-values.yaml", "ServiceMonitor", "endpoints"),
        ("sidecar-native-values.yaml", "PodMonitor", "podMetricsEndpoints"),
    ],
)
def test_monitor_scrape_settings(name: str, kind: str, endpoints_key: str) -> None:
    values = load_values(CHART / "ci" / name)
    block = values["serviceMonitor" if kind == "ServiceMonitor" else "podMonitor"]
    monitor = render(values).one(kind)
    assert monitor["metadata"]["namespace"] == block.get("namespace", NAMESPACE)
    # It still selects the exporter where it runs, whatever namespace the monitor sits in.
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["sampleLimit"] == block["sampleLimit"]
    for endpoint in monitor["spec"][endpoints_key]:
        assert endpoint["honorLabels"] is True
        assert endpoint.get("tlsConfig") == block.get("tlsConfig")
        assert endpoint.get("scheme") == block.get("scheme")
    plain = render({}) if kind == "ServiceMonitor" else None
    if plain is not None:
        assert not plain.of_kind("ServiceMonitor")


def test_probe_through_sd_is_a_scrape_config_on_the_service() -> None:
    values = load_values(CHART / "ci" / "standalone-sd-values.yaml")
    rendered = render(values)
    service = rendered.one("Service")
    scrape = rendered.one("ScrapeConfig")
    assert scrape["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    assert scrape["metadata"]["namespace"] == "monitoring"
    assert scrape["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (sd,) = scrape["spec"]["httpSDConfigs"]
    port = service["spec"]["ports"][0]["port"]
    assert sd["url"] == f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{port}/sd"
    assert sd["refreshInterval"] == "2m"
    job = next(r for r in scrape["spec"]["relabelings"] if r["targetLabel"] == "job")
    assert _alert_job_regex().fullmatch(job["replacement"])
    # Several replicas: the Service spreads the probes; the nodes' series carry no pod label.
    assert rendered.one("Deployment")["spec"]["replicas"] == 2
    assert "--no-metrics.nodes" in _exporter_container(rendered)["args"]
    (own,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert own["path"] == "/metrics"
    for relabeling in scrape["spec"]["relabelings"]:
        assert relabeling["targetLabel"] not in {"instance", "pod", "__param_target"}


def test_sd_discovery_refuses_a_static_target_list() -> None:
    values = {
        "serviceMonitor": {
            "enabled": True,
            "probe": {"enabled": True, "discovery": "sd", "targets": ["nas"]},
        }
    }
    assert "serviceMonitor.probe.targets is for discovery static" in render_error(values)


@pytest.mark.parametrize("kube_version", ["1.25.0", "1.28.9"])
def test_native_sidecar_is_refused_below_kubernetes_1_29(kube_version: str) -> None:
    values = load_values(CHART / "ci" / "sidecar-native-values.yaml")
    message = render_error({**values, "kubeVersionOverride": kube_version})
    assert "sidecar.native needs Kubernetes 1.29 or later" in message
    assert f"this is v{kube_version}" in message or f"this is {kube_version}" in message
    assert render({**values, "kubeVersionOverride": "1.29.0"}).one("PodMonitor")
    plain = load_values(CHART / "ci" / "sidecar-values.yaml")
    assert render({**plain, "kubeVersionOverride": "1.25.0"}).one("PodMonitor")


def _runbook_urls(rules: dict[str, Any]) -> set[str]:
    return {
        r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"] if "alert" in r
    }


def test_runbook_links_default_to_the_exporters_own_runbook() -> None:
    def runbooks(values: dict[str, Any]) -> set[str]:
        spec = render(values).one("PrometheusRule")["spec"]
        return _runbook_urls(spec)

    rendered = render({"prometheusRule": {"enabled": True}})
    service = rendered.one("Service")["metadata"]["name"]
    base = f"http://{service}.{NAMESPACE}.svc:9888/runbook#"
    standalone = runbooks({"prometheusRule": {"enabled": True}})
    assert standalone
    assert all(url.startswith(base) for url in standalone), standalone
    own = runbooks({"prometheusRule": {"enabled": True, "runbookUrl": "https://wiki/rb"}})
    assert all(url.startswith("https://wiki/rb#") for url in own)
    # Sidecar mode has no Service: the rule file's own links stay.
    source = yaml.safe_load((ROOT / "alerts" / "btsync.rules.yml").read_text(encoding="utf-8"))
    shipped = _runbook_urls(source)
    assert runbooks({"mode": "sidecar", "prometheusRule": {"enabled": True}}) == shipped


def test_chart_metadata_for_artifact_hub() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    for key in ("home", "icon", "sources", "maintainers"):
        assert chart[key], key
    assert chart["icon"].endswith("/helm/sync-exporter/icon.svg")
    assert (CHART / "icon.svg").read_text(encoding="utf-8").startswith("<svg")
    assert all(m["name"] for m in chart["maintainers"])
