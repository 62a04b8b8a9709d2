"""``GET /sd``: Prometheus HTTP service discovery of every configured node through ``/probe``.

The unit half checks the exact answer and the ``Host`` validation; the end-to-end half runs
a real Prometheus with the README's ``http_sd_configs`` job (one ``up == 1`` target per
node) and with the sharding example of docs/operations.md over two exporter replicas
(every node scraped once, by the replica Prometheus' ``hashmod`` picks).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from sync_exporter.config import load_config
from sync_exporter.discovery import BadHostError, target_address
from sync_exporter.server import Settings, create_app
from sync_exporter.simulator.state import FaultMode
from tests.conftest import ServiceStarter
from tests.prometheus_api import query, start_prometheus, wait_for, wait_until
from tests.server.conftest import Harness, fleet_config, healthy, write_config
from tests.server.readme import README_EXPORTER, readme_scrape_configs

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


def _expected(names: list[str], address: str, scheme: str = "http") -> list[dict[str, Any]]:
    return [
        {
            "targets": [address],
            "labels": {
                "__param_target": name,
                "instance": name,
                "__metrics_path__": "/probe",
                "__scheme__": scheme,
            },
        }
        for name in names
    ]


async def test_sd_lists_one_probe_target_group_per_node(harness: Harness) -> None:
    server = harness.client.server
    async with harness.client.get("/sd") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        groups = await response.json()
    assert groups == _expected(list(harness.fleet.nodes), f"{server.host}:{server.port}")
    assert harness.exporter.scraper.last() == {}, "/sd must not contact any node"


@pytest.mark.parametrize(
    "host",
    [
        "sync-exporter.monitoring.svc:9888",
        "sync-exporter",
        "10.0.0.5:9888",
        "[::1]:9888",
        "[fe80::1]",
        "exporter_1.example.com.:443",
    ],
)
async def test_sd_targets_the_host_the_client_used(harness: Harness, host: str) -> None:
    async with harness.client.get("/sd", headers={"Host": host}) as response:
        assert response.status == 200, await response.text()
        groups = await response.json()
    assert {t for g in groups for t in g["targets"]} == {host}


@pytest.mark.parametrize(
    "host",
    [
        "",
        "evil.example/metrics?x=",
        "user:pw@evil.example",
        'a"b',
        "a b",
        "exporter:",
        "exporter:0",
        "exporter:65536",
        "exporter:9888:1",
        "exporter:+80",
        "[::1",
        "[10.0.0.1]:80",
        "[::1]x",
        "-exporter",
        "ex..porter",
        "\u00e9xporter.example",
        "a" * 300,
    ],
)
async def test_sd_refuses_a_host_header_that_is_not_host_and_port(
    harness: Harness, host: str
) -> None:
    async with harness.client.get("/sd", headers={"Host": host}) as response:
        text = await response.text()
        assert response.status == 400, text
    assert text.startswith("cannot build /sd targets: ")
    assert host not in text or not host, "the hostile value is not echoed back"


def test_target_address_refuses_a_missing_host() -> None:
    with pytest.raises(BadHostError, match="no Host header"):
        target_address(None)


async def test_a_node_added_to_the_config_appears_after_reload(harness: Harness) -> None:
    names = list(harness.fleet.nodes)
    write_config(harness.config_file, fleet_config(harness.fleet, names[:2]))
    async with harness.client.post("/-/reload") as response:
        assert response.status == 200
    async with harness.client.get("/sd", headers={"Host": "x:1"}) as response:
        assert await response.json() == _expected(names[:2], "x:1")

    write_config(harness.config_file, fleet_config(harness.fleet, names))
    async with harness.client.post("/-/reload") as response:
        assert response.status == 200
    async with harness.client.get("/sd", headers={"Host": "x:1"}) as response:
        assert await response.json() == _expected(names, "x:1")


# --------------------------------------------------------------------------- real Prometheus


def _fast(job: dict[str, Any]) -> dict[str, Any]:
    return {**job, "scrape_interval": "1s", "scrape_timeout": "1s"}


def _sd_url(job: dict[str, Any], exporter: str) -> list[dict[str, Any]]:
    """The job's http_sd_configs with the documented exporter address replaced."""
    return [
        {**sd, "url": sd["url"].replace(README_EXPORTER, exporter), "refresh_interval": "1s"}
        for sd in job["http_sd_configs"]
    ]


