"""Benchmark: what a /metrics scrape of a large simulated fleet costs, beside its references.

Two modes, each printing its figures side by side with what they are measured against:

``fleet`` (default 20 nodes x 50 folders x 10 peers, 20 ms per API answer): the fleet
runs in one child process, the exporter (its real CLI) in another, and this process is
the client. Each round alternates a **bare concurrent fetch** of the same API calls
(aiohttp, the same per-node concurrency, JSON decoded, nothing rendered) with a
``/metrics`` asked the way Prometheus asks (timeout header, OpenMetrics Accept, gzip);
medians of the rounds are printed with their spread. Then, on the snapshots of one
scrape: the fast renderer's microseconds per sample against prometheus_client's
``generate_latest`` on the same data, and the body size and gzip time at every level.

``folders`` (default 1,000, 5,000 and 20,000 folders on one node answering at once): for
each size a fresh fleet and exporter; a cold then a warm ``/metrics`` with a 10 s scrape
timeout, the slowest ``/-/healthy`` answer while the warm scrape runs, and how long the
exporter takes to exit after SIGTERM in the middle of a scrape.

    .venv/bin/python benchmarks/exporter_scrape.py fleet [--nodes 20 --folders 50
        --peers 10 --latency 0.02 --max-concurrency 8 --rounds 7]
    .venv/bin/python benchmarks/exporter_scrape.py folders [--sizes 1000 5000 20000]

Figures are printed, not asserted: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import math
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from yarl import URL

from sync_exporter.client import ResponseBudget
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.exposition import SeriesCache
from sync_exporter.memory import tune_garbage_collector
from sync_exporter.metrics import render
from sync_exporter.model import NodeSnapshot
from sync_exporter.node_http import EXTRA_CONNECTIONS, USER_AGENT, NodeHTTP
from sync_exporter.scrape import Scraper

#: What Prometheus 2.x/3.x sends by default (OpenMetrics first, then text 0.0.4).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)

#: How many Prometheus servers scrape at once in the sharing measurement.
CONCURRENT = 4


# -- the fleet child -------------------------------------------------------------------


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


def start_fleet(
    nodes: int, folders: int, peers: int, latency: float
) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    """Run a synthetic fleet in a child process and return it with its node list."""
    command = [sys.executable, __file__, "serve", "--nodes", str(nodes)]
    command += ["--folders", str(folders), "--peers", str(peers), "--latency", str(latency)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.wait()
        raise SystemExit(f"the simulator child exited with {child.returncode}")
    found: list[dict[str, Any]] = json.loads(line)["nodes"]
    return child, found


def stop(child: subprocess.Popen[str]) -> None:
    """Close the fleet child's stdin (its signal to stop) and wait for it."""
    if child.stdin is not None:
        child.stdin.close()
    child.wait(timeout=60)


