"""PromQL fragments shared by the dashboards, so every query filters the same way.

Each helper returns text; the dashboards compose them. Conventions the tests enforce:
every selector names its metric and carries ``job=~"$job"`` (and ``node=~"$node"`` where
the metric has a node label), every range is ``[$__rate_interval]`` (except the free-space
trend, which looks back as far as its alert), and a counter is only ever read through
``rate``.
"""

from __future__ import annotations

from sync_exporter.alerting.tunables import default_tunables, format_duration

#: Matchers for anything scraped from a node.
NODE = 'job=~"$job", node=~"$node"'

#: Matchers for per-folder series.
FOLDER = f'{NODE}, folder=~"$folder"'

#: Matchers for the exporter's own series (they have no node label).
JOB = 'job=~"$job"'

#: Labels that identify one folder on one node in one scrape target; joins use all of
#: them so that two exporters scraping the same node never make a join ambiguous.
FOLDER_IDENTITY = "job, instance, node, folder"

#: Same for one peer of one folder.
PEER_IDENTITY = "job, instance, node, folder, peer_id"


def sel(metric: str, matchers: str = NODE, extra: str = "") -> str:
    """Return ``metric{matchers, extra}``."""
    inner = f"{matchers}, {extra}" if extra else matchers
    return f"{metric}{{{inner}}}"


def rate(selector: str) -> str:
    """Return the per-second rate of a counter over Grafana's safe rate window."""
    return f"rate({selector}[$__rate_interval])"


def holders(extra: str = "") -> str:
    """Return the folder_info series of every folder sharing a folder_id with ``$folder``.

    A shared folder has a different path (hence ``folder`` label) on each node; the
    folder_id is the same everywhere, so selecting a folder by one node's name still
    shows every node that holds it. ``extra`` narrows the holders (e.g. by type).
    """
    info = sel("btsync_folder_info", NODE, extra)
    return f"({info} and on (folder_id) {sel('btsync_folder_info', FOLDER)})"


#: Copies whose size and file count can be compared: an encrypted copy stores encrypted
#: data, and a copy with selective sync holds a chosen subset on purpose, so both are left
#: out of every "same or not" question. The text differs from the alert rules' default
#: comparable_copies (``selective!~"1|true"``, which also tolerates a hand-written "1"),
#: but the exporter writes only true, false or unknown, so both pick the same series.
COMPARABLE = 'type!="encrypted", selective!="true"'


def by_folder_id(metric: str, extra: str = "") -> str:
    """Return ``metric`` on every holder of the selected folders, with a folder_id label."""
    return f"{sel(metric)} * on ({FOLDER_IDENTITY}) group_left (folder_id) {holders(extra)}"


def behind_largest(metric: str) -> str:
    """Return how far each comparable copy of a folder is behind the largest (0: in sync).

    Keeps node, folder and folder_id, so a table can say which node lags on what.
    """
    copies = by_folder_id(metric, COMPARABLE)
    # "group_right ()" with its empty list: a bare "(" there would read as the label list.
    return f"max by (folder_id) ({copies}) - on (folder_id) group_right () ({copies})"


def on_holders(expr: str) -> str:
    """Return ``expr`` (per node and folder) kept only for holders of the selected folders."""
    return f"({expr}) and on ({FOLDER_IDENTITY}) {holders()}"


def _disk_trend() -> tuple[str, int]:
    settings = default_tunables().alert("BTSyncDiskSpaceLow")
    assert settings.window_ms is not None
    assert settings.horizon_ms is not None
    return format_duration(settings.window_ms), settings.horizon_ms // 1000


#: The free-space trend the dashboards draw is the one BTSyncDiskSpaceLow alerts on: its
#: look-back (a trend needs hours, not Grafana's rate interval) and its horizon in seconds.
DISK_TREND_WINDOW, DISK_HORIZON_SECONDS = _disk_trend()


def free_after_horizon(selector: str) -> str:
    """Return the free space ``selector`` predicts at the alert's horizon, from its trend."""
    return f"predict_linear({selector}[{DISK_TREND_WINDOW}], {DISK_HORIZON_SECONDS})"
