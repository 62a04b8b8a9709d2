"""/metrics and /probe over real HTTP, on a fleet large enough to be streamed.

What Prometheus parses must be what prometheus_client would have written for the same
snapshots (text and OpenMetrics, gzip'd or not), and scrapes that share one fetch share
one rendering.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import aiohttp
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from sync_exporter.config import FrozenMapping
from sync_exporter.exposition import Rendered
from sync_exporter.metrics import render
from sync_exporter.model import NodeSnapshot
from sync_exporter.server import STREAM_BYTES
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.webconfig import WebConfig
from tests.server.conftest import NONDETERMINISTIC_PREFIXES, Harness, parse_openmetrics

NODES, FOLDERS, PEERS = 4, 60, 10


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """A healthy synthetic fleet whose text exposition is over STREAM_BYTES."""
    async with Fleet.synthetic(nodes=NODES, folders=FOLDERS, peers=PEERS, seed=7) as fleet:
        yield fleet


class _Collector:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


Samples = set[tuple[str, tuple[tuple[str, str], ...], float]]


def _samples(families: Iterable[Metric]) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in families
        for s in family.samples
        if not s.name.startswith(NONDETERMINISTIC_PREFIXES)
    }


async def _get(harness: Harness, path: str, accept: str | None, zipped: bool) -> bytes:
    headers = {"Accept-Encoding": "gzip" if zipped else "identity"}
    if accept:
        headers["Accept"] = accept
    url = harness.client.make_url(path)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(url, headers=headers) as response,
    ):
        assert response.status == 200
        assert (response.headers.get("Content-Encoding") == "gzip") is zipped
        body = await response.read()
        assert len(body) == int(response.headers["Content-Length"])
    return gzip.decompress(body) if zipped else body


@pytest.mark.parametrize("zipped", [False, True])
@pytest.mark.parametrize("accept", [None, openmetrics.CONTENT_TYPE_LATEST])
async def test_a_large_streamed_exposition_parses_like_prometheus_clients(
    harness: Harness, accept: str | None, zipped: bool
) -> None:
    body = (await _get(harness, "/metrics", accept, zipped)).decode()
    snapshots = list(harness.exporter.scraper.last().values())
    families = render(snapshots, harness.exporter.config.peers())
    if accept:
        expected: bytes = openmetrics.generate_latest(_Collector(families))  # type: ignore[no-untyped-call]
        actual = _samples(parse_openmetrics(body))
        reference = _samples(parse_openmetrics(expected.decode()))
        assert body.endswith("# EOF\n")
        assert body.count("# EOF") == 1
    else:
        expected = generate_latest(_Collector(families))
        actual = _samples(text_string_to_metric_families(body))
        reference = _samples(text_string_to_metric_families(expected.decode()))
    assert len(body) > STREAM_BYTES, "the test must exercise the streamed path"
    assert len(reference) > NODES * FOLDERS * PEERS * 4
    assert actual == reference
    assert "btsync_exporter_api_requests_total" in body  # self-metrics follow the node part


async def test_the_dots_escaping_is_still_served_by_prometheus_client(harness: Harness) -> None:
    accept = "application/openmetrics-text; version=1.0.0; escaping=dots"
    node = next(iter(harness.fleet.nodes))
    body = (await _get(harness, f"/probe?target={node}", accept, False)).decode()
    assert "btsync__up" in body  # dots escaping doubles underscores in names


async def test_scrapes_sharing_a_fetch_share_one_rendering(harness: Harness) -> None:
    calls = 0
    series = harness.exporter.renderer._series
    original = series.render

    def counting(
        snapshots: Sequence[NodeSnapshot], peers_enabled: Callable[[str], bool]
    ) -> Rendered:
        nonlocal calls
        calls += 1
        return original(snapshots, peers_enabled)

    series.render = counting  # type: ignore[method-assign]
    bodies = await asyncio.gather(
        *(_get(harness, "/metrics", accept, False) for accept in [None, None, None, "text/plain"])
    )
    assert calls == 1
    node_parts = {b.split(b"# HELP btsync_exporter_")[0] for b in bodies}
    assert len(node_parts) == 1


async def test_a_streamed_body_carries_the_web_configs_headers(harness: Harness) -> None:
    """The web config's headers are added after the handler: a large body must allow it."""
    harness.exporter.web_config = WebConfig(headers=FrozenMapping({"X-Frame-Options": "deny"}))
    async with harness.client.get("/metrics", headers={"Accept-Encoding": "identity"}) as response:
        body = await response.read()
        assert response.headers["X-Frame-Options"] == "deny"
        assert len(body) == int(response.headers["Content-Length"]) > STREAM_BYTES
