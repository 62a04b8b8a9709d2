"""Fixtures for the exporter's HTTP tests: a simulated fleet on loopback, the exporter in front.

Everything talks real HTTP: the fleet's nodes listen on port 0 of 127.0.0.1, the config
file is written and loaded exactly as a user's would be, and the exporter app runs under
``aiohttp_client``. Helpers that tests import live here too (``from
tests.server.conftest import ...``), because the suite runs in importlib mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as _om_families
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from sync_exporter.config import load_config
from sync_exporter.server import EXPORTER, Exporter, Settings, create_app
from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.fleet import Fleet

#: The bundled scenario the tests run against (several nodes, shared folders, faults).
SCENARIO = "demo"
#: Per-node timeout in the test config: short, so a hanging node cannot stall a test.
NODE_TIMEOUT = "3s"
#: Series that differ from run to run; left out of golden files.
NONDETERMINISTIC_PREFIXES = ("btsync_exporter_", "process_", "btsync_scrape_duration_seconds")


class Exposition:
    """A parsed text exposition, to look samples up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[Sample] = [
            s for family in text_string_to_metric_families(text) for s in family.samples
        ]

    def find(self, name: str, /, **labels: str) -> list[Sample]:
        """Return the samples of ``name`` whose labels include ``labels``."""
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, /, **labels: str) -> float | None:
        """Return the one sample of ``name`` with exactly these labels, or None."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, f"duplicate series {name}{labels}"
        return found[0] if found else None

    def names(self) -> set[str]:
        """Return every sample name present."""
        return {s.name for s in self.samples}

    def label_values(self, name: str, label: str, /, **labels: str) -> set[str]:
        """Return the values ``label`` takes among the samples of ``name`` matching ``labels``."""
        return {s.labels[label] for s in self.find(name, **labels)}


def parse_openmetrics(text: str) -> list[Metric]:
    """Parse with prometheus_client's strict OpenMetrics parser (untyped upstream)."""
    families: list[Metric] = list(_om_families(text))  # type: ignore[no-untyped-call]
    return families


def fleet_config(
    fleet: Fleet,
    names: Iterable[str] | None = None,
    *,
    node_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return an exporter config (as YAML-ready data) for ``names`` (default: every node)."""
    nodes = []
    for name in names if names is not None else fleet.nodes:
        login, password = fleet.credentials(name)
        node: dict[str, Any] = {
            "name": name,
            "url": fleet.nodes[name].url,
            "username": login,
            "password": password,
            "timeout": NODE_TIMEOUT,
        }
        node.update((node_options or {}).get(name, {}))
        nodes.append(node)
    return {"nodes": nodes}


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as YAML to ``path`` and return it."""
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def healthy(fleet: Fleet) -> list[str]:
    """Return the names of the nodes whose HTTP API works (no fault), sorted."""
    from sync_exporter.simulator.state import FaultMode

    return sorted(n for n, node in fleet.nodes.items() if node.state.faults.mode is FaultMode.NONE)


@dataclass
class Harness:
    """The exporter under test, its fleet and its config file."""

    client: TestClient[web.Request, web.Application]
    fleet: Fleet
    config_file: Path

    @property
    def exporter(self) -> Exporter:
        """The running exporter's state object."""
        app = self.client.app
        assert app is not None
        return app[EXPORTER]

    async def get_text(
        self, path: str, headers: Mapping[str, str] | None = None, status: int = 200
    ) -> str:
        """GET ``path``, check the status, return the body."""
        async with self.client.get(path, headers=dict(headers or {})) as response:
            text = await response.text()
            assert response.status == status, text
            return text

    async def metrics(
        self, path: str = "/metrics", headers: Mapping[str, str] | None = None
    ) -> Exposition:
        """Scrape ``path`` (text format) and parse it."""
        return Exposition(await self.get_text(path, headers))


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """The demo scenario's fleet, seed 0, on a manual clock (time moves only when told)."""
    async with Fleet.from_scenario(SCENARIO, seed=0) as fleet:
        yield fleet


@pytest.fixture
def config_file(tmp_path: Path, fleet: Fleet) -> Path:
    """An exporter config naming every node of the fleet."""
    return write_config(tmp_path / "sync-exporter.yml", fleet_config(fleet))


@pytest.fixture
def exporter_clock() -> ManualClock:
    """The exporter's clock (snapshot stamps, landing page, reload time): fixed."""
    return ManualClock()


@pytest.fixture
async def harness(
    aiohttp_client: Any, fleet: Fleet, config_file: Path, exporter_clock: ManualClock
) -> Harness:
    """The exporter app over real HTTP, configured for the whole fleet."""
    settings = Settings(
        config=await asyncio.to_thread(load_config, config_file),
        config_file=config_file,
        clock=exporter_clock.now,
    )
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(settings))
    return Harness(client=client, fleet=fleet, config_file=config_file)
