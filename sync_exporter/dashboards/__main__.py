"""``sync-exporter dashboards [--check] DIR``: write (or check) the dashboards in ``DIR``.

``DIR`` is required: a command that writes files only writes where it is told to.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sync_exporter.cli_args import parse_args
from sync_exporter.dashboards import stale_files, write_all


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards (or, with --check, list stale ones and exit 1)."""
    parser = argparse.ArgumentParser(
        prog="sync-exporter dashboards",
        description="Generate the Grafana dashboards from code and write them as JSON files "
        "into DIR (the repository keeps them in grafana/).",
    )
    parser.add_argument(
        "directory",
        metavar="DIR",
        type=Path,
        help="directory to write the dashboards into (created if missing), or to compare "
        "with --check",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is stale"
    )
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.check:
        stale = stale_files(args.directory)
        for name in stale:
            print(f"{args.directory / name}: stale, run sync-exporter dashboards {args.directory}")
        return 1 if stale else 0
    for name in write_all(args.directory):
        print(f"wrote {args.directory / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
