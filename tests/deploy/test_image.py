"""The container image, really built (scripts/build-image: buildah) and really run.

The Dockerfile checks in test_dockerfile.py read the file; this module builds it, reads the
built image's configuration (what `docker inspect` shows a user), and runs the image's own
exporter, as its own user, against a simulated fleet. It needs buildah and, for the Python
base made here, debootstrap (Debian packages; scripts/test installs them when root) and
root (chroot isolation); it skips with the reason where those are missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.exporter_cli import DEFAULT_LISTEN_ADDRESS
from tests.deploy.chart import ROOT
from tests.deploy.conftest import exporter_config
from tests.deploy.pod import free_port, http_get, wait_serving

BUILD_SCRIPT = ROOT / "scripts" / "build-image"


@dataclass(frozen=True)
class BuiltImage:
    """A freshly built image: its name and its Docker-format configuration."""

    name: str
    config: dict[str, Any]


def _run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


def _why_buildah_cannot_run() -> str | None:
    """None when this machine can build and run images here, else the reason (for a skip)."""
    if shutil.which("buildah") is None:
        return "buildah not found: apt-get install -y buildah (scripts/test does it as root)"
    if os.geteuid() != 0:
        return "buildah's chroot isolation needs root here: run scripts/test as root"
    if not os.environ.get("PYTHON_IMAGE") and shutil.which("debootstrap") is None:
        return (
            "debootstrap not found (it makes the Python base): apt-get install -y debootstrap,"
            " or set PYTHON_IMAGE to a Python base image you can pull"
        )
    probe = _run("buildah", "from", "--name", f"sync-exporter-probe-{uuid.uuid4().hex}", "scratch")
    if probe.returncode != 0:
        return f"buildah cannot create containers here: {probe.stderr.strip()}"
    _run("buildah", "rm", probe.stdout.strip())
    return None


@pytest.fixture(scope="module")
def image() -> Iterator[BuiltImage]:
    """The image built from the working tree by scripts/build-image, removed afterwards."""
    reason = _why_buildah_cannot_run()
    if reason:
        pytest.skip(reason)
    name = f"localhost/sync-exporter:test-{uuid.uuid4().hex[:12]}"
    # A cold machine debootstraps the base first (about a minute), then builds.
    built = _run(str(BUILD_SCRIPT), name, timeout=900)
    assert built.returncode == 0, built.stderr[-4000:]
    assert built.stdout.strip().splitlines()[-1] == name
    try:
        inspected = _run("buildah", "inspect", "--type", "image", name)
        assert inspected.returncode == 0, inspected.stderr
        config = json.loads(inspected.stdout)["Docker"]["config"]
        yield BuiltImage(name, config)
    finally:
        _run("buildah", "rmi", name)


@contextmanager
def _container(image: BuiltImage) -> Iterator[str]:
    """A working container of ``image`` (buildah's, not a running process); removed after."""
    made = _run(
        "buildah", "from", "--pull-never", "--name", f"sync-exporter-test-{uuid.uuid4().hex}",
        image.name,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    container = made.stdout.strip()
    try:
        yield container
    finally:
        _run("buildah", "rm", container)


def _in_container(container: str, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run ``argv`` in the container as the image's user; its output; fails on non-zero."""
    result = _in_container_status(container, *argv, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _in_container_status(
    container: str, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return _run("buildah", "run", "--isolation", "chroot", *flags, container, "--", *argv)


def _dockerfile_user() -> str:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users: list[str] = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
    return users[-1]


# ------------------------------------------------------------------ what `inspect` shows


def test_image_runs_as_the_numeric_non_root_user(image: BuiltImage) -> None:
    assert image.config["User"] == _dockerfile_user() == "10001:10001"


def test_image_starts_the_exporter_with_the_default_config_path(image: BuiltImage) -> None:
    assert image.config["Entrypoint"] == ["/opt/venv/bin/sync-exporter"]
    assert image.config["WorkingDir"] == "/etc/sync-exporter"
    assert "--config.file=/etc/sync-exporter/sync-exporter.yml" in image.config["Cmd"]
    port = DEFAULT_LISTEN_ADDRESS.rsplit(":", 1)[1]
    assert image.config["ExposedPorts"] == {f"{port}/tcp": {}}


def test_image_keeps_its_healthcheck(image: BuiltImage) -> None:
    """The OCI format has no HEALTHCHECK: only a docker-format build keeps it."""
    check = image.config.get("Healthcheck")
    assert check, "no Healthcheck: was the image built with --format docker?"
    assert check["Test"][:3] == ["CMD", "python", "-c"]
    assert check["Interval"] == 30 * 10**9
    assert check["Retries"] == 3


def test_image_labels_carry_real_build_values(image: BuiltImage) -> None:
    labels = image.config["Labels"]
    prefix = "org.opencontainers.image."
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert labels[prefix + "version"] == pyproject["project"]["version"]
    head = _run("git", "-C", str(ROOT), "rev-parse", "HEAD").stdout.strip()
    assert labels[prefix + "revision"] in {head, f"{head}-dirty"}
    created = datetime.strptime(labels[prefix + "created"], "%Y-%m-%dT%H:%M:%SZ")
    assert created.year >= 2024
    assert labels[prefix + "source"].startswith("https://")
    assert labels[prefix + "licenses"] == "Apache-2.0"


# ------------------------------------------------------------------ what runs inside


def test_image_has_no_package_installer(image: BuiltImage) -> None:
    """docs/docker.md promises no pip in the runtime image, whatever the base shipped."""
    with _container(image) as container:
        assert _in_container(container, "id", "-u").strip() == "10001"
        assert _in_container_status(container, "python", "-m", "pip", "--version").returncode
        found = _in_container_status(container, "sh", "-c", "command -v pip pip3 gcc apt-get")
        assert found.stdout.strip() in {"", "/usr/bin/apt-get"}, found.stdout


def test_image_exporter_scrapes_a_fleet_and_passes_its_healthcheck(
    image: BuiltImage, sim_fleet: dict[str, str], tmp_path: Path
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    config = config_dir / "sync-exporter.yml"
    config.write_text(exporter_config(sim_fleet), encoding="utf-8")
    config_dir.chmod(0o755)
    config.chmod(0o644)  # the image's user 10001 reads it, as a mounted file must allow
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with _container(image) as container:
        # The image's CMD, with the port moved to a free one: the config comes from the
        # image's default path, through the mount.
        cmd = [a for a in image.config["Cmd"] if not a.startswith("--web.listen-address=")]
        run = subprocess.Popen(
            [
                "buildah", "run", "--isolation", "chroot",
                f"--volume={config_dir}:/etc/sync-exporter:ro", container, "--",
                *image.config["Entrypoint"], *cmd, f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        try:
            wait_serving(run, base + "/-/healthy", within=30)
            status, body = http_get(base + "/metrics")
            assert status == 200
            for name in sim_fleet:
                assert f'btsync_up{{node="{name}"}} 1.0' in body
            # The image's HEALTHCHECK command, as the engine would run it.
            check = image.config["Healthcheck"]["Test"][1:]
            url = {"SYNC_EXPORTER_HEALTHCHECK_URL": base + "/-/healthy"}
            assert _in_container_status(container, *check, env=url).returncode == 0
            closed = {"SYNC_EXPORTER_HEALTHCHECK_URL": f"http://127.0.0.1:{free_port()}/"}
            assert _in_container_status(container, *check, env=closed).returncode != 0
        finally:
            run.terminate()
            output, _ = run.communicate(timeout=30)
    assert "starting sync-exporter" in output, output
