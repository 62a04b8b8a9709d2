"""Bodies no simulator scenario sends but a node or a proxy in front of one can: JSON escapes
of lone UTF-16 surrogates, and nesting deeper than the JSON decoder's recursion limit.

A tiny aiohttp server on loopback answers each API method with a fixed body, so the client
reads real HTTP; the simulator cannot produce these (it encodes its answers as UTF-8).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from sync_exporter.client import SyncClient
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.errors import SyncProtocolError
from sync_exporter.metrics import render
from sync_exporter.scrape import Scraper
from tests.exporter.conftest import LOGIN, PASSWORD

ClientFor = Callable[[NodeConfig], SyncClient]

ServeBodies = Callable[[Mapping[str, bytes]], Awaitable[str]]

SECRET = "AQWERTYUIOPASDFGHJKLZXCVBNM234567"

#: get_folders with a folder path and a peer name that hold an unpaired surrogate escape
#: (one lone high, one lone low), next to a paired one (an emoji) that must survive.
LONE_SURROGATES: dict[str, bytes] = {
    "get_speed": b'{"download": 1, "upload": 2}',
    "get_version": b'{"version": "2.7.3"}',
    "get_os": b'{"os": "win32"}',
    "get_folders": (
        b'[{"dir": "D:\\\\Fotos \\ud800 \\ud83d\\ude00", "secret": "' + SECRET.encode() + b'",'
        b' "type": "read_write", "size": 5, "files": 1, "error": 0, "indexing": 0}]'
    ),
    "get_folder_peers": (
        b'[{"id": "PEER1", "name": "caf\\uDC00", "connection": "direct",'
        b' "synced": 0, "download": 0, "upload": 0}]'
    ),
    "get_secrets": b'{"read_only": "BREADONLYSECRETREADONLYSECRET12"}',
    "get_folder_prefs": b'{"selective_sync": 0}',
}


@pytest.fixture
async def serve_bodies() -> Any:
    """Start loopback servers that answer ``/api?method=M`` with ``bodies[M]``."""
    servers: list[TestServer] = []

    async def start(bodies: Mapping[str, bytes]) -> str:
        async def api(request: web.Request) -> web.Response:
            body = bodies.get(request.query.get("method", ""))
            if body is None:
                return web.Response(status=400)
            return web.Response(body=body, content_type="text/javascript")

        app = web.Application()
        app.router.add_get("/api", api)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


def _encodable(text: str) -> None:
    text.encode("utf-8")  # raises UnicodeEncodeError for a lone surrogate


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


async def test_lone_surrogate_escapes_become_replacement_characters(
    serve_bodies: ServeBodies, client_for: ClientFor
) -> None:
    url = await serve_bodies(LONE_SURROGATES)
    client = client_for(_config(url))
    (folder,) = await client.get_folders()
    _encodable(folder.dir)
    assert folder.dir == "D:\\Fotos \ufffd \U0001f600"
    (peer,) = await client.get_folder_peers(SECRET)
    _encodable(peer.name)
    assert peer.name == "caf\ufffd"


async def test_a_lone_surrogate_does_not_break_the_exposition_of_every_node(
    serve_bodies: ServeBodies,
) -> None:
    # Before the fix, the surrogate reached a label and encoding the whole /metrics body
    # (every node's series) raised UnicodeEncodeError: a 500 for all nodes.
    url = await serve_bodies(LONE_SURROGATES)
    node = _config(url)
    scraper = Scraper()
    try:
        (snapshot,) = await scraper.scrape([node], timeout=5)
    finally:
        await scraper.close()
    assert snapshot.up, snapshot.error
    body = generate_latest(_Families(render([snapshot], {node.name: node.peers}))).decode()
    assert 'folder="D:\\\\Fotos \ufffd \U0001f600"' in body
    assert 'name="caf\ufffd"' in body


async def test_json_nested_too_deeply_is_an_invalid_response_not_an_exporter_bug(
    serve_bodies: ServeBodies, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    url = await serve_bodies({**LONE_SURROGATES, "get_speed": b"[" * 100_000})
    client = client_for(_config(url))
    with pytest.raises(SyncProtocolError, match="nested too deeply"):
        await client.get_speed()

    scraper = Scraper()
    try:
        (snapshot,) = await scraper.scrape([_config(url)], timeout=5)
    finally:
        await scraper.close()
    assert not snapshot.up
    assert snapshot.error == "response body is nested too deeply"
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "not an exporter bug"


def _config(url: str) -> NodeConfig:
    return NodeConfig(
        name="odd", url=url, username=LOGIN, password=LiteralPassword(PASSWORD), timeout=5.0
    )