# -- the exporter child ----------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ExporterProcess:
    """The exporter's real CLI in a child process, and its CPU and memory from /proc."""

    def __init__(self, nodes: Sequence[dict[str, Any]], max_concurrency: int, workdir: Path):
        config = {
            "nodes": [
                {
                    "name": n["name"],
                    "url": n["url"],
                    "username": n["login"],
                    "password": n["password"],
                    "timeout": "60s",
                    "max_concurrency": max_concurrency,
                }
                for n in nodes
            ]
        }
        path = workdir / "sync-exporter.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        command = [sys.executable, "-m", "sync_exporter", "--config.file", str(path)]
        command += ["--web.listen-address", f"127.0.0.1:{self.port}", "--log.level", "error"]
        self.process = subprocess.Popen(command)
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        """Wait until /-/ready answers."""
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise SystemExit("the exporter did not become ready")

    def cpu(self) -> float:
        """User + system CPU seconds of the exporter so far."""
        return process_cpu(self.process.pid)

    def peak_rss_mib(self) -> float:
        """The exporter's peak resident memory (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


async def get_metrics(
    session: aiohttp.ClientSession, url: str, scrape_timeout: float = 60.0
) -> tuple[float, bytes, int]:
    """One /metrics as Prometheus asks for it; (wall seconds, body, gzip'd size)."""
    headers = {
        "Accept": PROMETHEUS_ACCEPT,
        "Accept-Encoding": "gzip",
        "X-Prometheus-Scrape-Timeout-Seconds": str(scrape_timeout),
    }
    started = time.perf_counter()
    async with session.get(f"{url}/metrics", headers=headers) as response:
        zipped = await response.read()
        wall = time.perf_counter() - started
        assert response.status == 200, response.status
    return wall, gzip.decompress(zipped), len(zipped)


def up_count(body: bytes) -> tuple[int, int]:
    """(nodes up, nodes listed) in an exposition."""
    lines = [line for line in body.splitlines() if line.startswith(b"btsync_up{")]
    return sum(line.endswith(b" 1.0") for line in lines), len(lines)


# -- the bare fetch ----------------------------------------------------------------------


def node_config(node: dict[str, Any], max_concurrency: int) -> NodeConfig:
    """The exporter's config for one simulated node, as both sides of a run use it."""
    return NodeConfig(
        name=node["name"],
        url=node["url"],
        username=node["login"],
        password=LiteralPassword(node["password"]),
        timeout=60.0,
        max_concurrency=max_concurrency,
    )


class BareNode:
    """One node as the bare fetch asks it, with aiohttp: a session set up as the exporter
    set up its own before it had a transport of its own (pool of ``max_concurrency`` + 4,
    total timeout, the same headers, no cookie jar, no decompression), the Authorization
    header built once, each URL built with yarl's ``extend_query``. Nothing the exporter
    does on top (budgets, redaction, parsing, self-metrics)."""

    def __init__(self, node: dict[str, Any], max_concurrency: int) -> None:
        config = node_config(node, max_concurrency)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_concurrency + EXTRA_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=config.timeout),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        self.api = URL(f"{node['url']}/api")
        token = base64.b64encode(f"{node['login']}:{node['password']}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    async def call(self, method: str, **params: str) -> Any:
        url = self.api.extend_query({"method": method, **params})
        async with self.session.get(url, headers=self.headers) as response:
            return json.loads(await response.read())

    async def close(self) -> None:
        await self.session.close()


class TransportNode:
    """One node as a bare fetch through the exporter's own transport (NodeHTTP) asks it:
    the same calls and decoding, none of the rest. Printed beside the aiohttp fetch, so
    what the transport saves and what everything else costs are both in view."""

    def __init__(self, node: dict[str, Any], max_concurrency: int) -> None:
        self.http = NodeHTTP(node_config(node, max_concurrency))
        token = base64.b64encode(f"{node['login']}:{node['password']}".encode()).decode()
        self.headers = (("Authorization", f"Basic {token}"),)
        self.budget = ResponseBudget(1 << 30)

    async def call(self, method: str, **params: str) -> Any:
        with self.budget.lease() as lease:
            answer = await self.http.get("/api", {"method": method, **params}, self.headers, lease)
            return json.loads(answer.body)

    async def close(self) -> None:
        await self.http.close()


async def bare_fetch(nodes: Sequence[BareNode | TransportNode], max_concurrency: int) -> int:
    """What the exporter's warm scrape asks, as plainly as aiohttp allows; returns requests.

    Per node: get_speed and get_folders side by side, then get_folder_peers for every
    folder, at most ``max_concurrency`` at a time (the exporter's worker pool).
    """

    async def one(node: BareNode | TransportNode) -> int:
        speed, folders = await asyncio.gather(node.call("get_speed"), node.call("get_folders"))
        assert "download" in speed
        secrets = iter([folder["secret"] for folder in folders])

        async def worker() -> None:
            for secret in secrets:
                await node.call("get_folder_peers", secret=secret)

        await asyncio.gather(*(worker() for _ in range(max_concurrency)))
        return 2 + len(folders)

    counts = await asyncio.gather(*(one(node) for node in nodes))
    return sum(counts)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def spread(values: Sequence[float], scale: float = 1000.0, unit: str = "ms") -> str:
    """median (min to max) of ``values`` times ``scale``."""
    med = statistics.median(values) * scale
    return f"{med:8.1f} {unit} (min {min(values) * scale:.1f}, max {max(values) * scale:.1f})"


# -- fleet mode --------------------------------------------------------------------------


class _Families:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    """CPU seconds of ``repeat`` calls (CPU, not wall: the machine is shared)."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return times


async def snapshots_of(nodes: Sequence[dict[str, Any]], max_concurrency: int) -> list[NodeSnapshot]:
    """One in-process scrape, for the rendering comparison."""
    configs = [node_config(n, max_concurrency) for n in nodes]
    scraper = Scraper()
    try:
        snapshots = await scraper.scrape(configs, timeout=120.0)
    finally:
        await scraper.close()
    if not all(s.up for s in snapshots):
        raise SystemExit("a node was down in the in-process scrape")
    return snapshots


def rendering(snapshots: Sequence[NodeSnapshot], repeat: int) -> bytes:
    """Print fast renderer vs prometheus_client on ``snapshots``; return the text body."""
    cache = SeriesCache()
    rendered = cache.render(snapshots, lambda node: True)
    samples = rendered.samples
    cold = timed(lambda: SeriesCache().render(snapshots, lambda n: True).chunks("text"), 1)
    warm = timed(lambda: cache.render(snapshots, lambda n: True).chunks("text"), repeat)
    warm_om = timed(lambda: cache.render(snapshots, lambda n: True).chunks("openmetrics"), repeat)
    reference = timed(lambda: generate_latest(_Families(render(snapshots))), 3)
    per = 1e6 / samples
    print(f"\nrendering {samples} samples (CPU time, median of {repeat}; reference of 3):")
    print(f"  fast renderer, warm, text:         {spread(warm, per, 'us/sample')}")
    print(f"  fast renderer, warm, OpenMetrics:  {spread(warm_om, per, 'us/sample')}")
    print(f"  fast renderer, first render:       {cold[0] * per:8.2f} us/sample")
    print(f"  prometheus_client generate_latest: {spread(reference, per, 'us/sample')}")
    ratio = statistics.median(reference) / statistics.median(warm)
    print(f"  -> {ratio:.1f}x faster; target < 1 us/sample")
    return b"".join(rendered.chunks("text"))


def gzip_levels(body: bytes) -> None:
    """Print size, ratio and CPU time of every gzip level on ``body``."""
    print(f"\ngzip of the {len(body) / 1e6:.2f} MB text body (CPU time, median of 3):")
    for level in range(1, 10):
        size = len(zlib.compress(body, level))
        times = timed(lambda level=level: zlib.compress(body, level), 3)  # type: ignore[misc]
        print(
            f"  level {level}: {size / 1e6:6.3f} MB, ratio {len(body) / size:5.2f}, "
            f"{statistics.median(times) * 1000:6.1f} ms"
        )


async def fleet_mode(args: argparse.Namespace) -> None:
    child, nodes = start_fleet(args.nodes, args.folders, args.peers, args.latency)
    tune_garbage_collector()  # the bare fetch gets the exporter's process tuning too
    with tempfile.TemporaryDirectory() as workdir:
        exporter = ExporterProcess(nodes, args.max_concurrency, Path(workdir))
        try:
            await exporter.ready()
            await measure_fleet(args, nodes, exporter, child.pid)
        finally:
            exporter.stop()
            stop(child)


def requests_counted(body: bytes) -> float:
    """The sum of btsync_exporter_api_requests_total in an exposition."""
    return sum(
        float(line.rsplit(b" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(b"btsync_exporter_api_requests_total{")
    )


def fleet_sockets(pid: int, ports: set[int]) -> set[int]:
    """Inodes of ``pid``'s established TCP connections to one of ``ports`` (the fleet)."""
    owned = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            owned.add(int(target[8:-1]))
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            inode = int(fields[9])
            if fields[3] == "01" and remote_port in ports and inode in owned:
                found.add(inode)
    return found


async def measure_fleet(
    args: argparse.Namespace, nodes: list[dict[str, Any]], exporter: ExporterProcess, fleet: int
) -> None:
    mc = args.max_concurrency
    ports = {URL(node["url"]).port or 80 for node in nodes}
    bare_nodes = [BareNode(node, mc) for node in nodes]
    transport_nodes = [TransportNode(node, mc) for node in nodes]
    client = aiohttp.ClientSession(auto_decompress=False)
    try:
        cold, body, _ = await get_metrics(client, exporter.url)
        _, body, _ = await get_metrics(client, exporter.url)  # warm: the rounds' requests
        requests = await bare_fetch(bare_nodes, mc)  # warms the bare sessions too
        await bare_fetch(transport_nodes, mc)
        sockets = (fleet_sockets(os.getpid(), ports), fleet_sockets(exporter.process.pid, ports))
        bare_walls: list[float] = []
        bare_cpus: list[float] = []
        transport_walls: list[float] = []
        transport_cpus: list[float] = []
        walls: list[float] = []
        cpus: list[float] = []
        fleet_cpus: tuple[list[float], list[float]] = ([], [])
        asked: list[float] = []
        for _ in range(args.rounds):
            fleet_cpu = process_cpu(fleet)
            cpu, started = own_cpu(), time.perf_counter()
            await bare_fetch(bare_nodes, mc)
            bare_walls.append(time.perf_counter() - started)
            bare_cpus.append(own_cpu() - cpu)
            fleet_cpus[0].append(process_cpu(fleet) - fleet_cpu)
            cpu, started = own_cpu(), time.perf_counter()
            await bare_fetch(transport_nodes, mc)
            transport_walls.append(time.perf_counter() - started)
            transport_cpus.append(own_cpu() - cpu)
            cpu, fleet_cpu, before = exporter.cpu(), process_cpu(fleet), body
            wall, body, zipped = await get_metrics(client, exporter.url)
            cpus.append(exporter.cpu() - cpu)
            fleet_cpus[1].append(process_cpu(fleet) - fleet_cpu)
            walls.append(wall)
            asked.append(requests_counted(body) - requests_counted(before))
            up, listed = up_count(body)
            if up != listed or listed != len(nodes):
                raise SystemExit(f"only {up} of {len(nodes)} nodes up in /metrics")
        opened = (
            len(fleet_sockets(os.getpid(), ports) - sockets[0]),
            len(fleet_sockets(exporter.process.pid, ports) - sockets[1]),
        )
        # Several Prometheus servers at once: one fetch per node, one rendering.
        cpu, started = exporter.cpu(), time.perf_counter()
        await asyncio.gather(*(get_metrics(client, exporter.url) for _ in range(CONCURRENT)))
        together = (time.perf_counter() - started, exporter.cpu() - cpu)
    finally:
        await client.close()
        for node in bare_nodes:
            await node.close()
        for other in transport_nodes:
            await other.close()
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    ratios = [w / b for w, b in zip(walls, bare_walls, strict=True)]
    ratio = statistics.median(ratios)
    own_ratios = [w / b for w, b in zip(walls, transport_walls, strict=True)]
    target = args.target if args.target is not None else (1.5 if args.latency == 0 else 1.3)
    print(
        f"fleet: {args.nodes} nodes x {args.folders} folders x {args.peers} peers, "
        f"{args.latency * 1000:g} ms per API answer, max_concurrency {mc}, "
        f"{args.rounds} rounds, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"/metrics: {samples} samples, {len(body) / 1e6:.2f} MB, {zipped / 1e6:.2f} MB gzip'd")
    floor = args.latency * (1 + math.ceil(args.folders / mc))
    print(f"latency floor, latency x (1 + ceil(folders / max_concurrency)): {floor * 1000:.1f} ms")
    print(
        f"API requests per round: bare fetch {requests}, exporter "
        f"{statistics.median(asked):.0f} (its btsync_exporter_api_requests_total); "
        f"connections opened during the rounds: bare {opened[0]}, exporter {opened[1]} "
        f"(keep-alive, at most {mc} + {EXTRA_CONNECTIONS} per node both)"
    )
    print(f"bare concurrent fetch (aiohttp):        {spread(bare_walls)}")
    print(f"bare fetch on the exporter's transport: {spread(transport_walls)}")
    print(f"/metrics (Prometheus' headers, gzip):   {spread(walls)}")
    verdict = "met" if ratio <= target else "NOT met"
    print(
        f"  -> /metrics / bare fetch: {ratio:.2f}x, target {target:g}x: {verdict} "
        f"(median of the rounds; min {min(ratios):.2f}, max {max(ratios):.2f})"
    )
    print(
        f"     /metrics / bare fetch on the exporter's transport: "
        f"{statistics.median(own_ratios):.2f}x (all the exporter does beyond fetching)"
    )
    print(f"     first (cold) /metrics {cold:.2f} s")
    per_request = statistics.median(cpus) / requests * 1e6
    bare_per_request = statistics.median(bare_cpus) / requests * 1e6
    transport_per_request = statistics.median(transport_cpus) / requests * 1e6
    print(
        f"CPU per API request: exporter {per_request:.0f} us (all of /metrics, rendering "
        f"included), bare fetch {bare_per_request:.0f} us with aiohttp, "
        f"{transport_per_request:.0f} us on the exporter's transport"
    )
    print(f"exporter CPU per /metrics: {spread(cpus)}")
    print(f"fleet (simulator) CPU while the bare fetch runs: {spread(fleet_cpus[0])}")
    print(f"fleet (simulator) CPU while /metrics runs:       {spread(fleet_cpus[1])}")
    print(
        f"{CONCURRENT} /metrics at once: {together[0] * 1000:.1f} ms wall, exporter CPU "
        f"{together[1] * 1000:.1f} ms (one /metrics: {statistics.median(cpus) * 1000:.1f} ms)"
    )
    print(f"exporter peak RSS: {exporter.peak_rss_mib():.1f} MiB for {samples} samples")
    snapshots = await snapshots_of(nodes, mc)
    text = rendering(snapshots, repeat=5)
    gzip_levels(text)


# -- folders mode --------------------------------------------------------------------------


async def slowest_healthy(url: str, stop_event: asyncio.Event) -> float:
    """Poll /-/healthy every 20 ms until told to stop; return the slowest answer."""
    slowest = 0.0
    async with aiohttp.ClientSession() as session:
        while not stop_event.is_set():
            started = time.perf_counter()
            async with session.get(f"{url}/-/healthy") as response:
                await response.read()
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.02)
    return slowest


async def one_size(folders: int, max_concurrency: int) -> None:
    child, nodes = start_fleet(1, folders, 2, 0.0)
    with tempfile.TemporaryDirectory() as workdir:
        exporter = ExporterProcess(nodes, max_concurrency, Path(workdir))
        try:
            await exporter.ready()
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                cold, body, _ = await get_metrics(session, exporter.url, scrape_timeout=120.0)
                cold_up = up_count(body)[0] == 1
                stop_event = asyncio.Event()
                watcher = asyncio.create_task(slowest_healthy(exporter.url, stop_event))
                warm, body, _ = await get_metrics(session, exporter.url, scrape_timeout=10.0)
                stop_event.set()
                slowest = await watcher
                warm_up = up_count(body)[0] == 1
                # SIGTERM half a second into a scrape.
                scrape = asyncio.create_task(get_metrics(session, exporter.url, 10.0))
                await asyncio.sleep(0.5)
                started = time.perf_counter()
                exporter.process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(exporter.process.wait, 30)
                exited = time.perf_counter() - started
                scrape.cancel()
                await asyncio.gather(scrape, return_exceptions=True)
        finally:
            exporter.stop()
            stop(child)
    print(
        f"{folders:6d} folders: cold {cold:6.2f} s (up {cold_up}), warm {warm:6.2f} s "
        f"(up {warm_up}, 10 s timeout), slowest /-/healthy {slowest * 1000:6.0f} ms, "
        f"exit after SIGTERM {exited * 1000:5.0f} ms"
    )


async def folders_mode(args: argparse.Namespace) -> None:
    print(
        f"one node, N folders x 2 peers answering at once, max_concurrency "
        f"{args.max_concurrency}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    for size in args.sizes:
        await one_size(size, args.max_concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode")
    fleet = modes.add_parser("fleet", help="a fleet: /metrics vs bare fetch, render, gzip")
    fleet.add_argument("--nodes", type=int, default=20)
    fleet.add_argument("--folders", type=int, default=50)
    fleet.add_argument("--peers", type=int, default=10)
    fleet.add_argument("--latency", type=float, default=0.02)
    fleet.add_argument("--max-concurrency", type=int, default=8)
    fleet.add_argument("--rounds", type=int, default=7)
    fleet.add_argument(
        "--target",
        type=float,
        default=None,
        help="ratio to meet (default: 1.5 with --latency 0, else 1.3, as issue 10 sets)",
    )
    folders = modes.add_parser("folders", help="one node with many folders")
    folders.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    folders.add_argument("--max-concurrency", type=int, default=8)
    serve_parser = modes.add_parser("serve", help=argparse.SUPPRESS)
    for name in ("--nodes", "--folders", "--peers"):
        serve_parser.add_argument(name, type=int, required=True)
    serve_parser.add_argument("--latency", type=float, required=True)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        asyncio.run(serve(args))
    elif args.mode == "folders":
        asyncio.run(folders_mode(args))
    else:
        if args.mode is None:
            args = parser.parse_args(["fleet", *(argv or [])])
        asyncio.run(fleet_mode(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
