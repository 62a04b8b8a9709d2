"""Benchmark: one fleet read through API v1 and through the web GUI API, side by side.

Issue 8 asks that a node read through the GUI API cost no more than one read through
API v1: a GUI scrape is a handful of requests per node whatever its folder count
(getsyncfolders, getstatuses), where v1 asks get_folder_peers once per folder. The
simulated nodes serve both APIs, so the same fleet (same folders, peers and latency) is
scraped both ways in one run, alternating, and the script prints requests, exporter CPU
and wall time per warm scrape for each API and their ratio.

The fleet runs in a child process (``exporter_scrape.py serve``), so its CPU is not
counted against the exporter.

    .venv/bin/python benchmarks/gui_vs_v1.py [--nodes 20 --folders 50 --peers 10
        --latency 0.02 --max-concurrency 8 --rounds 7]

Figures are printed, not asserted: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.model import NodeSnapshot, Outcome
from sync_exporter.scrape import Scraper

FLEET_SCRIPT = Path(__file__).with_name("exporter_scrape.py")
APIS = ("v1", "gui")


class CountingObserver:
    """Counts API requests and failures."""

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0

    def observe(self, node: str, method: str, outcome: Outcome, seconds: float) -> None:
        """Count one request."""
        self.requests += 1
        if outcome is not Outcome.SUCCESS:
            self.failures += 1


@dataclass
class Figures:
    """Per-scrape figures of one API over the warm rounds."""

    requests: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    failures: int = 0


def start_fleet(args: argparse.Namespace) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    """Run the simulated fleet in a child process and return it with its node list."""
    command = [sys.executable, str(FLEET_SCRIPT), "serve"]
    command += ["--nodes", str(args.nodes), "--folders", str(args.folders)]
    command += ["--peers", str(args.peers), "--latency", str(args.latency)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.wait()
        raise SystemExit(f"the simulator child exited with {child.returncode}")
    nodes: list[dict[str, Any]] = json.loads(line)["nodes"]
    return child, nodes


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def check(snapshots: list[NodeSnapshot], api: str, args: argparse.Namespace) -> None:
    """Refuse to report figures for a scrape that did not fetch everything."""
    for snapshot in snapshots:
        if not snapshot.up or snapshot.api != api or len(snapshot.folders) != args.folders:
            raise SystemExit(f"incomplete {api} scrape of {snapshot.node}: {snapshot.error}")
        if any(f.peers is None or len(f.peers) != args.peers for f in snapshot.folders):
            raise SystemExit(f"peers missing in the {api} scrape of {snapshot.node}")


async def measure(args: argparse.Namespace, nodes: list[dict[str, Any]]) -> dict[str, Figures]:
    """Scrape the fleet through each API in turn, round by round, and return the figures."""
    observers = {api: CountingObserver() for api in APIS}
    scrapers = {api: Scraper(observer=observers[api]) for api in APIS}
    configs = {
        api: [
            NodeConfig(
                name=n["name"],
                url=n["url"],
                username=n["login"],
                password=LiteralPassword(n["password"]),
                timeout=30.0,
                max_concurrency=args.max_concurrency,
                api=api,
            )
            for n in nodes
        ]
        for api in APIS
    }
    figures = {api: Figures() for api in APIS}
    try:
        for api in APIS:  # cold: tokens, secrets, prefs, version and OS are fetched once
            check(await scrapers[api].scrape(configs[api], timeout=60.0), api, args)
        for _ in range(args.rounds):
            for api in APIS:
                observer, before_requests = observers[api], observers[api].requests
                started_cpu, started = cpu_seconds(), time.perf_counter()
                check(await scrapers[api].scrape(configs[api], timeout=60.0), api, args)
                figures[api].wall.append(time.perf_counter() - started)
                figures[api].cpu.append(cpu_seconds() - started_cpu)
                figures[api].requests.append(observer.requests - before_requests)
        for api in APIS:
            figures[api].failures = observers[api].failures
    finally:
        for scraper in scrapers.values():
            await scraper.close()
    return figures


def report(args: argparse.Namespace, figures: dict[str, Figures]) -> None:
    v1, gui = figures["v1"], figures["gui"]
    rows: list[tuple[str, float, float]] = [
        ("requests per scrape", statistics.median(v1.requests), statistics.median(gui.requests)),
        (
            "exporter CPU per scrape (ms)",
            statistics.median(v1.cpu) * 1000,
            statistics.median(gui.cpu) * 1000,
        ),
        (
            "wall per scrape (ms)",
            statistics.median(v1.wall) * 1000,
            statistics.median(gui.wall) * 1000,
        ),
    ]
    print(
        f"fleet: {args.nodes} nodes x {args.folders} folders x {args.peers} peers, "
        f"{args.latency * 1000:g} ms per API answer, max_concurrency {args.max_concurrency}, "
        f"{args.rounds} warm rounds each (medians)"
    )
    print(f"{'':30} {'API v1':>12} {'web GUI API':>12} {'GUI / v1':>9}")
    for name, a, b in rows:
        print(f"{name:30} {a:12.1f} {b:12.1f} {b / a:9.2f}")
    spread = {api: (min(f.cpu) * 1000, max(f.cpu) * 1000) for api, f in figures.items()}
    print(
        "CPU per scrape range (ms): "
        + ", ".join(f"{api} {lo:.1f}-{hi:.1f}" for api, (lo, hi) in spread.items())
    )
    print(f"failed requests: v1 {v1.failures}, gui {gui.failures}")
    print("target: the GUI scrape costs no more than the v1 scrape (GUI / v1 <= 1.00)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--folders", type=int, default=50)
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    child, nodes = start_fleet(args)
    try:
        report(args, asyncio.run(measure(args, nodes)))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
