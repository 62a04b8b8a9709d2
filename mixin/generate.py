"""Regenerate mixin/generated/ from the repository's alert rules and dashboards.

    python mixin/generate.py           # after regenerating alerts/ or grafana/
    python mixin/generate.py --check   # exit 1 when generated/ is stale (the tests do this)

Why copies: jsonnet-bundler (`jb install`) vendors the mixin/ directory alone, so the mixin
cannot import ../alerts or ../grafana. The copies are data only (the rule file and the
dashboards as JSON, and the tunables they were generated with); mixin.libsonnet shapes them
with _config, so there is no second source of any rule or panel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from sync_exporter.alerting.tunables import format_duration, load_tunables

ROOT = Path(__file__).resolve().parents[1]
GENERATED = Path(__file__).resolve().parent / "generated"


def generated_files(root: Path = ROOT) -> dict[str, str]:
    """The contents of every file of generated/, by name, from ``root``'s alerts/ and grafana/."""
    tunables = load_tunables(root / "alerts" / "config.yml")
    defaults = {
        "selector": tunables.selector,
        "runbook_url": tunables.runbook_url,
        "labels": dict(tunables.labels),
        "alerts": {
            name: {
                "enabled": settings.enabled,
                "severity": settings.severity,
                "for": format_duration(settings.for_ms),
            }
            for name, settings in tunables.alerts.items()
        },
    }
    rules = yaml.safe_load((root / "alerts" / "btsync.rules.yml").read_text(encoding="utf-8"))
    dashboards = {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((root / "grafana").glob("*.json"))
    }
    return {
        "defaults.json": _json(defaults),
        "btsync.rules.json": _json(rules),
        "dashboards.json": _json(dashboards),
    }


def _json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale_files(root: Path = ROOT, generated: Path = GENERATED) -> list[str]:
    """The names of generated/ files that differ from what ``root`` gives (or are missing)."""
    return [
        name
        for name, text in generated_files(root).items()
        if not (generated / name).is_file() or (generated / name).read_text("utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Write generated/, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(prog="python mixin/generate.py", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if generated/ is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"mixin/generated/{name} is stale: run python mixin/generate.py", file=sys.stderr)
        return 1 if stale else 0
    GENERATED.mkdir(exist_ok=True)
    for name, text in generated_files().items():
        (GENERATED / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
