"""docs/metrics.md and README.md's metric table, written from the metric contract.

The contract (:data:`sync_exporter.metrics.METRICS`) is the single source; this module
only turns it into Markdown, so the renderer carries no documentation code. A test
regenerates both and fails when the committed files differ. Run it as the documented
``python -m sync_exporter.metrics docs/metrics.md README.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sync_exporter.metrics import METRICS, Scope

#: The command that rewrites docs/metrics.md and README.md's metric table from the contract.
REGENERATE_DOCS = "python -m sync_exporter.metrics docs/metrics.md README.md"

#: The generated block of README.md lies between these two lines.
README_BEGIN = "<!-- metrics table: generated from sync_exporter/metrics.py, do not edit -->"
README_END = "<!-- end of metrics table -->"


_SCOPE_TITLES: dict[Scope, str] = {
    "node": "Per node",
    "folder": "Per folder",
    "peer": "Per peer (only for nodes with `peers: true`, the default)",
    "exporter": "The exporter itself",
}


def metrics_markdown() -> str:
    """Return the text of ``docs/metrics.md``, generated from :data:`METRICS`."""
    lines = [
        "# Metrics",
        "",
        f"<!-- Generated from sync_exporter/metrics.py by `{REGENERATE_DOCS}`; do not edit. -->",
        "",
        "Every metric `sync-exporter` emits. `/metrics` serves all of them for every configured",
        "node; `/probe?target=NAME` serves the node, folder and peer metrics of one node.",
        "Identity labels: `node` is the configured node name, `folder` the folder's path as the",
        "node reports it (or its configured alias), `peer_id` the peer's id. Folder secrets never",
        "appear in any label. A node that is down exports only `btsync_up 0` and its scrape",
        "duration; a folder or peer that is gone simply stops being exported.",
        "",
    ]
    for scope, title in _SCOPE_TITLES.items():
        lines += [f"## {title}", "", "| metric | type | labels | meaning |", "|---|---|---|---|"]
        for d in METRICS:
            if d.scope == scope:
                labels = ", ".join(f"`{label}`" for label in d.labels) or "(none)"
                meaning = d.help.replace("|", "\\|")
                lines.append(f"| `{d.name}` | {d.type} | {labels} | {meaning} |")
        lines.append("")
    lines += [
        "The standard `process_*` metrics of the exporter process (CPU seconds, resident and",
        "virtual memory, open and maximum file descriptors, start time) come from",
        "prometheus_client's process collector and are served on `/metrics` only.",
        "",
        "Sized for fleets: at defaults a node read through API v1 adds 14 of the exporter's",
        "own series (a success counter per API v1 method and a failure counter per reason,",
        "all from zero), plus one per API method and outcome once that request has failed; a",
        "node read through the web GUI API adds 12 (a success counter per GUI action), and",
        "16 under `api: auto`: the four `api_disabled` counts of its first probe of API v1",
        "stay, the v1 zeros go once it answers through the GUI API. The duration histogram",
        "has no `node` label: 14 series per API method (7 for API v1, 5 for the GUI API),",
        "whatever the fleet's size; a node's own time is `btsync_scrape_duration_seconds`.",
        "(Earlier builds labelled the histogram by node too and kept every outcome of every",
        "method at zero: 161 series per node.)",
        "",
    ]
    return "\n".join(lines)


def readme_table() -> str:
    """Return the metric table README.md shows, markers included (the contract at a glance)."""
    lines = [README_BEGIN, "", "| metric | type | labels |", "|---|---|---|"]
    for d in METRICS:
        labels = ", ".join(f"`{label}`" for label in d.labels) or "(none)"
        lines.append(f"| `{d.name}` | {d.type} | {labels} |")
    lines += ["", README_END]
    return "\n".join(lines)


def with_readme_table(readme: str) -> str:
    """Return ``readme`` with its generated metric table replaced by the current one.

    Raises ValueError when the markers are missing, so a broken README is noticed.
    """
    start = readme.find(README_BEGIN)
    end = readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError("README has no generated metrics table markers")
    return readme[:start] + readme_table() + readme[end + len(README_END) :]


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``docs/metrics.md`` (first path) and refresh the README table (second path).

    With no argument, print the documentation page instead.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    text = metrics_markdown()
    if not args:
        sys.stdout.write(text)
        return 0
    Path(args[0]).write_text(text, encoding="utf-8")
    for readme in args[1:]:
        path = Path(readme)
        path.write_text(with_readme_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
