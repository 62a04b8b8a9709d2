"""The HTML landing page served on ``/``: what the exporter knows, at a glance.

The page shows the last state of every configured node from the scraper's history; it
never scrapes by itself, so opening it costs the Sync nodes nothing. Everything that
comes from a node or the configuration is HTML-escaped (folder names, versions and
error texts are whatever the node sent), and only secret-free fields are shown: the
node URL is reduced to its origin, so credentials in it could not leak.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from yarl import URL

from sync_exporter.config import NodeConfig
from sync_exporter.model import NodeSnapshot
from sync_exporter.problems import Kind, Problem, connected


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    """The outcome of the last configuration load, for the page footer."""

    config_file: str
    successful: bool
    success_time: float
    error: str | None


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.7em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; }
.state { font-weight: bold; }
tr.up .state { color: #17692c; }
tr.down { background: #fdecea; }
tr.down .state { color: #b3261e; }
tr.unknown .state { color: #8a6d00; }
.error { color: #b3261e; }
.reason { font-family: monospace; }
.muted { color: #666; }
td.time { white-space: nowrap; }
td.err { min-width: 18em; }
#problems td.kind { font-weight: bold; white-space: nowrap; }
#problems tr.error td.kind, #problems tr.stalled td.kind { color: #b3261e; }
#problems tr.out-of-sync td.kind, #problems tr.no-peers td.kind, #problems tr.paused td.kind,
#problems tr.indexing-stuck td.kind { color: #8a6d00; }
.ok { color: #17692c; }
"""


def _time(ts: float) -> str:
    if ts <= 0:
        return "never"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _when(ts: float, now: float) -> str:
    """Return the time of ``ts`` and how long ago it was, as escaped HTML."""
    if ts <= 0:
        return "never"
    ago = f"{max(0.0, now - ts):.0f} s ago"
    return f'{escape(_time(ts))}<br><span class="muted">{escape(ago)}</span>'


def _origin(url: str) -> str:
    try:
        return str(URL(url).origin())
    except ValueError:
        return "(invalid URL)"


@dataclass(frozen=True, slots=True)
class _Cells:
    """The HTML of one row's variable cells (already escaped)."""

    css: str
    state: str
    last: str
    version: str = ""
    os: str = ""
    folders: str = ""
    peers: str = ""
    error: str = ""


def _cells(snap: NodeSnapshot | None, now: float) -> _Cells:
    if snap is None:
        return _Cells("unknown", "NOT SCRAPED YET", "never", error="not scraped yet")
    last = _when(snap.timestamp, now)
    if snap.up:
        peers = {p.peer_id for f in snap.folders for p in connected(f)}
        return _Cells(
            "up",
            "UP",
            last,
            version=escape(snap.version or ""),
            os=escape(snap.os or ""),
            folders=str(len(snap.folders)),
            peers=str(len(peers)),
        )
    hint = snap.outcome.hint if snap.outcome is not None else ""
    error = (
        f'<span class="reason">{escape(snap.outcome or "failed")}</span>: '
        f'<span class="error">{escape(snap.error or "")}</span>'
        f'<br><span class="muted">{escape(hint)}</span>'
    )
    return _Cells("down", "DOWN", last, error=error)


def _api(node: NodeConfig, snap: NodeSnapshot | None) -> str:
    """The API the node was last read through, or the configured choice until then.

    With ``api: auto`` the two differ, and which one a node answers decides which
    series it has (pending bytes, peers' online state): worth a column, not a guess.
    """
    if snap is not None and snap.api is not None:
        why = f' title="{escape(snap.api_reason)}"' if snap.api_reason else ""
        return f'<td class="api"{why}>{escape(snap.api)}</td>'
    return f'<td class="api muted" title="configured; not read yet">{escape(node.api)}</td>'


