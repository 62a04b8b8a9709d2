"""Every panel against a real Prometheus that scrapes the demo fleet through the exporter.

The simulated demo fleet runs in real time, the exporter serves it on loopback, and
Debian's Prometheus scrapes it every second with the project's alert rules loaded (so
the ALERTS series exist). The test then does what Grafana does: it resolves the
dashboards' variables through Prometheus' label API, fills them in (All, one folder chosen by a path
full of regex and string metacharacters, one node), sends each panel's query as a range
query (graphs) or an instant query (tables), and requires data back, with every label
its legend prints on every series and every table column on some row.

The demo mixes API v1 nodes with nodes read through the web GUI API. A panel built on
series only GUI nodes have must show data when the selection includes one (All, or a GUI
node chosen), and may be empty for a selection of v1 nodes only, as in Grafana. The fleet
starts 31 simulated minutes into the demo, so that a peer has left and a GUI node lists it
offline with its last-seen time.

It polls until every query answers or 60 s pass, so it takes as long as the slowest
rate() needs to have two points: under 10 s here.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from sync_exporter.config import load_config
from sync_exporter.server import Settings, create_app
from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.fleet import Fleet
from tests.conftest import GUI_ONLY, ServiceStarter
from tests.dashboards.inspect import PanelQuery, grafana_regex, substitute
from tests.prometheus_api import start_prometheus

ALERT_RULES = Path(__file__).resolve().parents[2] / "alerts" / "btsync.rules.yml"
JOB = "btsync"  # the README's job name, which the alert rules select
SCRAPE_INTERVAL = 1.0
#: What Grafana computes for $__rate_interval at a 1 s scrape interval, with margin.
RATE_INTERVAL = "10s"
#: How far back the graph queries look, and their resolution.
GRAPH_RANGE = 30.0
GRAPH_STEP = "2s"
DEADLINE = 60.0


def gui_only(query: PanelQuery) -> bool:
    """Whether ``query`` reads a series that only GUI nodes have."""
    return any(f"{metric}{{" in query.expr for metric in GUI_ONLY)


#: How far into the demo the fleet starts: build-server leaves "documents" at 30 min.
HEAD_START = 31 * 60.0


@dataclass(frozen=True)
class Case:
    """One panel query with one choice of variable values."""

    query: PanelQuery
    selection: str  # a readable name for the variable values
    promql: str


@asynccontextmanager
async def running_prometheus(
    start_service: ServiceStarter,
    free_port: Callable[[], int],
    binary: Path,
    exporter: str,
    tmp: Path,
) -> AsyncIterator[str]:
    """Run Prometheus scraping ``exporter`` every second; yield its base URL once ready."""
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL:g}s",
            "scrape_timeout": f"{SCRAPE_INTERVAL:g}s",
            "evaluation_interval": f"{SCRAPE_INTERVAL:g}s",
        },
        "rule_files": [str(ALERT_RULES)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [exporter]}]}],
    }
    async with start_prometheus(start_service, binary, tmp, free_port(), config) as base:
        yield base


class PrometheusAPI:
    """The few HTTP API calls Grafana's Prometheus datasource makes."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def _get(self, path: str, params: Mapping[str, str]) -> Any:
        async with self.session.get(f"{self.base}{path}", params=dict(params)) as response:
            body = await response.json()
            assert response.status == 200, body
            return body["data"]

    async def resolve(self, definition: str, values: Mapping[str, str]) -> list[str]:
        """Return a ``label_values(match, label)`` variable's options, as Grafana asks for them."""
        found = re.fullmatch(r"label_values\((.*), *(\w+)\)", definition)
        assert found, definition
        match = substitute(found.group(1), values, RATE_INTERVAL)
        options: list[str] = await self._get(
            f"/api/v1/label/{found.group(2)}/values", {"match[]": match}
        )
        return options

    async def instant(self, promql: str) -> list[dict[str, Any]]:
        """An instant query at now (table panels)."""
        data = await self._get("/api/v1/query", {"query": promql})
        result: list[dict[str, Any]] = data["result"]
        return result

    async def range(self, promql: str) -> list[dict[str, Any]]:
        """A range query over the last GRAPH_RANGE seconds (graph panels)."""
        end = time.time()
        params = {
            "query": promql,
            "start": f"{end - GRAPH_RANGE:.3f}",
            "end": f"{end:.3f}",
            "step": GRAPH_STEP,
        }
        data = await self._get("/api/v1/query_range", params)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def wait_ready(self) -> None:
        """Wait until Prometheus answers and has scraped the exporter once."""
        for _ in range(200):
            try:
                if await self.instant(f'btsync_up{{job="{JOB}"}}'):
                    return
            except (aiohttp.ClientError, AssertionError):
                pass
            await asyncio.sleep(0.1)  # a real process starting and scraping in real time
        raise AssertionError("Prometheus did not scrape the exporter within 20 s")


async def problem(api: PrometheusAPI, case: Case) -> str | None:
    """Return what is wrong with the panel's data for this case, or None."""
    query = case.query
    series = await (api.instant(case.promql) if query.instant else api.range(case.promql))
    if not series:
        return "no series"
    for label in query.legend_labels:
        lacking = [s["metric"] for s in series if label not in s["metric"]]
        if lacking:
            return f"legend label {label!r} missing on {lacking[0]}"
    for column in query.columns if query.ref == "A" else ():
        if not any(column in s["metric"] for s in series):
            return f"table column {column!r} on no row"
    return None


