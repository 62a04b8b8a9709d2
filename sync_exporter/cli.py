"""Command line entry point: ``sync-exporter [flags]`` runs the exporter; subcommands do the rest.

``check`` (ask every configured node), ``demo`` (simulated fleet + exporter), ``simulate``
(Sync node simulator), ``alerts`` (regenerate the rule file from tunables) and
``dashboards`` (regenerate the Grafana dashboards).

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
    "alerts": "sync_exporter.alerting.__main__",
    "dashboards": "sync_exporter.dashboards.__main__",
    "hash-password": "sync_exporter.hash_password",
}

#: One line per subcommand for ``sync-exporter --help`` (a test keeps it complete).
SUMMARIES: dict[str, str] = {
    "check": "connect to every configured node once and say what works",
    "demo": "run a simulated Sync fleet with the exporter in front of it",
    "simulate": "run simulated Sync nodes (a scenario fleet, or one node from sync.conf)",
    "alerts": "write the alert rules for your tunables (selector, thresholds, runbook base)",
    "dashboards": "write the Grafana dashboards into a directory",
    "hash-password": "print a bcrypt hash for basic_auth_users in the --web.config.file",
}


def subcommands_help() -> str:
    """The subcommand list printed under ``sync-exporter --help``."""
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["subcommands (sync-exporter SUBCOMMAND --help for each one's flags):"]
    for name in SUBCOMMANDS:
        lines.append(f"  {name:<{width}}  {SUMMARIES.get(name, '')}".rstrip())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by ``argv`` and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[args[0]])
        code: int = module.main(args[1:])  # returns, never exits (sync_exporter.cli_args)
        return code
    from sync_exporter.exporter_cli import main as exporter_main

    return exporter_main(args)
