"""The regeneration command CI and developers run: write, report, and --check for staleness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_exporter.dashboards import BUILDERS
from sync_exporter.dashboards.__main__ import main
from sync_exporter.dashboards.grafana import Dashboard, Panel, Row, Target

NAMES = [name for name, _ in BUILDERS]


def test_check_fails_until_written_then_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)

    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES)
    capsys.readouterr()

    assert main(["--check", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def test_a_hand_edit_is_reported_and_undone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([str(tmp_path)])
    edited = tmp_path / NAMES[1]
    dashboard = json.loads(edited.read_text(encoding="utf-8"))
    dashboard["title"] = "edited in the UI"
    edited.write_text(json.dumps(dashboard), encoding="utf-8")
    capsys.readouterr()

    assert main(["--check", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{edited}: stale, run sync-exporter dashboards {tmp_path}"
    ]
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {edited}"]
    assert json.loads(edited.read_text(encoding="utf-8"))["title"] != "edited in the UI"


def test_a_panel_wider_than_the_grid_is_refused() -> None:
    wide = Panel("stat", "Too wide", "A panel that cannot fit.", "none", (Target("up"),), width=25)
    dashboard = Dashboard("x", "X", "x", (), (Row("r", (wide,)),))
    with pytest.raises(ValueError, match="'Too wide' is wider than the grid"):
        dashboard.to_json()


def test_many_queries_get_distinct_ref_ids() -> None:
    targets = tuple(Target(f"vector({i})") for i in range(30))
    panel = Panel("timeseries", "Many", "Thirty queries in one panel.", "none", targets)
    refs = [t["refId"] for t in panel.to_json(1, 0, 0)["targets"]]
    assert refs[:3] == ["A", "B", "C"]
    assert refs[25:28] == ["Z", "AA", "AB"]
    assert len(set(refs)) == 30
