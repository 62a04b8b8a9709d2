"""``python -m sync_exporter.dashboards [--check] [DIR]``: regenerate grafana/*.json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sync_exporter.dashboards import stale_files, write_all


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards (or, with --check, list stale ones and exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m sync_exporter.dashboards",
        description="Generate the Grafana dashboards from code.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=Path("grafana"))
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.directory)
        for name in stale:
            print(f"{args.directory / name}: stale, run python -m sync_exporter.dashboards")
        return 1 if stale else 0
    for name in write_all(args.directory):
        print(f"wrote {args.directory / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
