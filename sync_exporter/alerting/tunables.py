"""The knobs of the bundled alert rules: selectors, severities, durations and thresholds.

Users change these in ``alerts/config.yml`` and regenerate the rules instead of editing
PromQL by hand (the monitoring-mixin way: selectors and thresholds are configuration).
Loading is strict, on the same document kernel as the exporter's config
(:mod:`sync_exporter.document`): duplicate and unknown keys, bad durations and bad
severities are all reported at once, each with its key path, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sync_exporter import document
from sync_exporter.document import INVALID, DocumentError, Fields, Schema, read_document

__all__ = [
    "ALERT_NAMES",
    "SEVERITIES",
    "AlertSettings",
    "Tunables",
    "TunablesError",
    "default_tunables",
    "format_bytes",
    "format_duration",
    "load_tunables",
    "parse_bytes",
    "parse_duration",
    "parse_tunables",
]

#: The severities the monitoring-mixin guidelines allow (critical pages, warning tickets).
SEVERITIES = ("critical", "warning", "info")

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_BYTES = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_BYTES = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB|TiB)?")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MATCHER = (
    r"""\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*"""
)
#: One or more label matchers separated by commas, as PromQL has them between braces.
_MATCHERS = re.compile(f"{_MATCHER}(?:,{_MATCHER})*")


class TunablesError(DocumentError, ValueError):
    """The tunables are invalid; ``errors`` lists every problem with its key path."""


def parse_duration(value: object) -> int:
    """Return a positive duration (``90s``, ``2h``, ``1h30m``, ``7d``, ``90``) in milliseconds.

    The grammar is every document's (:func:`sync_exporter.document.parse_duration`); the
    rules are written with whole milliseconds, Prometheus' resolution.
    """
    millis = round(document.parse_duration(value) * 1000)
    if millis <= 0:
        raise ValueError("must be a positive duration")
    return millis


def parse_bytes(text: object) -> int:
    """Return a size (``1GiB``, ``512MiB``, ``1048576``) in bytes; binary units only."""
    found = _BYTES.fullmatch(str(text).strip()) if isinstance(text, int | str) else None
    if found is None or isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size like 1GiB, 512MiB or 1048576 (bytes)")
    return int(found[1]) * _UNIT_BYTES[found[2] or "B"]


def format_bytes(size: int) -> str:
    """Return ``size`` in the largest binary unit that divides it: ``1GiB``, ``1536MiB``."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if size and size % _UNIT_BYTES[unit] == 0:
            return f"{size // _UNIT_BYTES[unit]}{unit}"
    return f"{size}B"


