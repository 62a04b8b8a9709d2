"""The rule file passes Prometheus' own checks, and its unit tests pass, with the real promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )


def test_rule_file_passes_promtool_check_with_every_lint(promtool: Path, rules_file: Path) -> None:
    result = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", rules_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass(promtool: Path, promtool_test_file: Path) -> None:
    result = _run(promtool, "test", "rules", promtool_test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_wrong_annotation(
    promtool: Path, rules_file: Path, tmp_path: Path
) -> None:
    """The harness is not vacuous: one changed expected word makes promtool fail."""
    source = rules_file.parent / "tests" / "exporter.yml"
    text = source.read_text(encoding="utf-8").replace("../btsync.rules.yml", str(rules_file))
    assert "monitored." in text
    broken = tmp_path / source.name
    broken.write_text(text.replace("monitored.", "watched.", 1), encoding="utf-8")
    result = _run(promtool, "test", "rules", broken)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_every_promql_query_in_the_runbook_parses(
    promtool: Path, runbook: str, tmp_path: Path
) -> None:
    """A confirm step that does not parse wastes an on-call minute (one query per line)."""
    queries = [
        line.strip()
        for block in re.findall(r"^```promql\n(.*?)^```", runbook, re.S | re.M)
        for line in block.splitlines()
        if line.strip()
    ]
    assert len(queries) >= 10
    rules = [{"record": f"runbook:query:{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "runbook.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbook", "rules": rules}]}), "utf-8")
    result = _run(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
