"""The bundled Prometheus alert rules for sync-exporter, generated from tunables.

``alerts/btsync.rules.yml`` is the output of :func:`render_rules` over
``alerts/config.yml``; CI regenerates it and fails when the committed file is stale.
The demo and the end-to-end tests call :func:`write_demo_rules` for a copy whose
durations are scaled down.
"""

from __future__ import annotations

from sync_exporter.alerting.render import (
    DEMO_FLOOR_MS,
    DEMO_SCALE,
    demo_rules_text,
    render_rules,
    write_demo_rules,
)
from sync_exporter.alerting.rules import build_rules
from sync_exporter.alerting.tunables import (
    ALERT_NAMES,
    AlertSettings,
    Tunables,
    TunablesError,
    default_tunables,
    load_tunables,
    parse_tunables,
)

__all__ = [
    "ALERT_NAMES",
    "DEMO_FLOOR_MS",
    "DEMO_SCALE",
    "AlertSettings",
    "Tunables",
    "TunablesError",
    "build_rules",
    "default_tunables",
    "demo_rules_text",
    "load_tunables",
    "parse_tunables",
    "render_rules",
    "write_demo_rules",
]
