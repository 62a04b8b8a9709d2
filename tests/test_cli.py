"""The ``sync-exporter`` command dispatches subcommands to their own parsers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sync_exporter.cli import SUBCOMMANDS, main

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_its_own_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_alerts_subcommand_checks_and_regenerates_the_rule_file(tmp_path: Path) -> None:
    rules = tmp_path / "btsync.rules.yml"
    shutil.copy(ROOT / "alerts" / "btsync.rules.yml", rules)
    tunables = ["--config", str(ROOT / "alerts" / "config.yml"), "--output", str(rules)]
    assert main(["alerts", *tunables, "--check"]) == 0

    rules.write_text(rules.read_text(encoding="utf-8").replace("for: 5m", "for: 1m", 1))
    assert main(["alerts", *tunables, "--check"]) == 1  # stale: says so, writes nothing
    assert main(["alerts", *tunables]) == 0
    assert rules.read_bytes() == (ROOT / "alerts" / "btsync.rules.yml").read_bytes()


def test_dashboards_subcommand_writes_what_is_committed(tmp_path: Path) -> None:
    assert main(["dashboards", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in (ROOT / "grafana").glob("*.json"))
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "grafana" / name).read_bytes()
