"""Fixtures shared by the deploy tests that run real processes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.pod import process

#: The simulator's default API password (docs/simulator.md).
SIMULATOR_PASSWORD = "secret"


#: Nodes of the simulated fleet: enough that a round robin over two replicas splits them.
FLEET_SIZE = 3


@pytest.fixture
def sim_fleet() -> Iterator[dict[str, str]]:
    """Simulated Sync nodes on loopback: their names and URLs."""
    size = FLEET_SIZE
    argv = ["simulate", "--nodes", str(size), "--base-port", "0", "--seed", "1"]
    with process(argv, {}) as proc:
        assert proc.stdout is not None
        nodes: dict[str, str] = {}
        while len(nodes) < size:
            line = proc.stdout.readline()
            assert line, "the simulator exited before listing its nodes"
            match = re.match(r"\s+node (\S+)\s+(http://127\.0\.0\.1:\d+)", line)
            if match:
                nodes[match.group(1)] = match.group(2)
        yield nodes


def exporter_config(nodes: dict[str, str]) -> str:
    """An exporter config file's text for ``nodes`` (the simulator's login)."""
    lines = "".join(f"  - {{name: {n}, url: '{u}'}}\n" for n, u in nodes.items())
    return f"defaults: {{username: api, password: {SIMULATOR_PASSWORD}}}\nnodes:\n{lines}"


def assert_promtool_accepts(promtool: Path, rules: dict[str, Any], tmp_path: Path) -> None:
    """`promtool check rules` with every lint, fatal, on ``rules`` (a rule file's content)."""
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [str(promtool), "check", "rules", "--lint=all", "--lint-fatal", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
