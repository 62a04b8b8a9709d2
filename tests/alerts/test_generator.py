"""The generator: committed files are fresh, tunables are strict, every variant is valid PromQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sync_exporter.alerting import (
    ALERT_NAMES,
    TunablesError,
    default_tunables,
    demo_rules_text,
    load_tunables,
    parse_tunables,
    render_rules,
    write_demo_rules,
)
from sync_exporter.alerting.__main__ import main
from sync_exporter.document import DURATION_HINT

_SELECTOR = re.compile(r"\b(up|btsync_[a-z_]+)(\{[^}]*\})?(?![a-z_:(])")


def _alerts(text: str) -> dict[str, dict[str, object]]:
    groups = yaml.safe_load(text)["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_committed_rule_file_is_what_the_committed_tunables_generate(
    rules_file: Path, config_file: Path
) -> None:
    expected = render_rules(load_tunables(config_file))
    assert rules_file.read_text(encoding="utf-8") == expected, (
        "alerts/btsync.rules.yml is stale: run python -m sync_exporter.alerting "
        "--config alerts/config.yml --output alerts/btsync.rules.yml"
    )


def test_committed_tunables_spell_out_the_built_in_defaults(config_file: Path) -> None:
    """The demo uses the built-in defaults: they must be what alerts/config.yml documents."""
    assert load_tunables(config_file) == default_tunables()


def test_an_empty_tunables_file_means_the_defaults() -> None:
    assert parse_tunables("") == default_tunables()
    assert parse_tunables("{}") == default_tunables()


def test_every_metric_selector_carries_the_configured_selector() -> None:
    """No hard-coded job: a user's selector reaches every series the alerts read."""
    text = render_rules(parse_tunables('selector: \'cluster="eu1", job="sync"\''))
    assert 'job=~"btsync.*"' not in text
    for rule in yaml.safe_load(text)["groups"][0]["rules"]:
        for metric, braces in _SELECTOR.findall(str(rule["expr"])):
            assert braces, (rule.get("alert"), metric)
            assert 'cluster="eu1", job="sync"' in braces, (rule.get("alert"), metric)


def test_tunables_change_severity_for_window_labels_and_drop_alerts() -> None:
    tunables = parse_tunables(
        """
        runbook_url: https://runbooks.example.org/btsync.md
        labels: {team: storage}
        alerts:
          BTSyncNodeDown: {severity: warning, for: 15m}
          BTSyncFolderStalled: {window: 20m}
          BTSyncPeerNotSynced: {max_age: 7d}
          BTSyncVersionMismatch: {enabled: false}
          BTSyncDiskSpaceLow: {window: 12h, horizon: 48h, min_free: 512MiB}
        """
    )
    alerts = _alerts(render_rules(tunables))
    assert "BTSyncVersionMismatch" not in alerts
    node_down = alerts["BTSyncNodeDown"]
    assert node_down["for"] == "15m"
    assert node_down["labels"] == {"severity": "warning", "team": "storage"}
    assert "for 15m" in str(node_down["annotations"]["description"])  # type: ignore[index]
    assert node_down["annotations"]["runbook_url"] == (  # type: ignore[index]
        "https://runbooks.example.org/btsync.md#btsyncnodedown"
    )
    assert "[20m]" in str(alerts["BTSyncFolderStalled"]["expr"])
    disk = alerts["BTSyncDiskSpaceLow"]
    assert "[12h], 172800) < 0" in str(disk["expr"])
    assert str(disk["expr"]).rstrip().endswith("< 536870912")
    assert "within 48h, or below 512MiB" in str(disk["annotations"]["description"])  # type: ignore[index]
    assert "> 604800" in str(alerts["BTSyncPeerNotSynced"]["expr"])


