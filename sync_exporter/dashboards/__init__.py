"""Grafana dashboards for sync-exporter, generated from code.

The committed ``grafana/*.json`` files are this package's output; a test regenerates
them and fails on any difference, so the JSON is never edited by hand. Regenerate with
``sync-exporter dashboards DIR`` (``--check`` only reports stale files).

It lives in the package rather than beside the JSON so that it is type-checked and
linted with the rest of the code and importable by the tests without path tricks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync_exporter.dashboards import fleet, folder, peers
from sync_exporter.dashboards.grafana import Dashboard

#: File name (in ``grafana/``) -> builder, in the order a reader meets them.
BUILDERS: tuple[tuple[str, Callable[[], Dashboard]], ...] = (
    ("btsync-fleet-overview.json", fleet.dashboard),
    ("btsync-folder-detail.json", folder.dashboard),
    ("btsync-peers-transfers.json", peers.dashboard),
)


def render(dashboard: dict[str, Any]) -> str:
    """Return the canonical text of a dashboard: sorted keys, 2-space indent, final newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """Return every dashboard as file name -> canonical JSON text."""
    return {name: render(build().to_json()) for name, build in BUILDERS}


def stale_files(directory: Path) -> list[str]:
    """Return the names of dashboard files in ``directory`` that are missing or outdated."""
    stale = []
    for name, text in build_all().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_all(directory: Path) -> list[str]:
    """Write every dashboard into ``directory``; return the names that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale_files(directory)
    for name, text in build_all().items():
        if name in changed:
            (directory / name).write_text(text, encoding="utf-8")
    return changed


__all__ = ["BUILDERS", "build_all", "render", "stale_files", "write_all"]
