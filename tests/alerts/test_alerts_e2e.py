"""End to end: simulated fleets -> exporter -> real Prometheus -> real Alertmanager -> webhook.

Two fleets run side by side for the same wall-clock time, each behind its own exporter
and scrape job: one built with exactly one of each fault, and the bundled ``healthy``
scenario. Prometheus loads the bundled rules with every duration divided by 720 (the
demo-only copy ``write_demo_rules`` writes), evaluates them every second and sends to an
Alertmanager whose only receiver is a webhook served by this test. The faulty fleet's
alerts must arrive with the right labels; the healthy fleet must produce none.

The faulty fleet mixes API v1 nodes with two Resilio Sync 3.x nodes without an API key,
which the exporter reads through the web GUI API (``api: auto``): studio holds the
stalled folder with a queue that never shrinks (the exact branch of BTSyncFolderStalled),
cabin a paused folder on a volume filling fast (BTSyncFolderPaused, BTSyncDiskSpaceLow).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from sync_exporter.alerting import parse_tunables, write_demo_rules
from sync_exporter.config import load_config
from sync_exporter.server import Settings, create_app
from sync_exporter.simulator.fleet import Fleet
from tests.conftest import ServiceStarter

#: Real durations divided by 720: 5m -> 0.4s, 2h -> 10s; nothing below the floor, so every
#: rate and changes() window still spans three scrapes, and a scrape that times out on a
#: loaded machine cannot raise an alert on its own.
SCALE = 1 / 720
FLOOR_MS = 6_000
#: Scrape interval and timeout: the exporter answers within the timeout minus 0.5 s.
SCRAPE = "2s"
#: BTSyncExporterDown's absent() is true until Prometheus' first scrape; its real 5m
#: covers that, but 5m / 720 races the first scrape on a loaded machine. It stays at
#: 4h / 720 = 20 s here, longer than this test runs (promtool tests cover it).
_TUNABLES = parse_tunables("alerts: {BTSyncExporterDown: {for: 4h}}")
#: Give up waiting for the faulty fleet's alerts after this long (they need about 20 s).
DEADLINE = 60.0

#: One of each fault, and nothing else that could alert (same versions, full copies).
FAULTY_SCENARIO = """
name: alerts-e2e
rate: 4MiB
nodes:
  - {name: nas, device_name: nas}
  - {name: office, device_name: office}
  - {name: laptop, device_name: laptop}
  - {name: pi, device_name: pi, down: true}
  - {name: studio, device_name: studio, version: 1.4.111, api_key: false, disk_free: 2TiB}
  # 4 GiB free, 64 MiB/s taken by something else: empty after 64 s, and the trend says so
  # within BTSyncDiskSpaceLow's scaled horizon (24h / 720 = 120 s) from the first scrapes
  - name: cabin
    device_name: cabin
    version: 1.4.111
    api_key: false
    disk_free: 4GiB
    disk_fill: 64MiB
folders:
  - name: backup
    dir: /srv/Backup
    size: 1GiB
    files: 1000
    nodes:
      nas: read_write
      office: {mode: read_only, dir: /Volumes/Backup, error: 101}
  - name: music
    dir: /srv/Music
    size: 2GiB
    files: 500
    nodes:
      nas: read_write
      laptop: {mode: read_only, dir: 'D:\\Music', indexing: stuck}
  - name: projects
    dir: /srv/Projects
    size: 512MiB
    files: 2000
    stalled: true
    nodes:
      office: {mode: read_write, dir: /Users/office/Projects}
      nas: {mode: read_only, size: 40%}
      studio: {mode: read_only, dir: /volume1/Projects, size: 30%}
  - name: photos
    dir: /srv/Photos
    size: 256MiB
    files: 100
    nodes:
      nas: read_write
      cabin: {mode: read_only, dir: 'E:\\Photos', paused: true}
  - name: scratch
    dir: /srv/Scratch
    size: 1MiB
    files: 3
    nodes:
      nas: read_write
