"""The chart's /sd probe mode, live: a real Prometheus, two exporter replicas, one "Service".

The ScrapeConfig rendered from ci/standalone-sd-values.yaml is turned into the scrape job
the Prometheus Operator generates from it (http_sd_configs, relabelings, limits), pointed at
a round-robin TCP proxy standing in for the Service in front of two exporter replicas, the
way kube-proxy spreads connections. Prometheus must then see every node exactly once, with
instance=<node> and the job the alerts select, and keep seeing the same series when the
replica serving the probes goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ServiceStarter
from tests.deploy.chart import CHART, exporter_container, load_values, render
from tests.deploy.conftest import exporter_config
from tests.deploy.pod import free_port, http_get, process
from tests.prometheus_api import start_prometheus, wait_for


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _operator_job(scrape: dict[str, Any], service: str) -> dict[str, Any]:
    """The Prometheus scrape job for ``scrape`` (a ScrapeConfig), its Service at ``service``.

    The Operator's translation for the fields the chart renders: camelCase to snake_case,
    the scheme lower-cased; the job label comes from the relabelings, as in the cluster.
    """
    spec = scrape["spec"]
    job: dict[str, Any] = {
        "job_name": f"scrapeConfig/{scrape['metadata']['namespace']}/{scrape['metadata']['name']}",
        "scrape_interval": "1s",  # the rendered 30s, shortened for the test
        "scrape_timeout": "1s",
        "http_sd_configs": [
            {
                "url": re.sub(r"^http://[^/]+", f"http://{service}", sd["url"]),
                "refresh_interval": "1s",
            }
            for sd in spec["httpSDConfigs"]
        ],
        "relabel_configs": [
            {_snake(k): v.lower() if k == "action" else v for k, v in r.items()}
            for r in spec["relabelings"]
        ],
    }
    for key in ("honorLabels", "sampleLimit", "targetLimit"):
        if key in spec:
            job[_snake(key)] = spec[key]
    return job


@asynccontextmanager
async def _round_robin(backends: list[int]) -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP proxy on a free port spreading connections over ``backends`` in turn.

    Yields its port and the connection count per backend.
    """
    counts = [0] * len(backends)
    turn = itertools.cycle(range(len(backends)))

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = next(turn)
        counts[index] += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", backends[index]
        )
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], counts
    finally:
        server.close()


def _api_calls(port: int) -> float:
    """How many node inventories (get_folders) the replica on ``port`` has asked for."""
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    calls = re.findall(
        r'btsync_exporter_api_requests_total\{method="get_folders",node="[^"]+",'
        r'outcome="success"\} ([0-9.]+)',
        text,
    )
    return sum(float(c) for c in calls)


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within 30 s")


async def test_replicas_behind_the_service_serve_the_fleet_through_sd(
    sim_fleet: dict[str, str],
    prometheus_bin: Path,
    tmp_path: Path,
    start_service: ServiceStarter,
) -> None:
    """Every node once, the same series whichever replica answers, and a replica may go.

    A Service balances connections, not requests, and Prometheus keeps its connection open:
    the probes go through one replica at a time, and through another once it is gone.
    """
    values = load_values(CHART / "ci" / "standalone-sd-values.yaml")
    rendered = render(values)
    scrape = rendered.one("ScrapeConfig")
    args = exporter_container(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]
    assert "--no-metrics.nodes" in args  # as the chart runs the replicas
    config = tmp_path / "sync-exporter.yml"
    config.write_text(exporter_config(sim_fleet), encoding="utf-8")
    ports = [free_port(), free_port()]
    flags = [f"--config.file={config}", "--no-metrics.nodes"]
    with (
        process([*flags, f"--web.listen-address=127.0.0.1:{ports[0]}"], {},
                ready_url=f"http://127.0.0.1:{ports[0]}/-/ready") as first,
        process([*flags, f"--web.listen-address=127.0.0.1:{ports[1]}"], {},
                ready_url=f"http://127.0.0.1:{ports[1]}/-/ready") as second,
    ):  # fmt: skip
        replicas = [first, second]
        async with _round_robin(ports) as (service_port, connections):
            job = _operator_job(scrape, f"127.0.0.1:{service_port}")
            async with (
                start_prometheus(
                    start_service, prometheus_bin, tmp_path, free_port(), {"scrape_configs": [job]}
                ) as base,
                aiohttp.ClientSession() as session,
            ):
                count = len(sim_fleet)
                up = await wait_for(session, base, 'up{job="btsync"} == 1', count)
                nodes = await wait_for(session, base, 'btsync_up{job="btsync"} == 1', count)
                # The replica serving the probes goes away (a rollout, a drained node).
                serving = next(i for i, port in enumerate(ports) if _api_calls(port) > 0)
                other = 1 - serving
                before = _api_calls(ports[other])
                replicas[serving].terminate()
                replicas[serving].wait(timeout=10)
                await _until(lambda: _api_calls(ports[other]) > before, "the other replica")
                after = await wait_for(session, base, 'btsync_up{job="btsync"} == 1', count)

    assert {s["metric"]["instance"] for s in up} == set(sim_fleet), "every node, once"
    assert {s["metric"]["instance"]: s["metric"]["node"] for s in nodes} == {
        n: n for n in sim_fleet
    }
    # The series name no replica: they are the same whichever replica served the probe.
    assert all(set(s["metric"]) == {"__name__", "instance", "job"} for s in up), up
    labels = sorted(tuple(sorted(s["metric"].items())) for s in nodes)
    assert sorted(tuple(sorted(s["metric"].items())) for s in after) == labels
    assert connections[other] > 0
