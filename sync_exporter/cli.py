"""Command line entry point: ``sync-exporter [flags]`` runs the exporter; subcommands do the rest.

Subcommands are dispatched by name before any flag parsing so that each one owns its
own argument parser (the simulator, ``check`` and ``demo`` have little in common with
the exporter's Prometheus-style dotted flags).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: Subcommand name -> module exposing ``main(argv: list[str]) -> int``.
SUBCOMMANDS: dict[str, str] = {
    "simulate": "sync_exporter.simulator.cli",
    "check": "sync_exporter.check",
    "demo": "sync_exporter.demo",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by ``argv`` and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[args[0]])
        code: int = module.main(args[1:])
        return code
    from sync_exporter.exporter_cli import main as exporter_main

    return exporter_main(args)
