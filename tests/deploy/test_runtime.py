"""The rendered pods work: the exporter accepts each scenario's config, flags and mounts.

The container's files are laid out from the rendered objects (tests/deploy/pod.py); then the
exporter's own config loader and flag parser judge them, and for the sidecar a real exporter
process scrapes a simulated Sync node on loopback, as it would inside the Sync pod.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.config import ConfigError, parse_config
from sync_exporter.exporter_cli import build_parser
from tests.deploy.chart import (
    CHART,
    CI_VALUES,
    Rendered,
    exporter_container,
    load_values,
    render,
)
from tests.deploy.pod import (
    DUMMY_PASSWORD,
    free_port,
    http_get,
    materialize,
    process,
    write_secret_volume,
)


def _container(rendered: Rendered) -> dict[str, Any]:
    deployments = rendered.of_kind("Deployment")
    if deployments:
        return exporter_container(deployments[0]["spec"]["template"]["spec"])
    import yaml

    snippet = next(
        b for b in rendered.notes.split("\n\n") if b.startswith(("containers:", "initContainers:"))
    )
    (container,) = next(iter(yaml.safe_load(snippet).values()))
    assert isinstance(container, dict)
    return container


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def test_the_exporter_accepts_the_rendered_config_and_flags(path: Path, tmp_path: Path) -> None:
    values = load_values(path)
    if values.get("existingConfigMap"):
        pytest.skip("the config comes from outside the chart")
    rendered = render(values)
    pod = materialize(rendered, _container(rendered), tmp_path)
    args = build_parser().parse_args(list(pod.args))
    assert args.config_file == pod.config_file
    text = pod.config_file.read_text(encoding="utf-8")
    load = functools.partial(
        parse_config,
        text,
        source=str(pod.config_file),
        env=pod.env,
        base_dir=pod.config_file.parent,
    )
    credentials = values.get("credentials", {})
    if "password_file" in text and not (
        credentials.get("existingSecret") or credentials.get("passwords")
    ):
        # No Secret given (the chart's bare defaults): the exporter stops with a clear
        # message, and the install notes said so beforehand.
        with pytest.raises(ConfigError, match="cannot read password file"):
            load()
        assert "WARNING: the config reads password_file but no Secret is mounted" in rendered.notes
        return
    config = load()
    expected = [n["name"] for n in values.get("config", {}).get("nodes", [{"name": "sync"}])]
    assert [n.name for n in config.nodes] == [
        pod.env["POD_NAME"] if n == "${POD_NAME}" else n for n in expected
    ]


@pytest.fixture
def sync_node(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A simulated Sync node on a free loopback port; yields its web UI URL and process."""
    storage = tmp_path / "sync-storage"
    storage.mkdir()
    conf = tmp_path / "sync.conf"
    conf.write_text(
        json.dumps(
            {
                "storage_path": str(storage),
                "device_name": "sync-0",
                "webui": {
                    "listen": "127.0.0.1:0",
                    "login": "api",
                    "password": DUMMY_PASSWORD,
                    "api_key": "simulated",
                },
            }
        ),
        encoding="utf-8",
    )
    with process(["simulate", "--config", str(conf)], {}) as proc:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/api", banner)
        assert match, banner
        yield match.group(1), proc


def test_sidecar_scrapes_its_sync_node_and_stays_ready_when_it_stops(
    sync_node: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    sync_url, sync_process = sync_node
    values = load_values(CHART / "ci" / "sidecar-values.yaml")
    rendered = render(values)
    container = _container(rendered)
    pod = materialize(rendered, container, tmp_path / "pod")
    config = pod.config_file.read_text(encoding="utf-8")
    assert "http://127.0.0.1:8888" in config  # Sync's default web UI port, on loopback
    pod.config_file.write_text(config.replace("http://127.0.0.1:8888", sync_url))
    port = free_port()
    args = [a for a in pod.args if not a.startswith("--web.listen-address=")]
    base = f"http://127.0.0.1:{port}"
    ready = base + container["readinessProbe"]["httpGet"]["path"]
    live = base + container["livenessProbe"]["httpGet"]["path"]
    with process([*args, f"--web.listen-address=127.0.0.1:{port}"], pod.env, ready_url=live):
        status, body = http_get(base + "/metrics")
        assert status == 200
        assert 'btsync_up{node="sync-0"} 1.0' in body
        assert http_get(ready)[0] == 200
        # Sync goes away: the exporter reports it, and keeps the pod ready and alive.
        sync_process.terminate()
        assert sync_process.wait(timeout=10) == 0
        status, body = http_get(base + "/metrics")
        assert 'btsync_up{node="sync-0"} 0.0' in body
        assert http_get(ready)[0] == 200
        assert http_get(live)[0] == 200


def test_a_rotated_secret_takes_effect_without_a_restart(
    sync_node: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    """The Secret is a directory mount, so the kubelet's atomic swap reaches the exporter."""
    sync_url, _ = sync_node
    values = load_values(CHART / "ci" / "sidecar-values.yaml")
    rendered = render(values)
    container = _container(rendered)
    pod = materialize(rendered, container, tmp_path / "pod")
    config = pod.config_file.read_text(encoding="utf-8")
    pod.config_file.write_text(config.replace("http://127.0.0.1:8888", sync_url))
    secrets = pod.root / "secrets"
    write_secret_volume(secrets, {"password": b"the-old-password\n"})
    port = free_port()
    args = [a for a in pod.args if not a.startswith("--web.listen-address=")]
    base = f"http://127.0.0.1:{port}"
    with process([*args, f"--web.listen-address=127.0.0.1:{port}"], pod.env, ready_url=base):
        assert 'btsync_up{node="sync-0"} 0.0' in http_get(base + "/metrics")[1]
        write_secret_volume(secrets, {"password": (DUMMY_PASSWORD + "\n").encode()})
        assert 'btsync_up{node="sync-0"} 1.0' in http_get(base + "/metrics")[1]
