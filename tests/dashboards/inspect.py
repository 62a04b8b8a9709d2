"""Read dashboard JSON back: every query, what its presentation needs, and Grafana's substitution.

The dashboard tests need the view of a dashboard that Grafana has: which queries each
panel sends, which labels its legend or table columns read, and what the query text
becomes once variables are filled in. It works on the JSON, not on the builder's
objects, so it checks what users import. (Test support: it lives here, not in the
package, which has no use for it.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_FIELD_REF = re.compile(r"\$\{__data\.fields\.([a-zA-Z_][a-zA-Z0-9_]*)\}")
_VARIABLE = re.compile(r"\$(?:\{([a-zA-Z_]\w*)(?::\w+)?\}|([a-zA-Z_]\w*))")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One query of one panel, with the labels its presentation relies on."""

    dashboard: str  # file name
    panel: str  # panel title
    kind: str  # panel type
    ref: str
    expr: str
    #: Labels the legend prints ({{label}}): every series must carry them.
    legend_labels: tuple[str, ...]
    #: Label columns the panel's table shows (tables only).
    columns: tuple[str, ...]
    #: True for instant (table) queries, False for range queries.
    instant: bool

    @property
    def id(self) -> str:
        """Return a short readable name, e.g. ``btsync-fleet-overview/Nodes up/A``."""
        return f"{self.dashboard.removesuffix('.json')}/{self.panel}/{self.ref}"


def load(directory: Path) -> dict[str, dict[str, Any]]:
    """Return every ``*.json`` dashboard in ``directory``, file name -> parsed JSON."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def table_columns(panel: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the label columns a table keeps: its field filter minus Time and values."""
    for transformation in panel.get("transformations", []):
        if transformation["id"] == "filterFieldsByName":
            names: list[str] = transformation["options"]["include"]["names"]
            return tuple(n for n in names if not n.startswith("Value") and n != "Time")
    return ()


def field_refs(panel: Mapping[str, Any]) -> set[str]:
    """Return the fields that the panel's data links read (``${__data.fields.X}``)."""
    return set(_FIELD_REF.findall(json.dumps(panel.get("fieldConfig", {}))))


def variables_used(text: str) -> set[str]:
    """Return the variable names referenced in ``text`` (``$x``, ``${x}``, ``${x:fmt}``)."""
    return {a or b for a, b in _VARIABLE.findall(text)}


def panel_queries(dashboards: Mapping[str, Mapping[str, Any]]) -> list[PanelQuery]:
    """Return every query of every panel of ``dashboards`` (file name -> JSON)."""
    out = []
    for name, dashboard in dashboards.items():
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            is_table = panel["type"] == "table"
            columns = table_columns(panel) if is_table else ()
            for target in panel.get("targets", []):
                legend = "" if is_table else target.get("legendFormat", "")
                out.append(
                    PanelQuery(
                        dashboard=name,
                        panel=panel["title"],
                        kind=panel["type"],
                        ref=target["refId"],
                        expr=target["expr"],
                        legend_labels=tuple(_PLACEHOLDER.findall(legend)),
                        columns=columns,
                        instant=bool(target.get("instant", False)),
                    )
                )
    return out


def substitute(expr: str, values: Mapping[str, str], rate_interval: str) -> str:
    """Return ``expr`` as Grafana sends it: variables and ``$__rate_interval`` filled in.

    ``values`` maps each variable to the regex Grafana would put there (".+" for All).
    Raises ValueError naming any variable left unfilled.
    """
    expr = expr.replace("$__rate_interval", rate_interval)
    for name, value in values.items():
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    left = variables_used(re.sub(r'"[^"]*\$\d[^"]*"', '""', expr))
    if left:
        raise ValueError(f"unsubstituted variables {sorted(left)} in {expr!r}")
    return expr


def grafana_regex(values: Sequence[str]) -> str:
    """Return what Grafana puts in ``=~"$var"`` for these selected values of a Prometheus
    multi-value variable: each value regex-escaped for use inside a PromQL string, several
    values joined as ``(a|b)``.

    A backslash becomes four (string escape, then regex escape) and regex metacharacters
    get an escaped backslash, so a Windows path like ``C:\\Users\\x`` matches itself.
    """
    escaped = [
        re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), v.replace("\\", "\\\\\\\\"))
        for v in values
    ]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
