"""Benchmark: how fast a large simulated fleet starts, what it weighs, how much it serves.

Three figures for one simulator process (default 50 nodes x 200 folders x 10 peers):

1. time to build the fleet (world and NodeStates) and to bind every node's port, and the
   process's resident memory afterwards;
2. the cost of one world tick (simulated second) for that fleet;
3. API requests per second the process serves to a load client running in a *separate*
   process over loopback with keep-alive: a mix of get_folders, get_folder_peers and
   get_speed across every node, bounded by ``--seconds`` and ``--requests``.

    .venv/bin/python benchmarks/simulator_fleet.py [--nodes 50 --folders 200 --peers 10
        --seconds 10 --requests 200000 --concurrency 32]

Figures are printed, not asserted: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Share of each API method in the load mix.
MIX = (("get_folder_peers", 0.6), ("get_folders", 0.2), ("get_speed", 0.2))


def rss_mib() -> float:
    """Resident memory of this process now, in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the load client (child process) ---------------------------------------------------


async def load(targets: list[dict[str, Any]], seconds: float, limit: int, workers: int) -> None:
    """Send the request mix to every node until the time or count runs out; print JSON."""
    import aiohttp

    rng = random.Random(1)
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=workers, force_close=False)
    counts = {m: 0 for m, _ in MIX}
    errors = 0
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        secrets: dict[str, list[str]] = {}
        for t in targets:  # learn each node's folder secrets first (not timed)
            headers = {"Authorization": t["auth"]}
            url = t["url"] + "/api?method=get_folders"
            async with session.get(url, headers=headers) as response:
                secrets[t["url"]] = [f["secret"] for f in await response.json(content_type=None)]
        methods = [m for m, _ in MIX]
        weights = [w for _, w in MIX]
        plan = [
            (rng.choice(targets), rng.choices(methods, weights)[0], rng.random())
            for _ in range(4096)
        ]
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        sent = 0

        async def worker(offset: int) -> None:
            nonlocal sent, errors
            i = offset
            while sent < limit and time.monotonic() < deadline:
                sent += 1
                target, method, pick = plan[i % len(plan)]
                i += workers
                query = f"method={method}"
                if method == "get_folder_peers":
                    folder_secrets = secrets[target["url"]]
                    query += "&secret=" + folder_secrets[int(pick * len(folder_secrets))]
                url = f"{target['url']}/api?{query}"
                async with session.get(url, headers={"Authorization": target["auth"]}) as r:
                    await r.read()
                    if r.status == 200:
                        counts[method] += 1
                    else:
                        errors += 1

        await asyncio.gather(*(worker(i) for i in range(workers)))
        elapsed = time.monotonic() - started
    total = sum(counts.values())
    print(
        json.dumps({"requests": total, "errors": errors, "seconds": elapsed, "by_method": counts})
    )


def client_main(argv: list[str]) -> int:
    """``--client SPEC_JSON``: run the load client (used by the parent through subprocess)."""
    spec = json.loads(argv[0])
    asyncio.run(load(spec["targets"], spec["seconds"], spec["requests"], spec["workers"]))
    return 0


# -- the simulator (this process) ------------------------------------------------------


async def bench(args: argparse.Namespace) -> None:
    import aiohttp

    from sync_exporter.simulator.fleet import Fleet

    shape = f"{args.nodes} nodes x {args.folders} folders x {args.peers} peers"
    print(f"fleet: {shape}, seed {args.seed}")
    rss_before = rss_mib()
    t0 = time.perf_counter()
    fleet = Fleet.synthetic(
        nodes=args.nodes, folders=args.folders, peers=args.peers, seed=args.seed
    )
    t1 = time.perf_counter()
    await fleet.start()
    t2 = time.perf_counter()
    try:
        rss_after = rss_mib()
        copies = sum(len(n.state.folders) for n in fleet.nodes.values())
        peer_rows = sum(
            len(f.peers) for n in fleet.nodes.values() for f in n.state.folders.values()
        )
        print(
            f"build world + nodes: {t1 - t0:.2f} s ({copies} folder copies, {peer_rows} peer rows)"
        )
        print(f"bind {len(fleet.nodes)} ports: {t2 - t1:.2f} s")
        print(f"start total: {t2 - t0:.2f} s")
        print(f"RSS: {rss_after:.0f} MiB (+{rss_after - rss_before:.0f} MiB for the fleet)")

        ticks = 10
        t3 = time.perf_counter()
        fleet.advance(ticks)
        t4 = time.perf_counter()
        print(f"world tick (1 simulated second): {(t4 - t3) / ticks * 1000:.1f} ms")

        targets = []
        for name, node in fleet.nodes.items():
            login, password = fleet.credentials(name)
            targets.append({"url": node.url, "auth": aiohttp.encode_basic_auth(login, password)})
        spec = {
            "targets": targets,
            "seconds": args.seconds,
            "requests": args.requests,
            "workers": args.concurrency,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            json.dumps(spec),
            stdout=subprocess.PIPE,
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            print(f"load client failed with exit code {process.returncode}")
            return
        result = json.loads(out)
        rate = result["requests"] / result["seconds"]
        print(
            f"served: {result['requests']} requests in {result['seconds']:.1f} s = "
            f"{rate:.0f} req/s ({args.concurrency} keep-alive connections, "
            f"mix {', '.join(f'{m} {int(w * 100)}%' for m, w in MIX)}; "
            f"errors {result['errors']})"
        )
        print(f"RSS after load: {rss_mib():.0f} MiB")
    finally:
        await fleet.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--client"]:
        return client_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration bound")
    parser.add_argument("--requests", type=int, default=200_000, help="load count bound")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    args = parser.parse_args(argv)
    asyncio.run(bench(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