def variable_queries(dashboards: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Return each query variable's definition; every dashboard must define them alike."""
    found: dict[str, str] = {}
    for dashboard in dashboards.values():
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                assert found.setdefault(variable["name"], variable["query"]) == variable["query"]
    return found


def demo_config(fleet: Fleet, path: Path) -> Path:
    """Write an exporter config naming every node of ``fleet``."""
    nodes = []
    for name, node in fleet.nodes.items():
        login, password = fleet.credentials(name)
        nodes.append(
            {
                "name": name,
                "url": node.url,
                "username": login,
                "password": password,
                "timeout": "2s",
            }
        )
    path.write_text(yaml.safe_dump({"nodes": nodes}, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
async def demo_fleet() -> AsyncIterator[Fleet]:
    """The demo fleet on loopback, HEAD_START into its story, following the wall clock."""
    fleet = Fleet.from_scenario("demo", seed=0, clock=ManualClock(time.time() - HEAD_START))
    fleet.advance(HEAD_START)
    await fleet.start(realtime=True)
    try:
        yield fleet
    finally:
        await fleet.stop()


async def test_every_panel_shows_data_from_the_demo_fleet(
    demo_fleet: Fleet,
    aiohttp_client: Any,
    prometheus_bin: Path,
    queries: list[PanelQuery],
    committed: dict[str, dict[str, Any]],
    tmp_path: Path,
    start_service: ServiceStarter,
    free_port: Callable[[], int],
) -> None:
    config_file = demo_config(demo_fleet, tmp_path / "sync-exporter.yml")
    settings = Settings(
        config=await asyncio.to_thread(load_config, config_file), config_file=config_file
    )
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(settings))
    exporter = f"{client.server.host}:{client.server.port}"

    async with (
        aiohttp.ClientSession() as session,
        running_prometheus(start_service, free_port, prometheus_bin, exporter, tmp_path) as base,
    ):
        api = PrometheusAPI(session, base)
        await api.wait_ready()

        # The variables, resolved from the dashboards' own definitions as Grafana does.
        variables = variable_queries(committed)
        jobs = await api.resolve(variables["job"], {})
        assert JOB in jobs
        job = {"job": grafana_regex([JOB])}
        nodes = await api.resolve(variables["node"], job)
        assert sorted(nodes) == sorted(demo_fleet.nodes)
        folders = await api.resolve(variables["folder"], {**job, "node": ".+"})
        assert len(folders) >= 5
        # The hardest folder to select: the longest path with a backslash, if any.
        folder = max(folders, key=lambda f: ("\\" in f, len(f), f))
        holders = await api.instant(f'btsync_peer_info{{job="{JOB}"}}')
        busiest = max(nodes, key=lambda n: (sum(s["metric"]["node"] == n for s in holders), n))

        gui_info = await api.instant(f'btsync_node_info{{job="{JOB}", api="gui"}}')
        gui_nodes = sorted({s["metric"]["node"] for s in gui_info})
        assert gui_nodes, "the demo has no node read through the GUI API"
        # the GUI node with the most peers listed offline (its last-seen panels need one)
        known = await api.instant(f'btsync_peer_online{{job="{JOB}"}}')

        def offline_then_known(node: str) -> tuple[int, int, str]:
            mine = [s for s in known if s["metric"]["node"] == node]
            return (sum(s["value"][1] == "0" for s in mine), len(mine), node)

        gui_busiest = max(gui_nodes, key=offline_then_known)

        all_values = {**job, "node": ".+", "folder": ".+"}
        selections: dict[str, dict[str, str]] = {
            "All": all_values,
            f"folder={folder}": {**all_values, "folder": grafana_regex([folder])},
            f"node={busiest}": {**all_values, "node": grafana_regex([busiest])},
            f"node={gui_busiest}": {**all_values, "node": grafana_regex([gui_busiest])},
        }
        with_gui = {"All", f"node={gui_busiest}"}
        cases = [
            Case(q, name, substitute(q.expr, values, RATE_INTERVAL))
            for q in queries
            for name, values in selections.items()
            # GUI-only panels where a GUI node is selected; the others where v1 nodes are
            if (name in with_gui if gui_only(q) else name != f"node={gui_busiest}")
        ]
        assert any(gui_only(c.query) for c in cases)

        pending = {i: "not run" for i in range(len(cases))}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while pending and loop.time() < deadline:
            for i in list(pending):
                found = await problem(api, cases[i])
                if found is None:
                    del pending[i]
                else:
                    pending[i] = found
            if pending:
                await asyncio.sleep(SCRAPE_INTERVAL)  # wait for Prometheus' next scrape

        # Choosing a folder by one node's path shows it on every node holding it.
        sizes = next(
            c
            for c in cases
            if c.query.panel == "Size on each node" and c.selection.startswith("folder=")
        )
        size_series = await api.range(sizes.promql)

    failures = [f"{cases[i].query.id} [{cases[i].selection}]: {why}" for i, why in pending.items()]
    assert not failures, "\n".join(failures)
    assert len({s["metric"]["node"] for s in size_series}) >= 2, size_series
