"""The client's bounds one by one, against the raw hostile node in this process.

The fault matrix (test_hostile.py) shows the exporter survives; these pin down each
mechanism: what a compressing proxy gets (a legitimate gzip body still works), which
codings are refused, that the budget is per node rather than per request, what is
redacted from an echoed message, and that a parse bug is never counted as a timeout.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from sync_exporter.client import ResponseBudget, SyncClient, _redacted, credential_texts, json_items
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.errors import SyncAPIError, SyncProtocolError
from sync_exporter.model import Outcome

from .conftest import LOGIN, PASSWORD, RecordingObserver
from .hostile import HostileNode, Reply, Request, as_json, chunked, fixed, gzip_bomb

ClientFor = Callable[[NodeConfig], SyncClient]
MIB = 1 << 20


@pytest.fixture
async def hostile() -> AsyncIterator[HostileNode]:
    node = HostileNode(hostile=True)
    await node.start()
    yield node
    await node.stop()


def _config(url: str, **changes: Any) -> NodeConfig:
    fields: dict[str, Any] = {
        "name": "hostile",
        "url": url,
        "username": LOGIN,
        "password": LiteralPassword(PASSWORD),
        "timeout": 5.0,
    }
    fields.update(changes)
    return NodeConfig(**fields)


SPEED = b'{"download": 5, "upload": 6}'


@pytest.mark.parametrize(
    ("coding", "packed"),
    [
        ("gzip", gzip.compress(SPEED)),
        ("x-gzip", gzip.compress(SPEED)),
        ("deflate", zlib.compress(SPEED)),
        ("identity", SPEED),
    ],
)
async def test_a_proxy_that_compresses_anyway_still_works(
    hostile: HostileNode, client_for: ClientFor, coding: str, packed: bytes
) -> None:
    hostile.replies["get_speed"] = fixed(packed, headers=[("Content-Encoding", coding)])
    speed = await client_for(_config(hostile.url)).get_speed()
    assert (speed.download, speed.upload) == (5, 6)
    assert hostile.requests[-1].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, br", "compress"])
async def test_codings_we_cannot_bound_are_refused(
    hostile: HostileNode, client_for: ClientFor, coding: str
) -> None:
    hostile.replies["get_speed"] = fixed(SPEED, headers=[("Content-Encoding", coding)])
    with pytest.raises(SyncProtocolError, match="unsupported Content-Encoding"):
        await client_for(_config(hostile.url)).get_speed()


async def test_a_gzip_bomb_stops_at_the_budget(hostile: HostileNode, client_for: ClientFor) -> None:
    bomb = gzip_bomb(64 * MIB)
    hostile.replies["get_speed"] = fixed(bomb, headers=[("Content-Encoding", "gzip")])
    node = _config(hostile.url, max_response_bytes=MIB)
    with pytest.raises(SyncProtocolError, match=f"larger than {MIB} bytes"):
        await client_for(node).get_speed()


async def test_corrupt_gzip_is_an_invalid_response(
    hostile: HostileNode, client_for: ClientFor
) -> None:
    hostile.replies["get_speed"] = fixed(
        b"\x1f\x8bnot gzip", headers=[("Content-Encoding", "gzip")]
    )
    with pytest.raises(SyncProtocolError, match="not valid gzip"):
        await client_for(_config(hostile.url)).get_speed()


def _streamed(size: int) -> Reply:
    def pieces() -> Iterator[bytes]:
        yield b"["
        for _ in range(size // (64 * 1024)):
            yield b" " * (64 * 1024)
        yield b"]"

    return chunked(pieces)


async def test_the_budget_is_per_node_not_per_request(
    hostile: HostileNode, client_for: ClientFor
) -> None:
    # Four answers of 600 KiB each fit a 1 MiB limit one at a time, not all at once.
    hostile.replies["get_folder_peers"] = _streamed(600 * 1024)
    client = client_for(_config(hostile.url, max_response_bytes=MIB, max_concurrency=4))
    results = await asyncio.gather(
        *(client.get_folder_peers(f"S{i}" * 10) for i in range(4)), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, SyncProtocolError)]
    assert failed, results
    assert all("in flight exceed" in str(r) for r in failed)
    assert any(r == () for r in results), "some answers fit the budget"
    # Sequentially, each fits: the budget is given back when a request ends.
    for i in range(3):
        assert await client.get_folder_peers(f"T{i}" * 10) == ()


async def test_too_many_json_values_are_refused_before_decoding(
    hostile: HostileNode, client_for: ClientFor, observer: RecordingObserver
) -> None:
    hostile.replies["get_folders"] = fixed(b"[" + b"{}," * 5000 + b"{}]")
    with pytest.raises(SyncProtocolError, match="more than 1000 JSON values"):
        await client_for(_config(hostile.url, max_response_items=1000)).get_folders()
    assert observer.count(method="get_folders", outcome=Outcome.INVALID_RESPONSE) == 1


def test_json_items_is_an_upper_bound() -> None:
    assert json_items(b"[]") == 2
    assert json_items(b'[{"a": 1, "b": [2, 3]}, "x,y"]') >= 7


async def test_echoed_credentials_are_redacted(hostile: HostileNode, client_for: ClientFor) -> None:
    async def echo(request: Request, writer: asyncio.StreamWriter) -> None:
        header = request.headers["authorization"]
        message = (
            f"bad request; headers: Authorization: {header}; user {LOGIN}:{PASSWORD} "
            f"password={PASSWORD} token=abc123def"
        )
        await as_json({"error": 9, "message": message})(request, writer)

    hostile.replies["get_speed"] = echo
    with pytest.raises(SyncAPIError) as caught:
        await client_for(_config(hostile.url)).get_speed()
    text = str(caught.value)
    token = hostile.requests[-1].headers["authorization"].split()[-1]
    assert token not in text
    assert PASSWORD not in text
    assert "abc123def" not in text
    assert "Authorization: <secret>" in text


@pytest.mark.parametrize(
    "message",
    [
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "proxy-authorization=Digest username=x",
        'got "Authorization": "Basic YWRtaW46aHVudGVyMg=="',
        "header Basic YWRtaW46aHVudGVyMg== refused",
        "cookie: GUID=0123456789abcdef",
        "api_key=0123456789",
    ],
)
def test_credential_shaped_text_is_redacted(message: str) -> None:
    redacted = _redacted(message, {})
    assert "<secret>" in redacted
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "YWRtaW46aHVudGVyMg", "0123456789"):
        assert secret not in redacted


def test_credential_texts_cover_token_pair_and_password() -> None:
    texts = credential_texts("Basic " + "YXBpOnB3LVhxNy1uZXZlci1zaG93bg==")
    assert texts == ("YXBpOnB3LVhxNy1uZXZlci1zaG93bg==", f"{LOGIN}:{PASSWORD}", PASSWORD)
    assert credential_texts("Basic !!!") == ("!!!",)


async def test_a_parse_bug_is_counted_as_invalid_response_not_timeout(
    hostile: HostileNode, client_for: ClientFor, observer: RecordingObserver
) -> None:
    client = client_for(_config(hostile.url))

    def buggy(raw: object) -> object:
        raise KeyError("a bug in a parser")

    with pytest.raises(KeyError):
        await client._request("get_speed", {}, buggy)
    assert observer.count(method="get_speed", outcome=Outcome.INVALID_RESPONSE) == 1
    assert observer.count(outcome=Outcome.TIMEOUT) == 0


def test_budget_accounting_returns_to_zero() -> None:
    budget = ResponseBudget(100)
    with budget.lease() as first, budget.lease() as second:
        first.take(60)
        with pytest.raises(SyncProtocolError, match="in flight"):
            second.take(50)
        second.take(40)
        first.give_back(10)
        assert budget.held == 90
    assert budget.held == 0
