"""The Alertmanager example of docs/alerts.md: a config amtool accepts that routes as it says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.alerts.conftest import ROOT

ALERTS_DOC = ROOT / "docs" / "alerts.md"


@pytest.fixture(scope="module")
def alertmanager_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The YAML block of the doc's Alertmanager section, written to a file."""
    text = ALERTS_DOC.read_text(encoding="utf-8")
    section = text.split("### Alertmanager", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "no yaml block in the Alertmanager section"
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(block[1], encoding="utf-8")
    return path


def test_the_example_is_a_valid_alertmanager_config(
    amtool: Path, alertmanager_example: Path
) -> None:
    result = subprocess.run(
        [str(amtool), "check-config", str(alertmanager_example)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=BTSyncNodeDown", "severity=critical"], "pager"),
        (["alertname=BTSyncFolderStalled", "severity=warning"], "tickets"),
        (["alertname=BTSyncVersionMismatch", "severity=info"], "null"),
        (["alertname=SomethingElse", "severity=warning"], "default"),
    ],
)
def test_the_example_routes_each_severity_as_described(
    amtool: Path, alertmanager_example: Path, labels: list[str], receiver: str
) -> None:
    result = subprocess.run(
        [
            str(amtool),
            "config",
            "routes",
            "test",
            f"--config.file={alertmanager_example}",
            f"--verify.receivers={receiver}",
            *labels,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
