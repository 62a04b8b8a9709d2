"""The HTTP contract: status codes, error texts, formats, compression, health and reload."""

from __future__ import annotations

import dataclasses
import gzip
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, CONTENT_TYPE_PLAIN_1_0_0
from prometheus_client.openmetrics import exposition as openmetrics

from sync_exporter.server import EXPORTER, create_app
from tests.server.conftest import (
    Exposition,
    Harness,
    fleet_config,
    healthy,
    parse_openmetrics,
    write_config,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("target=nope", "unknown target 'nope'; configured: "),
        ("target=http://10.0.0.1:8888", "targets are node names from the exporter's config"),
        ("target=10.0.0.1:8888/api", "targets are node names from the exporter's config"),
        ("target=nas.example:8888", "targets are node names from the exporter's config"),
        ("", "want exactly one target parameter naming a node"),
        ("target=", "want exactly one target parameter naming a node"),
        ("target=a&target=b", "want exactly one target parameter naming a node"),
    ],
)
async def test_probe_refuses_anything_but_one_configured_name(
    harness: Harness, query: str, expected: str
) -> None:
    text = await harness.get_text(f"/probe?{query}", status=400)
    assert expected in text
    assert "configured: " + ", ".join(harness.fleet.nodes) in text
    assert harness.exporter.scraper.last() == {}, "a refused probe must not contact any node"


@pytest.mark.parametrize("header", ["soon", "-1", "0", "nan", "inf", ""])
async def test_an_unparsable_scrape_timeout_header_is_a_400(harness: Harness, header: str) -> None:
    for path in ("/metrics", f"/probe?target={healthy(harness.fleet)[0]}"):
        text = await harness.get_text(
            path, headers={"X-Prometheus-Scrape-Timeout-Seconds": header}, status=400
        )
        assert "X-Prometheus-Scrape-Timeout-Seconds" in text


async def test_text_format_by_default_and_openmetrics_when_asked(harness: Harness) -> None:
    async with harness.client.get("/metrics") as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE_PLAIN_0_0_4
        Exposition(await response.text())

    headers = {"Accept": openmetrics.CONTENT_TYPE_LATEST}
    async with harness.client.get("/metrics", headers=headers) as response:
        assert response.content_type == "application/openmetrics-text"
        assert response.headers["Content-Type"].startswith(openmetrics.CONTENT_TYPE_LATEST)
        body = await response.text()
    assert body.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(body)}
    assert families["btsync_peer_download_bytes"].type == "counter"
    assert families["btsync_exporter_api_request_duration_seconds"].type == "histogram"

    # What Prometheus 2.x sends: OpenMetrics first, text as the fallback.
    prometheus_accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    async with harness.client.get("/metrics", headers={"Accept": prometheus_accept}) as response:
        assert response.content_type == "application/openmetrics-text"

    headers = {"Accept": "text/plain;version=1.0.0"}
    async with harness.client.get("/metrics", headers=headers) as response:
        assert response.headers["Content-Type"].startswith(CONTENT_TYPE_PLAIN_1_0_0)


async def test_gzip_when_accept_encoding_allows(harness: Harness) -> None:
    url = harness.client.make_url("/metrics")
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            body = gzip.decompress(await response.read()).decode()
        async with session.get(url, headers={"Accept-Encoding": "identity"}) as response:
            assert "Content-Encoding" not in response.headers
            plain = (await response.read()).decode()
    assert Exposition(body).find("btsync_up")
    assert Exposition(plain).find("btsync_up")


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip;q=0", False),  # an explicit refusal (a substring test sent gzip anyway)
        ("gzip;q=0, deflate", False),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
    ],
)
async def test_gzip_follows_the_accept_encoding_weights(
    harness: Harness, accept_encoding: str, gzipped: bool
) -> None:
    url = harness.client.make_url("/probe?target=" + healthy(harness.fleet)[0])
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(url, headers={"Accept-Encoding": accept_encoding}) as response,
    ):
        body = await response.read()
        assert (response.headers.get("Content-Encoding") == "gzip") is gzipped
    text = gzip.decompress(body).decode() if gzipped else body.decode()
    assert Exposition(text).find("btsync_up")


async def test_samples_carry_no_timestamps(harness: Harness) -> None:
    expo = await harness.metrics()
    assert expo.samples
    assert all(s.timestamp is None for s in expo.samples)


async def test_healthy_and_ready_never_touch_a_node(harness: Harness) -> None:
    assert await harness.get_text("/-/healthy") == "OK\n"
    assert await harness.get_text("/-/ready") == "OK\n"
    assert harness.exporter.scraper.last() == {}


async def test_reload_is_post_only(harness: Harness) -> None:
    async with harness.client.get("/-/reload") as response:
        assert response.status == 405


