"""Benchmark: wall time, CPU and memory of one exporter scrape of a large simulated fleet.

The fleet (default 20 nodes x 50 folders x 10 peers, 20 ms per API answer) runs in a
child process, so its CPU is not counted against the exporter. The parent scrapes it
with the real :class:`Scraper` and prints the median wall time of several scrapes beside
the latency floor ``latency x (1 + ceil(folders / max_concurrency))``: one round trip
for get_speed/get_folders, then the folder fan-out in batches of max_concurrency.

    .venv/bin/python benchmarks/exporter_scrape.py [--nodes 20 --folders 50 --peers 10
        --latency 0.02 --max-concurrency 8 --rounds 7]

Figures are printed, not asserted: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.model import NodeSnapshot, Outcome
from sync_exporter.scrape import Scraper


class CountingObserver:
    """Counts API requests by outcome, to show what one scrape costs."""

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0

    def observe(self, node: str, method: str, outcome: Outcome, seconds: float) -> None:
        """Count one request."""
        self.requests += 1
        if outcome is not Outcome.SUCCESS:
            self.failures += 1


# -- the child: a simulated fleet -----------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    """Start the fleet, print how to reach it as one JSON line, run until stdin closes."""
    from sync_exporter.simulator.fleet import Fleet

    fleet = Fleet.synthetic(
        nodes=args.nodes, folders=args.folders, peers=args.peers, latency=args.latency
    )
    async with fleet:
        nodes = []
        for name, node in fleet.nodes.items():
            login, password = fleet.credentials(name)
            nodes.append({"name": name, "url": node.url, "login": login, "password": password})
        print(json.dumps({"nodes": nodes}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


# -- the parent: the exporter ---------------------------------------------------------


def start_fleet(args: argparse.Namespace) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    """Run the fleet in a child process and return it with its node list."""
    command = [sys.executable, __file__, "--serve"]
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


def check(snapshots: list[NodeSnapshot], args: argparse.Namespace) -> None:
    """Refuse to report figures for a scrape that did not fetch everything."""
    for snapshot in snapshots:
        if not snapshot.up or len(snapshot.folders) != args.folders:
            raise SystemExit(f"incomplete scrape of {snapshot.node}: {snapshot.error}")
        if any(f.peers is None for f in snapshot.folders):
            raise SystemExit(f"get_folder_peers failed on {snapshot.node}")


async def measure(args: argparse.Namespace, nodes: list[dict[str, Any]]) -> None:
    configs = [
        NodeConfig(
            name=n["name"],
            url=n["url"],
            username=n["login"],
            password=LiteralPassword(n["password"]),
            timeout=30.0,
            max_concurrency=args.max_concurrency,
        )
        for n in nodes
    ]
    observer = CountingObserver()
    scraper = Scraper(observer=observer)
    try:
        started = time.perf_counter()
        check(await scraper.scrape(configs, timeout=60.0), args)
        cold = time.perf_counter() - started
        cold_requests = observer.requests

        observer.requests = 0
        walls: list[float] = []
        cpu_before = cpu_seconds()
        for _ in range(args.rounds):
            started = time.perf_counter()
            check(await scraper.scrape(configs, timeout=60.0), args)
            walls.append(time.perf_counter() - started)
        cpu = (cpu_seconds() - cpu_before) / args.rounds
        warm_requests = observer.requests // args.rounds
    finally:
        await scraper.close()

    floor = args.latency * (1 + math.ceil(args.folders / args.max_concurrency))
    median = statistics.median(walls)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peers = args.nodes * args.folders * args.peers
    print(
        f"fleet: {args.nodes} nodes x {args.folders} folders x {args.peers} peers "
        f"({peers} peer series), {args.latency * 1000:g} ms per API answer, "
        f"max_concurrency {args.max_concurrency}"
    )
    print(f"latency floor:          {floor * 1000:8.1f} ms")
    print(
        f"scrape wall (median):   {median * 1000:8.1f} ms   = {median / floor:.2f} x floor "
        f"(min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f}, {args.rounds} rounds)"
    )
    print(
        f"first scrape (cold):    {cold * 1000:8.1f} ms"
        "   (+get_secrets, get_folder_prefs, get_version, get_os)"
    )
    print(f"requests per scrape:    {warm_requests:8d}      (cold: {cold_requests})")
    print(f"exporter CPU per scrape:{cpu:8.3f} s")
    print(f"exporter peak RSS:      {peak_rss_mib:8.1f} MiB")
    print(f"failed requests:        {observer.failures:8d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--folders", type=int, default=50)
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return 0
    child, nodes = start_fleet(args)
    try:
        asyncio.run(measure(args, nodes))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
