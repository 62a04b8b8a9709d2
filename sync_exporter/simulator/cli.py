"""``sync-exporter simulate``: run one simulated node from a Sync config file, or a fleet.

Two modes, chosen by the flags:

- ``--config sync.conf`` runs one node exactly as a real Sync binary would read its own
  config file (delegated to :mod:`sync_exporter.simulator.single`);
- otherwise ``--nodes N --base-port P`` runs N nodes on ports P..P+N-1 in this process,
  either from a scenario (``--scenario NAME|FILE``) or as a synthetic fleet.

Bad arguments exit with code 2, the usage and one line saying what is wrong (as every
command does, :mod:`sync_exporter.cli_args`); SIGINT and SIGTERM stop the fleet cleanly
and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sync_exporter.cli_args import int_in, parse_args, usage_error
from sync_exporter.signals import stop_requested

if TYPE_CHECKING:
    from sync_exporter.simulator.fleet import Fleet

#: Default first port: Sync's own default ``webui.listen`` port.
DEFAULT_BASE_PORT = 8888


class _UsageError(Exception):
    """Flags argparse cannot check together; the message is shown after ``error:``."""


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """The validated command line of a fleet run."""

    nodes: int | None
    base_port: int
    scenario: str | None
    seed: int
    host: str
    realtime: bool
    latency: float
    folders: int
    peers: int
    control_port: int | None


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the ``simulate`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="sync-exporter simulate",
        # No abbreviations: --config must see every fleet flag it excludes by its name.
        allow_abbrev=False,
        description=(
            "Run simulated BitTorrent Sync nodes (API v1). With --config, one node read from a "
            "Sync config file; otherwise a fleet of nodes on consecutive ports, from a scenario "
            "or synthetic. Runs until SIGINT/SIGTERM."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="run one node from a Sync config file (JSON with // comments); "
        "excludes every fleet option",
    )
    parser.add_argument(
        "--nodes",
        type=int_in(1, 1000),
        help="number of nodes (default: the scenario's nodes, or 3 for a synthetic fleet)",
    )
    parser.add_argument(
        "--base-port",
        type=int_in(0, 65535),
        default=DEFAULT_BASE_PORT,
        help="first node's port; node i listens on BASE+i "
        "(0: ephemeral ports; default %(default)s)",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        help="a bundled scenario name (demo, healthy, ...) or a scenario YAML file",
    )
    parser.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, help="random seed")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument(
        "--realtime",
        dest="realtime",
        action="store_true",
        default=True,
        help="simulated time follows the wall clock (default)",
    )
    clock.add_argument(
        "--manual-clock",
        dest="realtime",
        action="store_false",
        help="time moves only through POST /_sim/advance?seconds=N",
    )
    parser.add_argument(
        "--latency",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="extra delay before every API answer (default 0)",
    )
    parser.add_argument(
        "--folders",
        type=int_in(0, 100_000),
        default=3,
        help="synthetic fleet: folders per node (default %(default)s)",
    )
    parser.add_argument(
        "--peers",
        type=int_in(0, 10_000),
        default=2,
        help="synthetic fleet: peers per folder (default %(default)s)",
    )
    parser.add_argument(
        "--control-port",
        type=int_in(0, 65535),
        metavar="PORT",
        help="also serve the /_sim control API alone on this port (reachable even when "
        "every node is down)",
    )
    return parser


def parse_fleet_options(args: argparse.Namespace) -> FleetOptions:
    """Check the combinations argparse cannot express; raise _UsageError."""
    if args.scenario is None and args.nodes is None:
        nodes: int | None = 3
    else:
        nodes = args.nodes
    if args.scenario is not None and (args.folders != 3 or args.peers != 2):
        raise _UsageError("--folders and --peers describe a synthetic fleet; not with --scenario")
    if args.base_port and args.base_port + (nodes or 1) - 1 > 65535:
        raise _UsageError(f"--base-port {args.base_port} leaves no room for {nodes} nodes")
    return FleetOptions(
        nodes=nodes,
        base_port=args.base_port,
        scenario=args.scenario,
        seed=args.seed,
        host=args.host,
        realtime=args.realtime,
        latency=args.latency,
        folders=args.folders,
        peers=args.peers,
        control_port=args.control_port,
    )


def main(argv: Sequence[str]) -> int:
    """Run ``simulate`` with ``argv`` (without the subcommand name); return the exit code."""
    parser = build_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.config is None:
        try:
            options = parse_fleet_options(args)
        except _UsageError as exc:
            return usage_error(parser, str(exc))
        return run_fleet(options)
    fleet_flags = [
        flag
        for flag in (
            "--nodes",
            "--base-port",
            "--scenario",
            "--latency",
            "--folders",
            "--peers",
            "--control-port",
            "--host",
            "--realtime",
            "--manual-clock",
        )
        if any(a == flag or a.startswith(flag + "=") for a in argv)
    ]
    if fleet_flags:
        return usage_error(parser, f"--config runs one node; it excludes {', '.join(fleet_flags)}")
    from sync_exporter.simulator.single import main_sync_config

    seeded = any(a == "--seed" or a.startswith("--seed=") for a in argv)
    return main_sync_config(Path(args.config), seed=args.seed if seeded else None)


def run_fleet(options: FleetOptions) -> int:
    """Build the fleet, serve it until a signal arrives, return the exit code."""
    from sync_exporter.simulator.scenario import ScenarioError

    try:
        fleet = _build_fleet(options)
    except ScenarioError as exc:
        print(f"sync-exporter simulate: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(fleet, options))
    except OSError as exc:
        print(
            f"sync-exporter simulate: error: cannot listen: {exc.strerror or exc}", file=sys.stderr
        )
        return 1


def _build_fleet(options: FleetOptions) -> Fleet:
    from sync_exporter.simulator.clock import Clock, ManualClock, WallClock
    from sync_exporter.simulator.fleet import Fleet
    from sync_exporter.simulator.scenario import ScenarioError

    clock: Clock = WallClock() if options.realtime else ManualClock()
    if options.scenario is None:
        assert options.nodes is not None
        return Fleet.synthetic(
            nodes=options.nodes,
            folders=options.folders,
            peers=options.peers,
            seed=options.seed,
            clock=clock,
            latency=options.latency,
        )
    fleet = Fleet.from_scenario(options.scenario, seed=options.seed, clock=clock)
    if options.nodes is not None and options.nodes != len(fleet.nodes):
        raise ScenarioError(
            [f"--nodes {options.nodes} but the scenario declares {len(fleet.nodes)} nodes"]
        )
    if options.latency:
        for node in fleet.nodes.values():
            node.state.faults.delay = options.latency
    return fleet


async def _serve(fleet: Fleet, options: FleetOptions) -> int:
    with stop_requested() as stop:
        try:
            await fleet.start(
                options.host,
                options.base_port,
                realtime=options.realtime,
                control_port=options.control_port,
            )
            if not stop.is_set():
                _print_banner(fleet, options)
                await stop.wait()
        finally:
            await fleet.stop()
    print("sync-exporter simulate: stopped", flush=True)
    return 0


def _print_banner(fleet: Fleet, options: FleetOptions) -> None:
    """Print one line per node and how to curl one; flushed so a parent process sees it."""
    clock = "realtime" if options.realtime else "manual clock (POST /_sim/advance?seconds=N)"
    print(f"sync-exporter simulate: {len(fleet.nodes)} nodes, seed {options.seed}, {clock}")
    from sync_exporter.simulator.state import FaultMode

    first = None
    for name, node in fleet.nodes.items():
        login, _ = fleet.credentials(name)
        down = "  (down)" if node.state.faults.mode is FaultMode.DOWN else ""
        spec = fleet.world.scenario.node(name)
        gui = "  (no API key: web GUI API at /gui/ only)" if spec and not spec.api_key else ""
        print(f"  node {name}  {node.url}  login {login}{gui}{down}")
        first = first or name
    if fleet.control_url is not None:
        print(f"  control  {fleet.control_url}/_sim/state")
    if first is not None:
        node = fleet.nodes[first]
        login, _ = fleet.credentials(first)
        # The password is never printed: curl asks for it (scenario default: docs/simulator.md).
        print(f"try: curl -u {login} '{node.url}/api?method=get_folders'")
        print(f"     curl '{fleet.control_url or node.url}/_sim/state'")
    sys.stdout.flush()
