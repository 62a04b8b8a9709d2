"""The slice of Grafana's classic dashboard JSON model that our dashboards use.

Why hand-rolled: the Python SDKs are either abandoned (grafanalib) or experimental with
a version trap (grafana-foundation-sdk), and the dashboards need only a dozen shapes.
Panels are described by frozen values; ids, grid positions and refIds are assigned at
render time from the order of declaration, so the output is stable and diffable.

Everything here is independent of Sync: the dashboards themselves live in ``fleet``,
``folder`` and ``peers``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

#: Every panel and query asks the dashboard's datasource variable, never a fixed uid.
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}

#: Oldest schema we emit: Grafana 10.4 / 11.x; newer Grafanas migrate it on load.
SCHEMA_VERSION = 39

#: Grid width of a Grafana dashboard, in columns.
GRID_WIDTH = 24

#: Tag shared by every dashboard; the dashboard links list dashboards carrying it.
TAG = "btsync"


@dataclass(frozen=True, slots=True)
class Target:
    """One PromQL query of a panel.

    ``legend`` is Grafana's legendFormat (``{{label}}`` placeholders); tables ignore it and
    show labels as columns instead. ``table`` queries are instant and return a table frame.
    """

    expr: str
    legend: str = ""
    table: bool = False

    def to_json(self, ref_id: str) -> Json:
        """Return the target as Grafana stores it, with its refId."""
        out: Json = {
            "datasource": dict(DATASOURCE),
            "editorMode": "code",
            "expr": self.expr,
            "refId": ref_id,
        }
        if self.table:
            out |= {"format": "table", "instant": True, "range": False, "legendFormat": "__auto"}
        else:
            out |= {"format": "time_series", "instant": False, "range": True}
            out["legendFormat"] = self.legend
        return out


@dataclass(frozen=True, slots=True)
class Panel:
    """A visualisation: kind, words, unit, queries, size, and the kind's options.

    ``defaults`` and ``options`` are merged over the kind's baseline; ``overrides`` and
    ``transformations`` are passed through. They are plain JSON because Grafana's option
    tree is large and our panels each touch only a few leaves of it.
    """

    kind: str
    title: str
    description: str
    unit: str
    targets: tuple[Target, ...]
    width: int = 12
    height: int = 8
    defaults: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[Json, ...] = ()
    transformations: tuple[Json, ...] = ()

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        """Return the panel placed at (x, y) with the given id."""
        defaults = _merge({"unit": self.unit, **_BASE_DEFAULTS.get(self.kind, {})}, self.defaults)
        return {
            "datasource": dict(DATASOURCE),
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": _merge(_BASE_OPTIONS.get(self.kind, {}), self.options),
            "targets": [t.to_json(_ref_id(i)) for i, t in enumerate(self.targets)],
            "title": self.title,
            "transformations": list(self.transformations),
            "type": self.kind,
        }


@dataclass(frozen=True, slots=True)
class Row:
    """A titled band of panels, laid out left to right and wrapped at the grid width."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """A multi-select query variable over one label, with "All" meaning any value."""

    name: str
    query: str  # label_values(...) expression
    description: str

    def to_json(self) -> Json:
        """Return the templating entry (reloaded on every time-range change)."""
        return {
            "allValue": ".+",
            "current": {},
            "datasource": dict(DATASOURCE),
            "definition": self.query,
            "description": self.description,
            "hide": 0,
            "includeAll": True,
            "label": self.name,
            "multi": True,
            "name": self.name,
            "options": [],
            "query": self.query,
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A whole dashboard: identity, variables and rows."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]

    def to_json(self) -> Json:
        """Return the dashboard as provisioning and the import UI expect it (no ``__inputs``)."""
        return {
            "annotations": {"list": [copy.deepcopy(_BUILTIN_ANNOTATIONS)]},
            "description": self.description,
            "editable": False,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "links": [
                {
                    "asDropdown": False,
                    "icon": "external link",
                    "includeVars": True,
                    "keepTime": True,
                    "tags": [TAG],
                    "targetBlank": False,
                    "title": "BTSync dashboards",
                    "tooltip": "",
                    "type": "dashboards",
                    "url": "",
                }
            ],
            "liveNow": False,
            "panels": _layout(self.rows),
            "refresh": "1m",
            "schemaVersion": SCHEMA_VERSION,
            "tags": [TAG, "sync-exporter"],
            "templating": {
                "list": [
                    copy.deepcopy(_DATASOURCE_VARIABLE),
                    *(v.to_json() for v in self.variables),
                ]
            },
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "timezone": "utc",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Json:
    """Return a deep copy of ``base`` with ``over`` merged in, nested mappings included."""
    out: Json = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _ref_id(index: int) -> str:
    """Return Grafana's refId for the index-th query: A, B, ... Z, AA, AB ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _layout(rows: Sequence[Row]) -> list[Json]:
    """Place rows and their panels on the grid; ids follow declaration order."""
    out: list[Json] = []
    y = 0
    for row in rows:
        out.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "id": len(out) + 1,
                "panels": [],
                "title": row.title,
                "type": "row",
            }
        )
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if panel.width > GRID_WIDTH:
                raise ValueError(f"panel {panel.title!r} is wider than the grid")
            if x + panel.width > GRID_WIDTH:
                y += line_height
                x = line_height = 0
            out.append(panel.to_json(len(out) + 1, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return out


_DATASOURCE_VARIABLE: Json = {
    "current": {},
    "description": "Prometheus server that scrapes sync-exporter.",
    "hide": 0,
    "includeAll": False,
    "label": "Data Source",
    "multi": False,
    "name": "datasource",
    "options": [],
    "query": "prometheus",
    "refresh": 1,
    "regex": "",
    "skipUrlSync": False,
    "type": "datasource",
}

_BUILTIN_ANNOTATIONS: Json = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}

_THRESHOLDS_NEUTRAL: Json = {"mode": "absolute", "steps": [{"color": "green", "value": None}]}

_BASE_DEFAULTS: dict[str, Json] = {
    "timeseries": {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "fillOpacity": 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "none"},
        },
        "thresholds": _THRESHOLDS_NEUTRAL,
    },
    "stat": {"color": {"mode": "thresholds"}, "thresholds": _THRESHOLDS_NEUTRAL},
    "bargauge": {"color": {"mode": "thresholds"}, "min": 0, "thresholds": _THRESHOLDS_NEUTRAL},
    "table": {
        "color": {"mode": "thresholds"},
        "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True},
        "thresholds": _THRESHOLDS_NEUTRAL,
    },
    "state-timeline": {
        "color": {"mode": "thresholds"},
        "custom": {"fillOpacity": 80, "lineWidth": 0},
        "thresholds": _THRESHOLDS_NEUTRAL,
    },
}

_REDUCE_LAST: Json = {"calcs": ["lastNotNull"], "fields": "", "values": False}

_BASE_OPTIONS: dict[str, Json] = {
    "timeseries": {
        "legend": {
            "calcs": ["lastNotNull", "max"],
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": _REDUCE_LAST,
        "textMode": "auto",
    },
    "bargauge": {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": _REDUCE_LAST,
        "showUnfilled": True,
        "valueMode": "color",
    },
    "table": {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True},
    "state-timeline": {
        "alignValue": "left",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "mergeValues": True,
        "rowHeight": 0.9,
        "showValue": "never",
        "tooltip": {"mode": "single", "sort": "none"},
    },
}