def test_every_mistake_is_reported_at_once_with_its_key_path() -> None:
    with pytest.raises(TunablesError) as caught:
        parse_tunables(
            """
            selectr: 'job="x"'
            comparable_copies: '{type="read_write"}'
            change_window: 5 minutes
            labels: {severity: page, "bad-name": x, team: 3}
            alerts:
              BTSyncNodeDown: {severity: page, for: 0s}
              BTSyncFolderError: {window: 5m}
              BTSyncNodeDwn: {for: 5m}
            """
        )
    assert caught.value.errors == [
        "selectr: unknown key (did you mean selector?)",
        "comparable_copies: write only the matchers, without braces or backticks",
        f'change_window: "5 minutes" is not a duration: {DURATION_HINT}',
        "labels.severity: set by the rules themselves",
        "labels.bad-name: not a valid label name",
        "labels.team: must be a string (quote it)",
        "alerts.BTSyncNodeDwn: unknown key (did you mean BTSyncNodeDown?)",
        "alerts.BTSyncNodeDown.severity: must be one of critical, warning, info",
        "alerts.BTSyncNodeDown.for: must be a positive duration",
        "alerts.BTSyncFolderError.window: unknown key (allowed: enabled, severity, for)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", "line 1, column 6: inside a [...] list"),
        ("- a list", "top level: must be a mapping, not a list"),
        ("alerts: {BTSyncNodeDown: {enabled: maybe}}", "enabled: must be true or false"),
        ("selector: 42", "selector: must be a non-empty string"),
        ("""selector: 'job="a",'""", "is not a comma-separated list of label matchers"),
        ("""selector: 'job="a" or up'""", "is not a comma-separated list of label matchers"),
        ("comparable_copies: 'type'", "is not a comma-separated list of label matchers"),
        ("labels: {team: '{{ $value }}'}", "labels.team: must be a fixed value, not a template"),
        ("runbook_url: 'https://x/runbook.md#top'", "runbook_url: give the page without #"),
        (
            "alerts: {BTSyncDiskSpaceLow: {min_free: 1GB}}",
            "alerts.BTSyncDiskSpaceLow.min_free: '1GB' is not a size like 1GiB",
        ),
        (
            "alerts: {BTSyncNodeDown: {min_free: 1GiB}}",
            "alerts.BTSyncNodeDown.min_free: unknown key",
        ),
    ],
)
def test_bad_documents_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(TunablesError, match=re.escape(message)):
        parse_tunables(text)


def test_demo_rules_scale_every_duration_and_flag_each_alert() -> None:
    real = _alerts(render_rules())
    demo = _alerts(demo_rules_text(scale=1 / 60, floor_ms=15_000))
    assert set(demo) == set(ALERT_NAMES)
    assert demo["BTSyncFolderIndexingStuck"]["for"] == "2m"
    assert demo["BTSyncNodeDown"]["for"] == "15s"  # 5s, raised to the floor
    assert "[30s]" in str(demo["BTSyncFolderIndexingStuck"]["expr"])
    # the world keeps its pace: the prediction still looks 24h ahead, the floor stays 1GiB
    disk = str(demo["BTSyncDiskSpaceLow"]["expr"])
    assert "[6m], 86400) < 0" in disk
    assert disk.rstrip().endswith("< 1073741824")
    for name, rule in demo.items():
        assert rule["labels"]["demo_only"] == "true"  # type: ignore[index]
        summary = str(rule["annotations"]["summary"])  # type: ignore[index]
        assert summary.startswith("[demo, durations x0.01667] "), name
        assert real[name]["for"] != rule["for"] or rule["for"] == "15s", name


def test_demo_rules_and_custom_rules_pass_promtool(promtool: Path, tmp_path: Path) -> None:
    demo = write_demo_rules(tmp_path / "demo.rules.yml", scale=1 / 720, floor_ms=2_000)
    custom = tmp_path / "custom.rules.yml"
    custom.write_text(
        render_rules(
            parse_tunables(
                "selector: 'job=\"sync\"'\ncomparable_copies: 'type=\"read_write\"'\n"
                "alerts: {BTSyncFolderStalled: {enabled: false}}\n"
            )
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(promtool), "check", "rules", "--lint=all", "--lint-fatal", str(demo), str(custom)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DEMO ONLY" in demo.read_text(encoding="utf-8")


def test_cli_writes_checks_and_refuses_bad_tunables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rules_file: Path, config_file: Path
) -> None:
    out = tmp_path / "rules.yml"
    assert main(["--config", str(config_file), "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == rules_file.read_text(encoding="utf-8")
    assert main(["--config", str(config_file), "--output", str(out), "--check"]) == 0

    out.write_text(out.read_text(encoding="utf-8").replace("for: 5m", "for: 1m"), "utf-8")
    assert main(["--config", str(config_file), "--output", str(out), "--check"]) == 1
    assert "is stale: regenerate it" in capsys.readouterr().err

    bad = tmp_path / "bad.yml"
    bad.write_text("alerts: {BTSyncNodeDown: {for: soon}}\n", encoding="utf-8")
    before = out.read_text(encoding="utf-8")
    assert main(["--config", str(bad), "--output", str(out)]) == 2
    assert 'alerts.BTSyncNodeDown.for: "soon" is not a duration' in (capsys.readouterr().err)
    assert out.read_text(encoding="utf-8") == before
    assert main(["--config", str(tmp_path / "missing.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_module_runs_as_a_script(rules_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sync_exporter.alerting", "--output", str(rules_file), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_duplicate_key_is_refused_not_silently_replaced() -> None:
    # The second selector used to win without a word, although loading promises strictness.
    with pytest.raises(TunablesError) as caught:
        parse_tunables("selector: 'job=\"a\"'\nalerts: {}\nselector: 'job=\"b\"'\n")
    assert caught.value.errors == ["selector: duplicate key (line 1 and line 3)"]
