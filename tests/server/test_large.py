"""A scrape big enough to be rendered and encoded off the event loop tells the same truth."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sync_exporter.server import EXECUTOR_SAMPLES
from sync_exporter.simulator.fleet import Fleet
from tests.server.conftest import Exposition, Harness

NODES, FOLDERS, PEERS = 3, 25, 10


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """A healthy synthetic fleet whose exposition is over the worker-thread threshold."""
    async with Fleet.synthetic(nodes=NODES, folders=FOLDERS, peers=PEERS, seed=1) as fleet:
        yield fleet


async def test_a_large_scrape_has_every_series_and_value(harness: Harness) -> None:
    expo = await harness.metrics()
    peer_series = expo.find("btsync_peer_download_bytes_total")
    assert len(peer_series) == NODES * FOLDERS * PEERS
    assert len(expo.samples) > EXECUTOR_SAMPLES, "the test must exercise the thread path"
    for name, node in harness.fleet.nodes.items():
        for folder in node.state.folders.values():
            key = {"node": name, "folder": folder.dir}
            assert expo.value("btsync_folder_size_bytes", **key) == folder.size
            for peer_id, peer in folder.peers.items():
                value = expo.value("btsync_peer_upload_bytes_total", peer_id=peer_id, **key)
                assert value == peer.upload


async def test_a_large_scrape_gzips_the_same_body(harness: Harness) -> None:
    url = harness.client.make_url("/metrics")
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(url, headers={"Accept-Encoding": "gzip"}) as response,
    ):
        assert response.headers["Content-Encoding"] == "gzip"
        zipped = await response.read()
    text = gzip.decompress(zipped).decode()
    assert len(zipped) * 5 < len(text)
    assert len(Exposition(text).find("btsync_peer_info")) == NODES * FOLDERS * PEERS