async def test_reload_swaps_the_config_and_drops_removed_nodes(harness: Harness) -> None:
    names = list(harness.fleet.nodes)
    kept, removed = names[:-1], names[-1]
    before = await harness.metrics()
    assert before.find("btsync_exporter_api_requests_total", node=removed)

    write_config(harness.config_file, fleet_config(harness.fleet, kept))
    async with harness.client.post("/-/reload") as response:
        assert response.status == 200, await response.text()

    after = await harness.metrics()
    assert {s.labels["node"] for s in after.find("btsync_up")} == set(kept)
    assert not [s for s in after.samples if s.labels.get("node") == removed]
    assert after.value("btsync_exporter_config_last_reload_successful") == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("nodes: [\n", "sync-exporter.yml"),
        ("nodes:\n  - name: x\n    url: ftp://x\n    colour: red\n", "nodes[0]"),
    ],
)
async def test_a_bad_reload_keeps_the_old_config(
    harness: Harness, content: str, expected: str
) -> None:
    exporter_clock_before = harness.exporter.reload_success_time
    harness.config_file.write_text(content, encoding="utf-8")
    async with harness.client.post("/-/reload") as response:
        assert response.status == 500
        text = await response.text()
    assert expected in text
    expo = await harness.metrics()
    assert {s.labels["node"] for s in expo.find("btsync_up")} == set(harness.fleet.nodes)
    assert expo.value("btsync_exporter_config_last_reload_successful") == 0
    assert (
        expo.value("btsync_exporter_config_last_reload_success_timestamp_seconds")
        == exporter_clock_before
    )
    page = await harness.get_text("/")
    assert "last reload FAILED" in page


async def test_the_sighup_path_reloads_and_keeps_the_old_config_on_error(
    harness: Harness,
) -> None:
    """SIGHUP calls Exporter.reload, exactly as POST /-/reload does (the CLI test sends one)."""
    names = list(harness.fleet.nodes)
    harness.config_file.write_text("nodes: 42\n", encoding="utf-8")
    error = await harness.exporter.reload()
    assert error is not None
    assert "nodes" in error
    assert [n.name for n in harness.exporter.config.nodes] == names

    write_config(harness.config_file, fleet_config(harness.fleet, names[:1]))
    assert await harness.exporter.reload() is None
    expo = await harness.metrics()
    assert {s.labels["node"] for s in expo.find("btsync_up")} == {names[0]}
    assert expo.value("btsync_exporter_config_last_reload_successful") == 1


async def _peers_off(harness: Harness) -> str:
    """Reload with ``peers: false`` on a healthy node that has peers; return its name."""
    name = next(
        n
        for n in healthy(harness.fleet)
        if any(f.peers for f in harness.fleet.nodes[n].state.folders.values())
    )
    data = fleet_config(harness.fleet, node_options={name: {"peers": False}})
    write_config(harness.config_file, data)
    assert await harness.exporter.reload() is None
    return name


async def test_peers_false_keeps_the_counts_and_drops_per_peer_series(harness: Harness) -> None:
    name = await _peers_off(harness)
    expo = await harness.metrics()
    assert not expo.find("btsync_peer_info", node=name)
    assert not expo.find("btsync_peer_download_bytes_total", node=name)
    counted = sum(s.value for s in expo.find("btsync_folder_peers", node=name))
    peers = sum(len(f.peers) for f in harness.fleet.nodes[name].state.folders.values())
    assert counted == peers > 0
    others = [n for n in healthy(harness.fleet) if n != name]
    assert any(expo.find("btsync_peer_info", node=n) for n in others)


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("", None),  # the fast renderer
        ("", "application/openmetrics-text; version=1.0.0; escaping=dots"),  # prometheus_client
        ("&debug=true", None),  # the debug report's metrics
    ],
)
async def test_peers_false_holds_on_probe_whichever_renderer_answers(
    harness: Harness, query: str, accept: str | None
) -> None:
    name = await _peers_off(harness)
    headers = {"Accept": accept} if accept else None
    text = await harness.get_text(f"/probe?target={name}{query}", headers)
    names = text.replace("__", "_")  # the dots escaping doubles underscores
    assert "btsync_folder_peers{" in names
    assert "btsync_peer_" not in names


async def test_no_metrics_nodes_leaves_the_nodes_to_probe(
    aiohttp_client: Any, harness: Harness
) -> None:
    settings = dataclasses.replace(harness.exporter.settings, metrics_nodes=False)
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(settings))
    own = Exposition(await (await client.get("/metrics")).text())
    assert own.find("btsync_up") == []
    assert own.find("btsync_folder_size_bytes") == []
    assert own.value("btsync_exporter_config_last_reload_successful") == 1
    assert client.app is not None
    assert client.app[EXPORTER].scraper.last() == {}, "/metrics must not contact any node"
    assert own.find("btsync_exporter_api_requests_total", outcome="success") != []  # at zero

    name = next(iter(harness.fleet.nodes))
    probe = Exposition(await (await client.get(f"/probe?target={name}")).text())
    assert [s.value for s in probe.find("btsync_up")] == [1.0]
    after = Exposition(await (await client.get("/metrics")).text())
    requests = after.find("btsync_exporter_api_requests_total", node=name, outcome="success")
    assert sum(s.value for s in requests) > 0  # the probe's requests are counted on /metrics


async def test_a_reload_lets_auto_choose_each_nodes_api_again(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def chosen() -> list[str]:
        return [r.__dict__["node"] for r in caplog.records if r.getMessage() == "node API chosen"]

    caplog.set_level(logging.INFO, logger="sync_exporter")
    answering = set(healthy(harness.fleet))
    await harness.metrics()
    await harness.metrics()
    assert sorted(chosen()) == sorted(answering)  # once per node, not once per scrape
    async with harness.client.post("/-/reload") as response:
        assert response.status == 200, await response.text()
    caplog.clear()
    await harness.metrics()
    assert sorted(chosen()) == sorted(answering)