def _row(node: NodeConfig, snap: NodeSnapshot | None, now: float) -> str:
    name = escape(node.name)
    probe = escape("/probe?target=" + quote(node.name, safe=""))
    c = _cells(snap, now)
    return (
        f'<tr class="{c.css}" data-node="{name}">'
        f"<td>{name}</td>"
        f'<td class="muted">{escape(_origin(node.url))}</td>'
        f'<td class="state">{c.state}</td>'
        f"{_api(node, snap)}<td>{c.version}</td><td>{c.os}</td>"
        f'<td class="num">{c.folders}</td><td class="num">{c.peers}</td>'
        f'<td class="err">{c.error}</td><td class="time">{c.last}</td>'
        f'<td><a href="{probe}">probe</a></td>'
        "</tr>"
    )


def _problem_row(problem: Problem, now: float) -> str:
    css = problem.kind.value.replace(" ", "-")
    return (
        f'<tr class="{css}" data-problem-node="{escape(problem.node)}">'
        f'<td class="kind">{escape(problem.kind.value)}</td>'
        f"<td>{escape(problem.node)}</td><td>{escape(problem.folder)}</td>"
        f"<td>{escape(problem.detail)}</td>"
        f'<td class="time">{_when(problem.since, now)}</td>'
        "</tr>"
    )


def _problems(problems: Sequence[Problem], now: float) -> str:
    """The section above the node table: every folder problem in the fleet."""
    kinds = ", ".join(k.value for k in Kind)
    if not problems:
        return (
            '<h2>Folder problems</h2>\n<p class="ok" id="no-problems">None at the last '
            f"scrapes ({escape(kinds)}).</p>"
        )
    rows = "\n".join(_problem_row(p, now) for p in problems)
    return f"""<h2>Folder problems</h2>
<p>{len(problems)} across the fleet at the last scrapes ({escape(kinds)}); "since" is when
the exporter first saw it. What to do: <a href="/runbook">the runbook</a>.</p>
<table id="problems">
<thead><tr><th>Problem</th><th>Node</th><th>Folder</th><th>Detail</th><th>Since</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>"""


def render_landing(
    *,
    version: str,
    nodes: Sequence[NodeConfig],
    last: Mapping[str, NodeSnapshot],
    now: float,
    reload: ReloadStatus,
    problems: Sequence[Problem] = (),
) -> str:
    """Return the landing page for ``nodes``, using each node's last snapshot.

    ``problems`` (the fleet's folder problems, worst first) are listed above the nodes.
    """
    rows = "\n".join(_row(node, last.get(node.name), now) for node in nodes)
    down = sum(1 for n in nodes if (s := last.get(n.name)) is not None and not s.up)
    summary = f"{len(nodes)} nodes configured, {down} down at the last scrape."
    if reload.successful:
        reload_line = f"loaded {escape(_time(reload.success_time))}"
    else:
        reload_line = (
            f'<span class="error">last reload FAILED, still using the config loaded '
            f"{escape(_time(reload.success_time))}: {escape(reload.error or '')}</span>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sync-exporter</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>sync-exporter</h1>
<p>Prometheus exporter for BitTorrent Sync / Resilio Sync nodes, version {escape(version)}.</p>
<p>
<a href="/metrics">/metrics</a> (every node and the exporter itself) &middot;
<a href="/runbook">/runbook</a> (what each alert means and what to do) &middot;
<a href="/-/healthy">/-/healthy</a> &middot; <a href="/-/ready">/-/ready</a>
</p>
{_problems(problems, now)}
<h2>Nodes</h2>
<p>{escape(summary)} State as of each node's last scrape; this page does not scrape.</p>
<table id="nodes">
<thead><tr><th>Node</th><th>URL</th><th>State</th>
<th title="the API the node was read through: v1 (/api) or gui (/gui/)">API</th>
<th>Version</th><th>OS</th><th>Folders</th>
<th title="distinct peer devices connected to any of the node's folders">Distinct peers</th>
<th>Last error</th><th>Last scrape</th><th>Probe</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="muted">Configuration: {escape(reload.config_file)}, {reload_line}.
Reload with <code>POST /-/reload</code> or SIGHUP.</p>
</body>
</html>
"""
