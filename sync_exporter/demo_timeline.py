"""When each alert fires in ``sync-exporter demo --with-prometheus``, computed from its rules.

A new user who starts the demo wants to know how long to wait for what. The answer depends
on two things that change independently: the demo's rules (durations scaled down, owned
by the alert generator) and the demo scenario (which faults it holds). So the times are
computed from the rule file the demo really loads: an alert fires after Prometheus'
start-up and its first scrape, plus the history its expression needs before it can be true (an
``offset`` looks that far back; ``rate()`` and ``increase()`` need a second scrape), plus
its ``for``, plus up to one rule evaluation. Which alerts the scenario raises, and why,
is written down here (:data:`DEMO_CAUSES`); an end-to-end test runs the demo with a real
Prometheus and checks that exactly these alerts fire, each near its computed time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

__all__ = [
    "DEMO_CAUSES",
    "DEMO_QUIET",
    "Expected",
    "format_offset",
    "predict",
    "render_timeline",
]

#: What in the demo scenario raises each alert that fires.
DEMO_CAUSES: Mapping[str, str] = {
    "BTSyncNodeDown": "pi does not answer (connection refused)",
    "BTSyncFolderError": "backup on office: error 101 (no permission to write)",
    "BTSyncFolderStalled": "projects: copies differ, peers connected, nothing moves",
    "BTSyncFolderIndexingStuck": "music on laptop: indexing, nothing changes",
    "BTSyncFolderOutOfSync": "copies behind the largest one and not catching up",
    "BTSyncVersionMismatch": "office runs Sync 1.4.106, studio 3.1.2, cabin 2.7.3",
    "BTSyncFolderPaused": "music on cabin (a GUI-only node): paused",
    "BTSyncDiskSpaceLow": "cabin's volume fills up (full about 20 minutes in)",
}

#: Why the other alerts stay quiet in the demo.
DEMO_QUIET: Mapping[str, str] = {
    "BTSyncExporterDown": "the exporter is up",
    "BTSyncFolderNoPeers": "every folder has a connected peer",
    "BTSyncPeerNotSynced": "every peer synced recently",
    "BTSyncExporterScrapeErrors": "no API request fails on a node that is up",
}

#: Seconds from starting Prometheus to its first rule evaluation with data (opening its
#: database, loading the rules, the first scrape): about 3 s here, measured.
PROMETHEUS_STARTUP = 3.0

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_OFFSET = re.compile(r"\boffset\s+((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+)")
_NEEDS_TWO_SAMPLES = re.compile(r"\b(rate|irate|increase|delta|idelta|deriv|predict_linear)\s*\(")


def _seconds(text: str) -> float:
    """Seconds of a Prometheus duration (``1m30s``, ``500ms``, ``24h``)."""
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(str(text)))


@dataclass(frozen=True, slots=True)
class Expected:
    """One alert of the demo and when it should fire, in seconds after Prometheus starts."""

    alert: str
    cause: str
    #: Seconds of history the expression needs before it can be true.
    history: float
    #: The rule's ``for``.
    hold: float
    #: When it fires at the latest, give or take Prometheus' start-up.
    seconds: float


def predict(
    rules_text: str,
    *,
    scrape_interval: float,
    evaluation_interval: float,
    causes: Mapping[str, str] = DEMO_CAUSES,
) -> list[Expected]:
    """Return the alerts of ``rules_text`` that ``causes`` raises, soonest first.

    ``seconds`` = Prometheus' start-up + the first scrape + the history the expression
    needs + ``for`` + one evaluation (an alert turns firing at the first evaluation after
    its ``for`` ran out).
    """
    document = yaml.safe_load(rules_text)
    expected = []
    for group in document["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert")
            if name not in causes:
                continue
            expr = str(rule["expr"])
            history = max((_seconds(m) for m in _OFFSET.findall(expr)), default=0.0)
            if _NEEDS_TWO_SAMPLES.search(expr):
                history = max(history, scrape_interval)
            hold = _seconds(rule.get("for", "0s"))
            seconds = PROMETHEUS_STARTUP + scrape_interval + history + hold + evaluation_interval
            expected.append(Expected(name, causes[name], history, hold, seconds))
    return sorted(expected, key=lambda e: (e.seconds, e.alert))


def format_offset(seconds: float) -> str:
    """``75.0`` -> ``1:15``; minutes and seconds, rounded up."""
    whole = math.ceil(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def render_timeline(
    expected: Sequence[Expected], quiet: Mapping[str, str] = DEMO_QUIET, *, speed: float = 1
) -> list[str]:
    """The banner's timeline: one line per alert that fires, then those that never do."""
    faster = f" ({speed:g} times faster than the plain demo)" if speed != 1 else ""
    lines = [f"Alert timeline (minutes:seconds after Prometheus starts){faster}:"]
    width = max((len(e.alert) for e in expected), default=0)
    width = max([width, *(len(name) for name in quiet)])
    for e in expected:
        lines.append(f"  by {format_offset(e.seconds):>5}  {e.alert:<{width}}  {e.cause}")
    for name, why in quiet.items():
        lines.append(f"  {'never':>8}  {name:<{width}}  {why}")
    return lines