"""

#: (alertname, node, folder) the faulty fleet must raise.
EXPECTED = {
    ("BTSyncNodeDown", "pi", None),
    ("BTSyncFolderError", "office", "/Volumes/Backup"),
    ("BTSyncFolderIndexingStuck", "laptop", "D:\\Music"),
    ("BTSyncFolderNoPeers", "nas", "/srv/Scratch"),
    ("BTSyncFolderStalled", "nas", "/srv/Projects"),
    ("BTSyncFolderStalled", "office", "/Users/office/Projects"),
    ("BTSyncFolderStalled", "studio", "/volume1/Projects"),
    ("BTSyncFolderPaused", "cabin", "E:\\Photos"),
    ("BTSyncDiskSpaceLow", "cabin", "E:\\Photos"),
}
#: May also arrive: the stalled read-only copy is behind, and OutOfSync's scaled `for`
#: (6h / 720 = 30 s) can run out before the test ends.
ALLOWED = EXPECTED | {
    ("BTSyncFolderOutOfSync", "nas", "/srv/Projects"),
    ("BTSyncFolderOutOfSync", "studio", "/volume1/Projects"),
}


class Webhook:
    """Alertmanager's receiver: records every alert it is sent."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.alerts.extend(body["alerts"])
        return web.Response(text="ok")

    def received(self, job: str) -> set[tuple[str, str, str | None]]:
        """Return (alertname, node, folder) of the firing alerts from ``job``."""
        return {
            (a["labels"]["alertname"], a["labels"].get("node", ""), a["labels"].get("folder"))
            for a in self.alerts
            if a["labels"].get("job") == job and a["status"] == "firing"
        }


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yield ``host:port``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _realtime_fleet(stack: AsyncExitStack, fleet: Fleet) -> Fleet:
    """Start ``fleet`` following the wall clock (Prometheus runs in real time too)."""
    await fleet.start(realtime=True)
    stack.push_async_callback(fleet.stop)
    return fleet


@asynccontextmanager
async def _exporter(fleet: Fleet, config_file: Path) -> AsyncIterator[str]:
    """Start an exporter for every node of ``fleet``; yield its address."""
    nodes = []
    for name, node in fleet.nodes.items():
        login, password = fleet.credentials(name)
        nodes.append(
            {"name": name, "url": node.url, "username": login, "password": password}
            | {"timeout": "2s"}
        )
    text = yaml.safe_dump({"nodes": nodes})
    await asyncio.to_thread(config_file.write_text, text, encoding="utf-8")
    config = await asyncio.to_thread(load_config, config_file)
    async with _serve(create_app(Settings(config=config, config_file=config_file))) as address:
        yield address


def _rule_counters(exposition: str) -> dict[str, float]:
    """Sum Prometheus' own rule evaluation counters from its /metrics text."""
    totals = dict.fromkeys(
        ("prometheus_rule_evaluations_total", "prometheus_rule_evaluation_failures_total"), 0.0
    )
    for line in exposition.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def _job(name: str, target: str) -> dict[str, Any]:
    return {"job_name": name, "static_configs": [{"targets": [target]}]}


