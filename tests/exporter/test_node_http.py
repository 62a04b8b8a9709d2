"""The node transport (NodeHTTP) against a raw HTTP/1.1 server on loopback.

The simulator answers as a well-behaved aiohttp server; this server writes whatever bytes
each test needs, on connections it keeps open or closes as the test says, and counts the
connections it accepted. The API clients' tests (test_client.py, test_gui_scrape.py, the
fault matrix) run over the same transport against the simulator and hostile nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_exporter import node_http
from sync_exporter.client import ResponseBudget
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.errors import SyncError, SyncProtocolError, SyncTransportError
from sync_exporter.node_http import MAX_HEAD_BYTES, NodeHTTP

#: Answers one request on an open connection; returns False to close the connection.
Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]


def ok(body: bytes, *extra: str) -> bytes:
    """A keep-alive 200 answer with a Content-Length."""
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def answer_ok(request: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(ok(b'{"echo": "%s"}' % request.split(b" ")[1]))
    return True


@dataclass
class RawServer:
    """A loopback server: every request on a connection goes to ``handler``."""

    handler: Handler = answer_ok
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[bytes] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(request)
                keep = await self.handler(request, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    await raw.start()
    yield raw
    await raw.stop()


@pytest.fixture
async def transport_for() -> AsyncIterator[Callable[..., NodeHTTP]]:
    made: list[NodeHTTP] = []

    def build(url: str, **changes: object) -> NodeHTTP:
        fields: dict[str, object] = {
            "name": "raw",
            "url": url,
            "username": "u",
            "password": LiteralPassword("p"),
            "timeout": 5.0,
            "max_concurrency": 2,
        }
        fields.update(changes)
        http = NodeHTTP(NodeConfig(**fields))  # type: ignore[arg-type]
        made.append(http)
        return http

    yield build
    for http in made:
        await http.close()


async def get(http: NodeHTTP, query: dict[str, str] | None = None, limit: int = 1 << 20) -> bytes:
    with ResponseBudget(limit).lease() as lease:
        answer = await http.get("/api", query or {"method": "get_speed"}, (), lease)
    assert answer.status == 200
    return answer.body


async def test_requests_reuse_one_keep_alive_connection(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    http = transport_for(server.url)
    for n in range(5):
        assert await get(http, {"method": "get_folder_peers", "secret": f"S{n}"}) == (
            b'{"echo": "/api?method=get_folder_peers&secret=S%d"}' % n
        )
    assert server.connections == 1


async def test_the_request_carries_host_port_and_the_headers_given(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    http = transport_for(server.url + "/prefix/")
    with ResponseBudget(1 << 20).lease() as lease:
        await http.get("/api", {"method": "x", "secret": "a b&c"}, (("Authorization", "B"),), lease)
    head = server.requests[0].decode()
    port = server.url.rsplit(":", 1)[1]
    assert head.startswith("GET /prefix/api?method=x&secret=a+b%26c HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}\r\n" in head
    assert "\r\nAuthorization: B\r\n" in head
    assert "\r\nAccept-Encoding: identity\r\n" in head


async def test_a_header_with_a_line_break_is_never_sent(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    http = transport_for(server.url)
    with ResponseBudget(1 << 20).lease() as lease, pytest.raises(ValueError, match="line break"):
        await http.get("/api", {}, (("Cookie", "a\r\nX-Injected: 1"),), lease)
    assert server.requests == []


async def test_a_connection_the_node_closed_while_idle_is_replaced(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def once(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(b"[]"))  # keep-alive promised, then closed: as an idle timeout does
        return False

    server.handler = once
    http = transport_for(server.url)
    assert await get(http) == b"[]"
    await asyncio.sleep(0.05)
    assert await get(http) == b"[]"
    assert server.connections == 2


async def test_a_reused_connection_closed_without_an_answer_is_retried_once(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    answered = 0

    async def first_only(request: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal answered
        answered += 1
        if answered == 2:
            return False  # the race: the node closes just as the next request arrives
        writer.write(ok(b"[]"))
        return True

    server.handler = first_only
    http = transport_for(server.url)
    assert await get(http) == b"[]"
    assert await get(http) == b"[]"
    assert server.connections == 2


async def test_a_fresh_connection_closed_without_an_answer_is_an_error(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def silent(request: bytes, writer: asyncio.StreamWriter) -> bool:
        return False

    server.handler = silent
    with pytest.raises(SyncTransportError, match="closed the connection without answering"):
        await get(transport_for(server.url))
    assert server.connections == 1  # a fresh connection is not retried


async def test_idle_connections_older_than_the_keepalive_are_not_reused(
    server: RawServer, transport_for: Callable[..., NodeHTTP], monkeypatch: pytest.MonkeyPatch
) -> None:
    http = transport_for(server.url)
    await get(http)
    monkeypatch.setattr(node_http, "KEEPALIVE", 0.0)
    await get(http)
    assert server.connections == 2


async def test_a_body_delimited_by_closing_the_connection_is_read_whole(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def http10(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/javascript\r\n\r\n")
        writer.write(b'{"download": 1, ')
        await writer.drain()
        writer.write(b'"upload": 2}')
        return False

    server.handler = http10
    assert await get(transport_for(server.url)) == b'{"download": 1, "upload": 2}'


async def test_a_chunked_body_is_read_whole(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"[1,", b"2,", b"3]"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    server.handler = chunked
    http = transport_for(server.url)
    assert await get(http) == b"[1,2,3]"
    assert await get(http) == b"[1,2,3]"
    assert server.connections == 1


async def test_a_truncated_body_is_an_invalid_response(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def short(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[1,2")
        return False

    server.handler = short
    with pytest.raises(SyncProtocolError, match="truncated response body"):
        await get(transport_for(server.url))


async def test_interim_answers_are_skipped(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def continued(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[7]"))
        return True

    server.handler = continued
    assert await get(transport_for(server.url)) == b"[7]"


@pytest.mark.parametrize(
    "garbage",
    [b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n", b"\x00\xff" * 100],
    ids=["not-http", "bad-status", "binary"],
)
async def test_an_answer_that_is_not_http_is_malformed(
    server: RawServer, transport_for: Callable[..., NodeHTTP], garbage: bytes
) -> None:
    async def noise(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(garbage)
        return False

    server.handler = noise
    with pytest.raises(SyncProtocolError, match="malformed HTTP response"):
        await get(transport_for(server.url))


async def test_endless_headers_stop_at_the_head_limit(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def endless(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        with contextlib.suppress(ConnectionError):
            for n in range(100_000):
                writer.write(b"X-Filler-%d: %s\r\n" % (n, b"x" * 100))
                await writer.drain()
        return False

    server.handler = endless
    with pytest.raises(SyncProtocolError, match=f"headers larger than {MAX_HEAD_BYTES} bytes"):
        await get(transport_for(server.url))


async def test_a_declared_length_beyond_the_budget_is_refused_before_the_body(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def huge(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        await asyncio.sleep(10)  # never sends the body: the refusal must not wait for it
        return False

    server.handler = huge
    with pytest.raises(SyncProtocolError, match="larger than 1000 bytes"):
        await asyncio.wait_for(get(transport_for(server.url), limit=1000), 2)


async def test_a_refusal_answers_with_its_status_without_reading_its_body(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def refuse_endlessly(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                await writer.drain()
        return False

    server.handler = refuse_endlessly
    http = transport_for(server.url)
    with ResponseBudget(1 << 20).lease() as lease:
        answer = await asyncio.wait_for(http.get("/api", {}, (), lease), 2)
    assert (answer.status, answer.body) == (503, b"")


async def test_set_cookie_headers_are_read(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def token(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(b"<div id='token'>T</div>", "Set-Cookie: GUID=abc123; path=/"))
        return True

    server.handler = token
    with ResponseBudget(1 << 20).lease() as lease:
        answer = await transport_for(server.url).get("/gui/token.html", {}, (), lease)
    assert answer.cookies == (("GUID", "abc123"),)


async def test_a_cancelled_request_does_not_leave_its_answer_for_the_next(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def slow_first(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"slow" in request:
            await asyncio.sleep(0.3)
            writer.write(ok(b'"slow"'))
        else:
            writer.write(ok(b'"fast"'))
        return True

    server.handler = slow_first
    http = transport_for(server.url, max_concurrency=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(get(http, {"method": "slow"}), 0.1)
    assert await get(http, {"method": "fast"}) == b'"fast"'
    await asyncio.sleep(0.4)
    assert await get(http, {"method": "fast"}) == b'"fast"'


async def test_open_connections_stay_within_max_concurrency_plus_four(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def slow(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(ok(b"[]"))
        return True

    server.handler = slow
    http = transport_for(server.url, max_concurrency=2)
    await asyncio.gather(*(get(http) for _ in range(30)))
    assert server.most_open == 2 + node_http.EXTRA_CONNECTIONS


async def test_the_whole_request_is_bounded_by_the_node_timeout(
    server: RawServer, transport_for: Callable[..., NodeHTTP]
) -> None:
    async def drip(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)
        return False

    server.handler = drip
    http = transport_for(server.url, timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await get(http)
    assert loop.time() - started < 1.0


# -- any bytes at all ---------------------------------------------------------------

_HEADS = [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 200 OK\r\n",
    b"HTTP/1.1 500 Oops\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200\r\n",
    b"",
]
_HEADER_LINES = st.sampled_from(
    [
        b"Content-Length: 5\r\n",
        b"Content-Length: 0\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Content-Encoding: gzip\r\n",
        b"Content-Encoding: br\r\n",
        b"Connection: close\r\n",
        b"Connection: upgrade\r\nUpgrade: websocket\r\n",
        b"Set-Cookie: GUID=a; path=/\r\n",
        b"Set-Cookie: \x00\xff;;=\r\n",
        b"X-Odd: \x7f\x80\r\n",
        b"no colon\r\n",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.sampled_from(_HEADS),
    lines=st.lists(_HEADER_LINES, max_size=4),
    blank=st.booleans(),
    body=st.binary(max_size=64),
    cut=st.integers(min_value=1, max_value=40),
)
def test_any_answer_is_an_answer_or_a_sync_error(
    head: bytes, lines: list[bytes], blank: bool, body: bytes, cut: int
) -> None:
    """Whatever bytes a node sends, in whatever pieces, the transport ends in an Answer or
    a SyncError (a timeout at worst): no other exception, no hang, no stray task."""
    raw = head + b"".join(lines) + (b"\r\n" if blank else b"") + body

    async def scenario() -> None:
        async def reply(request: bytes, writer: asyncio.StreamWriter) -> bool:
            for start in range(0, len(raw), cut):
                writer.write(raw[start : start + cut])
                await writer.drain()
            return False

        server = RawServer(reply)
        await server.start()
        http = NodeHTTP(
            NodeConfig(
                name="raw", url=server.url, username="u", password=LiteralPassword("p"), timeout=0.5
            )
        )
        try:
            with ResponseBudget(1 << 16).lease() as lease:
                answer = await http.get("/api", {"method": "get_speed"}, (), lease)
            assert isinstance(answer.status, int)
        except (SyncError, TimeoutError):
            pass
        finally:
            await http.close()
            await server.stop()

    asyncio.run(scenario())
