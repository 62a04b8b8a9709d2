"""The ``sync-exporter`` command dispatches subcommands to their own parsers."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import pytest

from sync_exporter import __version__
from sync_exporter.cli import SUBCOMMANDS, main
from sync_exporter.simulator.single import main as single_main

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_its_own_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


#: Arguments a subcommand requires, so that the unknown flag is the only mistake.
REQUIRED = {"dashboards": ["DIR"]}


@pytest.mark.parametrize("name", ["", *sorted(SUBCOMMANDS)])
def test_every_command_refuses_an_unknown_flag_with_2_usage_and_why(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    command = [name] if name else []
    assert main([*command, "--no-such-flag", *REQUIRED.get(name, [])]) == 2
    out, err = capsys.readouterr()
    prog = " ".join(["sync-exporter", *command])
    assert out == ""
    assert err.startswith(f"usage: {prog} ")
    assert err.splitlines()[-1] == f"{prog}: error: unrecognized arguments: --no-such-flag"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["alerts", "--check"], "--check needs --output"),
        (["demo", "--sim.base-port", "70000"], "argument --sim.base-port: must be between 0"),
        (["simulate", "--scenario", "demo", "--peers", "9"], "--folders and --peers describe"),
        (["simulate", "--config", "sync.conf", "--nodes", "2"], "it excludes --nodes"),
    ],
)
def test_flags_checked_after_parsing_are_reported_as_argparse_reports_its_own(
    argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    prog = f"sync-exporter {argv[0]}"
    assert out == ""
    assert err.startswith(f"usage: {prog} ")
    last = err.splitlines()[-1]
    assert last.startswith(f"{prog}: error: ")
    assert why in last


def test_the_single_node_module_returns_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert single_main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m sync_exporter.simulator.single")
    assert single_main(["sync.conf", "--no-such-flag"]) == 2
    assert "error: unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_version_prints_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


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


def _parsers_of(name: str, monkeypatch: pytest.MonkeyPatch) -> list[argparse.ArgumentParser]:
    """Every argument parser ``sync-exporter NAME --help`` builds (top level: NAME "")."""
    seen: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_known_args

    def recording(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", recording)
    assert main([name, "--help"] if name else ["--help"]) == 0
    assert seen, f"sync-exporter {name} --help built no argument parser"
    return seen


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = out.split("subcommands", 1)[1]
    for name in SUBCOMMANDS:
        line = next((ln for ln in listed.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None, f"{name} missing from sync-exporter --help"
        assert len(line.split()) > 2, f"{name} has no summary in sync-exporter --help"


@pytest.mark.parametrize("name", ["", *sorted(SUBCOMMANDS)])
def test_every_flag_has_help_and_usage_names_the_command(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for parser in _parsers_of(name, monkeypatch):
        assert parser.prog == f"sync-exporter {name}".strip()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flag = "/".join(action.option_strings) or action.dest
            assert action.help, f"sync-exporter {name}: {flag} has no help text"
    usage = capsys.readouterr().out.splitlines()[0]
    assert usage.startswith(f"usage: sync-exporter {name}".rstrip())
    assert "python -m" not in usage


def test_dashboards_without_a_directory_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["dashboards"]) == 2
    assert "DIR" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_no_subcommand_writes_into_the_working_directory_when_asked_for_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in SUBCOMMANDS:
        assert main([name, "--help"]) == 0
    assert list(tmp_path.iterdir()) == []


# A YAML mistake and the line a person has to fix: that line comes first in the message.
YAML_MISTAKES = [
    pytest.param(
        "nodes:\n  - name: a\n    url: http://x:1\n    username: u\n   password: p\n",
        "line 5, column 4: this line is indented differently",
        id="mis-indented key",
    ),
    pytest.param(
        "nodes:\n  - name: a\n    url: http://x:1\n    username u\n    password: p\n",
        "line 4, column 5: this line is not 'key: value'",
        id="missing colon",
    ),
    pytest.param(
        'defaults:\n  password: "abc\nnodes: []\n',
        "line 2, column 13: a quoted string starts here and is never closed",
        id="unclosed quote",
    ),
    pytest.param(
        "nodes:\n  - name: a\n    url: http://x:1\n\tusername: u\n",
        "line 4, column 1: a tab character",
        id="tab",
    ),
    pytest.param(
        "nodes:\n  - {name: a, url: http://x:1\n  - name: b\n",
        "line 3, column 9: inside a {...} mapping",
        id="unclosed brace",
    ),
]


@pytest.mark.parametrize(("text", "first"), YAML_MISTAKES)
def test_yaml_errors_name_the_line_to_fix_first(
    text: str, first: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sync-exporter.yml"
    config.write_text(text, encoding="utf-8")
    assert main(["--config.check", "--config.file", str(config)]) == 2
    errors = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    assert len(errors) == 1
    assert errors[0].startswith(first)
    assert "password: p" not in errors[0]  # the text of the line is never echoed


@pytest.mark.parametrize(("text", "first"), YAML_MISTAKES[:2])
def test_alert_tunables_report_yaml_errors_alike(
    text: str, first: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tunables = tmp_path / "tunables.yml"
    tunables.write_text(text, encoding="utf-8")
    assert main(["alerts", "--config", str(tunables)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tunables}: {first}")
