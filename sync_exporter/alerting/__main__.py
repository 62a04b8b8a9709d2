"""``python -m sync_exporter.alerting``: regenerate (or check) the rule file from tunables.

Exit codes: 0 done (or fresh), 1 the output differs from what the tunables give
(``--check``), 2 the tunables are invalid or a file cannot be read or written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sync_exporter.alerting.render import demo_rules_text, render_rules
from sync_exporter.alerting.tunables import TunablesError, default_tunables, load_tunables
from sync_exporter.cli_args import parse_args, usage_error


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; see the module docstring for exit codes."""
    parser = argparse.ArgumentParser(
        prog="sync-exporter alerts",
        description="Generate the BTSync Prometheus alert rules from a tunables file.",
    )
    parser.add_argument(
        "--config", type=Path, help="tunables YAML (default: the built-in defaults)"
    )
    parser.add_argument("--output", type=Path, help="rule file to write (default: standard output)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: exit 1 if --output is not what the tunables generate",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="generate the demo-only copy with every duration divided by 60",
    )
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.check and args.output is None:
        return usage_error(parser, "--check needs --output")
    try:
        tunables = default_tunables() if args.config is None else load_tunables(args.config)
    except TunablesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = demo_rules_text(tunables) if args.demo else render_rules(tunables)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.check:
        try:
            current = args.output.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot read {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        if current != text:
            print(
                f"{args.output} is stale: regenerate it with sync-exporter alerts "
                f"--config {args.config or '<defaults>'} --output {args.output}",
                file=sys.stderr,
            )
            return 1
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
