"""Panel kinds with the settings our dashboards share (units, legends, mappings, links).

One function per visualisation keeps the dashboards readable: they say what to show,
these say how Grafana should draw it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sync_exporter.dashboards.grafana import Json, Panel, Target, Variable

#: Dashboard uids; links between dashboards use them, so they never change.
FLEET_UID = "btsync-fleet-overview"
FOLDER_UID = "btsync-folder-detail"
PEERS_UID = "btsync-peers-transfers"

#: Query string that carries the dashboard's variables and time range to another one.
_CARRY = "${datasource:queryparam}&${job:queryparam}&${__url_time_range}"


def timeseries(
    title: str,
    description: str,
    unit: str,
    *targets: Target,
    width: int = 12,
    stack: bool = False,
    step: bool = False,
) -> Panel:
    """Return a time series panel; ``stack`` stacks areas, ``step`` draws steps."""
    custom: Json = {}
    if stack:
        custom["stacking"] = {"group": "A", "mode": "normal"}
        custom["fillOpacity"] = 40
    if step:
        custom["lineInterpolation"] = "stepAfter"
    defaults: Json = {"min": 0}
    if custom:
        defaults["custom"] = custom
    return Panel("timeseries", title, description, unit, targets, width=width, defaults=defaults)


def stat(
    title: str,
    description: str,
    unit: str,
    target: Target,
    *,
    bad_from: float | None = None,
    width: int = 3,
) -> Panel:
    """Return a single-number panel, red from ``bad_from`` upwards when given."""
    defaults: Json = {}
    if bad_from is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": bad_from}],
        }
    return Panel(
        "stat", title, description, unit, (target,), width=width, height=4, defaults=defaults
    )


def up_down_timeline(title: str, description: str, target: Target) -> Panel:
    """Return a state timeline that shows 1 as "up" (green) and 0 as "down" (red)."""
    mappings = [
        {
            "options": {
                "0": {"color": "red", "index": 0, "text": "down"},
                "1": {"color": "green", "index": 1, "text": "up"},
            },
            "type": "value",
        }
    ]
    return Panel(
        "state-timeline",
        title,
        description,
        "none",
        (target,),
        width=12,
        defaults={"mappings": mappings},
    )


def bargauge(title: str, description: str, unit: str, *targets: Target, width: int = 12) -> Panel:
    """Return horizontal bars, one per query (each query yields one number)."""
    return Panel("bargauge", title, description, unit, targets, width=width)


def table(
    title: str,
    description: str,
    unit: str,
    *targets: Target,
    columns: Mapping[str, str],
    units: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    sort_by: str | None = None,
    width: int = 24,
    height: int = 8,
) -> Panel:
    """Return a table of instant queries merged on their labels.

    ``columns`` maps the frame field names to be shown (labels, or ``Value #<refId>``)
    to their headers, in order; every other field is hidden. ``units`` sets a unit per
    field, ``links`` a data link per field, ``sort_by`` the initial sort (descending).
    """
    overrides: list[Json] = []
    for name, field_unit in (units or {}).items():
        overrides.append(_override(name, [{"id": "unit", "value": field_unit}]))
    for name, url in (links or {}).items():
        link = {"targetBlank": False, "title": "Open in dashboard", "url": url}
        overrides.append(_override(name, [{"id": "links", "value": [link]}]))
    transformations: list[Json] = [
        {"id": "filterFieldsByName", "options": {"include": {"names": list(columns)}}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {},
                "indexByName": {name: i for i, name in enumerate(columns)},
                "renameByName": dict(columns),
            },
        },
    ]
    if len(targets) > 1:
        transformations.insert(0, {"id": "merge", "options": {}})
    options: Json = {}
    if sort_by is not None:
        options["sortBy"] = [{"desc": True, "displayName": columns[sort_by]}]
    return Panel(
        "table",
        title,
        description,
        unit,
        targets,
        width=width,
        height=height,
        options=options,
        overrides=tuple(overrides),
        transformations=tuple(transformations),
    )


def link_to(uid: str, fields: Sequence[str]) -> str:
    """Return a data link URL to dashboard ``uid`` with the row's ``fields`` as variables.

    The datasource, job and time range come along; node and folder come from the
    clicked row, so the target dashboard opens on exactly that thing.
    """
    carried = "&".join(f"var-{name}=${{__data.fields.{name}}}" for name in fields)
    return f"/d/{uid}/?{_CARRY}&{carried}"


def _override(field_name: str, properties: list[Json]) -> Json:
    return {"matcher": {"id": "byName", "options": field_name}, "properties": properties}


def standard_variables() -> tuple[Variable, ...]:
    """Return job, node and folder, each narrowing the next (the datasource comes first)."""
    return (
        Variable(
            "job",
            "label_values(btsync_up, job)",
            "Prometheus job(s) that scrape sync-exporter.",
        ),
        Variable(
            "node",
            'label_values(btsync_up{job=~"$job"}, node)',
            "Sync node(s), by the name given in the exporter's configuration.",
        ),
        Variable(
            "folder",
            'label_values(btsync_folder_info{job=~"$job", node=~"$node"}, folder)',
            "Folder(s), by path or configured alias; copies on other nodes follow by folder_id.",
        ),
    )