async def _query(session: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_faults_reach_the_webhook_with_their_labels_and_a_healthy_fleet_pages_nobody(
    prometheus_bin: Path,
    alertmanager_bin: Path,
    tmp_path: Path,
    start_service: ServiceStarter,
    free_port: Callable[[], int],
) -> None:
    scenario = tmp_path / "faulty.yaml"
    scenario.write_text(FAULTY_SCENARIO, encoding="utf-8")
    rules = write_demo_rules(tmp_path / "rules.yml", _TUNABLES, scale=SCALE, floor_ms=FLOOR_MS)
    hook = Webhook()
    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook.handle)
    am_port, prom_port = free_port(), free_port()

    async with AsyncExitStack() as stack:
        # Different seeds: different folder secrets, so the fleets share no folder_id.
        faulty = await _realtime_fleet(stack, Fleet.from_scenario(scenario, seed=1))
        healthy = await _realtime_fleet(stack, Fleet.from_scenario("healthy", seed=2))
        hook_address = await stack.enter_async_context(_serve(hook_app))
        faulty_exporter = await stack.enter_async_context(
            _exporter(faulty, tmp_path / "faulty-exporter.yml")
        )
        healthy_exporter = await stack.enter_async_context(
            _exporter(healthy, tmp_path / "healthy-exporter.yml")
        )
        am_config = tmp_path / "alertmanager.yml"
        am_config.write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "hook",
                        "group_by": ["..."],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "hook",
                            "webhook_configs": [
                                {"url": f"http://{hook_address}/hook", "send_resolved": False}
                            ],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": SCRAPE,
                        "scrape_timeout": SCRAPE,
                        "evaluation_interval": "1s",
                    },
                    "rule_files": [str(rules)],
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}
                        ]
                    },
                    "scrape_configs": [
                        _job("btsync-faulty", faulty_exporter),
                        _job("btsync-healthy", healthy_exporter),
                    ],
                }
            ),
            encoding="utf-8",
        )
        await stack.enter_async_context(
            start_service(
                str(alertmanager_bin),
                f"--config.file={am_config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
                ready_url=f"http://127.0.0.1:{am_port}/-/ready",
            )
        )
        prom = f"http://127.0.0.1:{prom_port}"
        await stack.enter_async_context(
            start_service(
                str(prometheus_bin),
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
                ready_url=f"{prom}/-/ready",
            )
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())

        started = time.monotonic()
        while not hook.received("btsync-faulty") >= EXPECTED:
            if time.monotonic() - started > DEADLINE:
                break
            await asyncio.sleep(0.5)  # real Prometheus and Alertmanager, in real time
        elapsed = time.monotonic() - started

        healthy_up = await _query(session, prom, 'btsync_up{job="btsync-healthy"} == 1')
        healthy_copies = await _query(
            session, prom, 'count(btsync_folder_info{job="btsync-healthy"})'
        )
        healthy_firing = await _query(
            session, prom, 'ALERTS{job="btsync-healthy", alertstate="firing"}'
        )
        async with session.get(f"{prom}/metrics") as response:
            evaluations = _rule_counters(await response.text())

    # Every rule evaluated without an error (a many-to-many join on real data would fail
    # silently: the alert could then never fire).
    assert evaluations["prometheus_rule_evaluations_total"] > 0
    assert evaluations["prometheus_rule_evaluation_failures_total"] == 0

    # The healthy fleet ran as long, was scraped and evaluated, and raised nothing.
    assert len(healthy_up) == len(healthy.nodes)
    assert healthy_copies
    assert hook.received("btsync-healthy") == set()
    assert healthy_firing == [], [a["metric"] for a in healthy_firing]

    received = hook.received("btsync-faulty")
    assert received >= EXPECTED, f"missing after {elapsed:.0f}s: {EXPECTED - received}"
    assert received <= ALLOWED, f"unexpected alerts: {received - ALLOWED}"
    for alert in hook.alerts:
        labels = alert["labels"]
        assert labels["demo_only"] == "true", labels
        assert labels["instance"] == faulty_exporter, labels
        severity = "critical" if labels["alertname"] == "BTSyncNodeDown" else "warning"
        assert labels["severity"] == severity, labels
        if labels["alertname"] == "BTSyncFolderStalled":
            assert labels["type"] in ("read_write", "read_only"), labels
            assert labels["folder_id"], labels
    # One stalled alert per copy: studio's from its own queue, the v1 nodes' from sizes.
    stalled = {
        a["labels"]["node"]: a["annotations"]["description"]
        for a in hook.alerts
        if a["labels"]["alertname"] == "BTSyncFolderStalled"
    }
    assert "queued for transfer (the node's own count)" in stalled["studio"]
    assert "data pending (its copies differ" in stalled["nas"]
    firing_stalled = [a for a in hook.alerts if a["labels"]["alertname"] == "BTSyncFolderStalled"]
    assert len({(a["labels"]["node"], a["labels"]["folder"]) for a in firing_stalled}) == 3
    # The disk alert came from the trend, while more than min_free (1GiB) was left.
    disk = next(a for a in hook.alerts if a["labels"]["alertname"] == "BTSyncDiskSpaceLow")
    free = re.search(r"has ([\d.]+)GiB free, and at the rate", disk["annotations"]["description"])
    assert free is not None, disk["annotations"]["description"]
    assert float(free[1]) > 1, disk["annotations"]["description"]
    error = next(a for a in hook.alerts if a["labels"]["alertname"] == "BTSyncFolderError")
    assert "error code 101" in error["annotations"]["description"]
    assert "no permission to write" in error["annotations"]["description"]