async def test_prometheus_discovers_every_node_through_the_readme_sd_job(
    harness: Harness,
    prometheus_bin: Path,
    tmp_path: Path,
    start_service: ServiceStarter,
    free_port: Callable[[], int],
) -> None:
    up = healthy(harness.fleet)
    await harness.fleet.set_fault(up[0], FaultMode.DOWN)
    names = list(harness.fleet.nodes)
    server = harness.client.server
    exporter = f"{server.host}:{server.port}"
    job = readme_scrape_configs()["btsync-sd"]
    job = {**_fast(job), "http_sd_configs": _sd_url(job, exporter)}

    async with (
        aiohttp.ClientSession() as session,
        start_prometheus(
            start_service, prometheus_bin, tmp_path, free_port(), {"scrape_configs": [job]}
        ) as base,
    ):
        # Every node a target, each scraped (a scrape that missed its 1 s timeout on a
        # busy machine is retried a second later; the test waits for the state).
        every_target = dict.fromkeys(names, "1")
        await wait_until(
            session,
            base,
            'up{job="btsync-sd"}',
            lambda r: {s["metric"]["instance"]: s["value"][1] for s in r} == every_target,
            f"want every node a target that is up: {every_target}",
        )
        # Each target is its own node: instance == node, and the down node is seen as down.
        states = {n: (n, "1" if n in up[1:] else "0") for n in names}
        await wait_until(
            session,
            base,
            'btsync_up{job="btsync-sd"}',
            lambda r: (
                {s["metric"]["instance"]: (s["metric"]["node"], s["value"][1]) for s in r} == states
            ),
            f"want instance: (node, btsync_up) = {states}",
        )


def _sharding_example() -> dict[str, Any]:
    """The ``hashmod`` sharding job of docs/operations.md, as written."""
    text = OPERATIONS.read_text(encoding="utf-8")
    for block in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        data = yaml.safe_load(block)
        if isinstance(data, dict):
            for job in data.get("scrape_configs", []):
                if any(r.get("action") == "hashmod" for r in job.get("relabel_configs", [])):
                    return dict(job)
    raise AssertionError("docs/operations.md must show the hashmod sharding job")


def _prometheus_hashmod(value: str, modulus: int) -> int:
    """Prometheus' hashmod: the low 8 bytes of the MD5, big-endian, modulo ``modulus``."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus  # noqa: S324


async def test_two_replicas_share_the_fleet_with_the_documented_hashmod_job(
    harness: Harness,
    prometheus_bin: Path,
    tmp_path: Path,
    start_service: ServiceStarter,
    free_port: Callable[[], int],
    aiohttp_server: Any,
) -> None:
    names = list(harness.fleet.nodes)
    first = harness.client.server
    second_settings = Settings(
        config=await asyncio.to_thread(load_config, harness.config_file),
        config_file=harness.config_file,
    )
    second = await aiohttp_server(create_app(second_settings))
    replicas = [f"{first.host}:{first.port}", f"{second.host}:{second.port}"]

    job = _sharding_example()
    documented = [sd["url"] for sd in job["http_sd_configs"]]
    assert len(documented) == 2
    (keep,) = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    regex = keep["regex"]
    for url, replica in zip(documented, replicas, strict=True):
        address = url.split("//", 1)[1].split("/", 1)[0]
        regex = regex.replace(address, replica)
        job["http_sd_configs"] = [
            {**sd, "url": sd["url"].replace(address, replica), "refresh_interval": "1s"}
            if sd["url"] == url
            else sd
            for sd in job["http_sd_configs"]
        ]
    job["relabel_configs"] = [
        {**r, "regex": regex} if r is keep else r for r in job["relabel_configs"]
    ]

    async with (
        aiohttp.ClientSession() as session,
        start_prometheus(
            start_service, prometheus_bin, tmp_path, free_port(), {"scrape_configs": [_fast(job)]}
        ) as base,
    ):
        targets = await wait_for(session, base, f'up{{job="{job["job_name"]}"}}', len(names))
        await asyncio.sleep(1.5)  # a duplicate would show up within one more refresh
        again = await query(session, base, f'up{{job="{job["job_name"]}"}}')
        async with session.get(f"{base}/api/v1/targets", params={"state": "active"}) as response:
            active = (await response.json())["data"]["activeTargets"]

    assert len(again) == len(names), again
    assert {s["metric"]["instance"] for s in targets} == set(names), "every node, once"
    assert all(s["value"][1] == "1" for s in targets)
    # Each node is scraped through the replica Prometheus' hashmod picks for its name.
    scrape_urls = {t["labels"]["instance"]: t["scrapeUrl"] for t in active}
    assert scrape_urls == {
        n: f"http://{replicas[_prometheus_hashmod(n, 2)]}/probe?target={n}" for n in names
    }
