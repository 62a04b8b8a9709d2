"""Shared data for the alert tests: the repository paths and the parsed rule and test files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULES_FILE = ALERTS / "btsync.rules.yml"
CONFIG_FILE = ALERTS / "config.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
PROMTOOL_TESTS = sorted((ALERTS / "tests").glob("*.yml"))


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test taking ``promtool_test_file`` once per file of alerts/tests/."""
    if "promtool_test_file" in metafunc.fixturenames:
        metafunc.parametrize("promtool_test_file", PROMTOOL_TESTS, ids=lambda p: p.name)


@pytest.fixture(scope="session")
def rules_file() -> Path:
    """The committed rule file."""
    return RULES_FILE


@pytest.fixture(scope="session")
def config_file() -> Path:
    """The committed tunables (the defaults, spelled out)."""
    return CONFIG_FILE


@pytest.fixture(scope="session")
def runbook() -> str:
    """The text of docs/runbook.md."""
    return RUNBOOK.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the committed rule file."""
    groups = _load_yaml(RULES_FILE)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.fixture(scope="session")
def promtool_tests() -> list[tuple[Path, dict[str, Any]]]:
    """Every promtool unit-test file, parsed, with its path."""
    return [(path, _load_yaml(path)) for path in PROMTOOL_TESTS]