def format_duration(millis: int) -> str:
    """Return ``millis`` in one unit that divides it: ``7d``, ``48h``, ``90s``, ``416ms``.

    Days only from a week up, so thresholds read the way people say them (48h, not 2d).
    """
    day = _UNIT_MS["d"]
    if millis >= 7 * day and millis % day == 0:
        return f"{millis // day}d"
    for unit in ("h", "m", "s"):
        if millis % _UNIT_MS[unit] == 0:
            return f"{millis // _UNIT_MS[unit]}{unit}"
    return f"{millis}ms"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How one alert behaves; ``window`` and ``max_age`` only exist where the alert uses them."""

    enabled: bool
    severity: str
    for_ms: int
    #: Look-back of the rate/changes/increase the alert uses (None: the alert has none).
    window_ms: int | None = None
    #: Peer sync age threshold (BTSyncPeerNotSynced only).
    max_age_ms: int | None = None
    #: How far ahead a trend is extrapolated (BTSyncDiskSpaceLow only).
    horizon_ms: int | None = None
    #: Free space below which a volume counts as full whatever its trend (DiskSpaceLow).
    min_free_bytes: int | None = None


def _alert(
    severity: str,
    for_: str,
    *,
    window: str | None = None,
    max_age: str | None = None,
    horizon: str | None = None,
    min_free: str | None = None,
) -> AlertSettings:
    return AlertSettings(
        enabled=True,
        severity=severity,
        for_ms=parse_duration(for_),
        window_ms=None if window is None else parse_duration(window),
        max_age_ms=None if max_age is None else parse_duration(max_age),
        horizon_ms=None if horizon is None else parse_duration(horizon),
        min_free_bytes=None if min_free is None else parse_bytes(min_free),
    )


def _default_alerts() -> dict[str, AlertSettings]:
    return {
        "BTSyncExporterDown": _alert("critical", "5m"),
        "BTSyncNodeDown": _alert("critical", "5m"),
        "BTSyncFolderError": _alert("warning", "15m"),
        "BTSyncFolderIndexingStuck": _alert("warning", "2h", window="30m"),
        "BTSyncFolderNoPeers": _alert("warning", "30m"),
        "BTSyncFolderPaused": _alert("warning", "6h"),
        "BTSyncFolderStalled": _alert("warning", "1h", window="15m"),
        "BTSyncFolderOutOfSync": _alert("warning", "6h", window="1h"),
        "BTSyncPeerNotSynced": _alert("warning", "30m", max_age="48h"),
        "BTSyncDiskSpaceLow": _alert("warning", "1h", window="6h", horizon="24h", min_free="1GiB"),
        "BTSyncExporterScrapeErrors": _alert("warning", "30m", window="15m"),
        "BTSyncVersionMismatch": _alert("info", "24h"),
    }


#: Every alert the rules file defines, in file order (other parts rely on these names).
ALERT_NAMES: tuple[str, ...] = tuple(_default_alerts())


@dataclass(frozen=True, slots=True)
class Tunables:
    """Everything the generator needs besides the rule logic itself."""

    #: Label matchers that pick this exporter's series (and its ``up``) out of Prometheus.
    selector: str = 'job=~"btsync.*"'
    #: Extra matchers on ``btsync_folder_info`` choosing the copies whose size and file count
    #: must agree across nodes. Encrypted copies hold ciphertext, so their size differs;
    #: ``selective="true"`` (get_folder_prefs.selective_sync) marks partial copies.
    comparable_copies: str = 'type!="encrypted", selective!~"1|true"'
    #: Base of every ``runbook_url``; the alert's anchor in docs/runbook.md is appended.
    runbook_url: str = "docs/runbook.md"
    #: Local folder changes are seen within this window; keep it at least two scrape
    #: intervals and one rule evaluation interval long.
    change_window_ms: int = 300_000
    #: How long the last-change timestamp survives gaps in the data (exporter restarts).
    change_memory_ms: int = 604_800_000
    #: Labels added to every alert (team, routing keys).
    labels: Mapping[str, str] = field(default_factory=dict)
    alerts: Mapping[str, AlertSettings] = field(default_factory=_default_alerts)

    def alert(self, name: str) -> AlertSettings:
        """Return the settings of alert ``name``."""
        return self.alerts[name]

    def scaled(self, factor: float, *, floor_ms: int) -> Tunables:
        """Return a copy with every duration multiplied by ``factor``, none below ``floor_ms``.

        For demos and end-to-end tests only: real alerts need real durations. The
        last-change memory is not scaled, it only has to outlive the run. Nor is a
        prediction's horizon (or min_free): the simulated world keeps its real pace, so a
        volume that fills in 20 minutes is full within 24h whatever the demo waits.
        """

        def scale(millis: int) -> int:
            return max(floor_ms, round(millis * factor))

        def scale_opt(millis: int | None) -> int | None:
            return None if millis is None else scale(millis)

        alerts = {
            name: dataclasses.replace(
                settings,
                for_ms=scale(settings.for_ms),
                window_ms=scale_opt(settings.window_ms),
                max_age_ms=scale_opt(settings.max_age_ms),
            )
            for name, settings in self.alerts.items()
        }
        return dataclasses.replace(
            self, change_window_ms=scale(self.change_window_ms), alerts=alerts
        )


def default_tunables() -> Tunables:
    """Return the defaults that ``alerts/config.yml`` spells out."""
    return Tunables()


#: The schema of the document: its top-level keys. Each alert's keys are its own
#: (see :func:`_alert_schema`), so only the knobs an alert uses can be set.
_TOP = Schema(
    optional=(
        "selector",
        "comparable_copies",
        "runbook_url",
        "change_window",
        "change_memory",
        "labels",
        "alerts",
    )
)
_ALERTS = Schema(optional=ALERT_NAMES)


def _alert_schema(base: AlertSettings) -> Schema:
    optional = ["enabled", "severity", "for"]
    if base.window_ms is not None:
        optional.append("window")
    if base.max_age_ms is not None:
        optional.append("max_age")
    if base.horizon_ms is not None:
        optional.append("horizon")
    if base.min_free_bytes is not None:
        optional.append("min_free")
    return Schema(optional=tuple(optional))


class _Checker(Fields):
    """The kernel's readers plus the tunables' own: PromQL matchers, milliseconds."""

    def text(self, value: object, path: str) -> str | None:
        if value is INVALID:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(path, "must be a non-empty string")
            return None
        return value.strip()

    def millis(self, value: object, path: str) -> int | None:
        """Return a positive duration in milliseconds."""
        if value is INVALID:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    def matchers(self, value: object, path: str) -> str | None:
        """Accept label matchers as they go between braces; refuse the braces themselves."""
        text = self.text(value, path)
        if text is not None and any(c in text for c in "{}`"):
            self.errors.append(f"{path}: write only the matchers, without braces or backticks")
            return None
        if text is not None and not _MATCHERS.fullmatch(text):
            # Caught here, not by promtool later: the rules are spliced from this text.
            self.errors.append(
                f"{path}: {text!r} is not a comma-separated list of label matchers "
                'like job=~"btsync.*", cluster="eu1"'
            )
            return None
        return text


def _parse_alert(check: _Checker, name: str, value: object, base: AlertSettings) -> AlertSettings:
    path = f"alerts.{name}"
    block = check.mapping(value, path, _alert_schema(base))
    settings = base
    if "enabled" in block:
        if isinstance(block["enabled"], bool):
            settings = dataclasses.replace(settings, enabled=block["enabled"])
        elif block["enabled"] is not INVALID:
            check.error(f"{path}.enabled", "must be true or false")
    if "severity" in block:
        if block["severity"] in SEVERITIES:
            settings = dataclasses.replace(settings, severity=str(block["severity"]))
        elif block["severity"] is not INVALID:
            check.error(f"{path}.severity", f"must be one of {', '.join(SEVERITIES)}")
    durations = {
        key: check.millis(block[key], f"{path}.{key}")
        for key in ("for", "window", "max_age", "horizon")
        if key in block
    }
    if "min_free" in block:
        try:
            settings = dataclasses.replace(settings, min_free_bytes=parse_bytes(block["min_free"]))
        except ValueError as exc:
            check.errors.append(f"{path}.min_free: {exc}")
    return dataclasses.replace(
        settings,
        for_ms=durations.get("for") or settings.for_ms,
        window_ms=durations.get("window") or settings.window_ms,
        max_age_ms=durations.get("max_age") or settings.max_age_ms,
        horizon_ms=durations.get("horizon") or settings.horizon_ms,
    )


def _parse_labels(check: _Checker, value: object) -> dict[str, str] | None:
    if value is INVALID:
        return None
    if not isinstance(value, dict):
        check.errors.append("labels: must be a mapping of label name to value")
        return None
    labels: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
            check.errors.append(f"labels.{name}: not a valid label name")
        elif name in ("severity", "alertname"):
            check.errors.append(f"labels.{name}: set by the rules themselves")
        elif not isinstance(text, str):
            check.errors.append(f"labels.{name}: must be a string (quote it)")
        elif "{{" in text:
            # A templated label value makes a new alert whenever it changes, resetting `for`.
            check.errors.append(f"labels.{name}: must be a fixed value, not a template")
        else:
            labels[name] = text
    return labels


def parse_tunables(text: str, *, source: str = "<tunables>") -> Tunables:
    """Return the tunables a YAML document sets over the defaults; raise TunablesError."""
    check = _Checker()
    tree = read_document(text, check.errors)
    if check.errors and tree is None:
        raise TunablesError(check.errors, source=source)
    root = check.mapping(tree, "", _TOP)
    base = default_tunables()

    def matchers(key: str, default: str) -> str:
        return (check.matchers(root[key], key) if key in root else None) or default

    def duration(key: str, default: int) -> int:
        return (check.millis(root[key], key) if key in root else None) or default

    selector = matchers("selector", base.selector)
    comparable = matchers("comparable_copies", base.comparable_copies)
    runbook = check.text(root["runbook_url"], "runbook_url") if "runbook_url" in root else None
    if runbook is not None and "#" in runbook:
        check.errors.append("runbook_url: give the page without #: each alert appends its own")
        runbook = None
    change_window = duration("change_window", base.change_window_ms)
    change_memory = duration("change_memory", base.change_memory_ms)
    labels = _parse_labels(check, root["labels"]) if "labels" in root else None
    alerts = dict(base.alerts)
    if "alerts" in root:
        for name, value in check.mapping(root["alerts"], "alerts", _ALERTS).items():
            alerts[name] = _parse_alert(check, name, value, base.alerts[name])
    tunables = Tunables(
        selector=selector,
        comparable_copies=comparable,
        runbook_url=runbook or base.runbook_url,
        change_window_ms=change_window,
        change_memory_ms=change_memory,
        labels=base.labels if labels is None else labels,
        alerts=alerts,
    )
    if check.errors:
        raise TunablesError(check.errors, source=source)
    return tunables


def load_tunables(path: Path) -> Tunables:
    """Load ``path`` (YAML); raise TunablesError naming the file and every bad key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TunablesError([f"cannot read: {exc}"], source=str(path)) from None
    return parse_tunables(text, source=str(path))
