"""Hostile Sync nodes for the fault matrix: a raw asyncio HTTP/1.1 server, no framework.

The simulator answers like a real node; a hostile node (or a broken proxy in front of
one) does not: it lies about sizes, compresses without being asked, streams forever or
echoes the request's credentials. :class:`HostileNode` parses just enough of a request to
know the API method, then hands the socket to a :data:`Reply` that writes whatever bytes
the case needs. It starts polite (plausible answers for every method), so the exporter can
be measured on a clean scrape first; ``hostile = True`` switches the case's replies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

#: Writes one whole HTTP response (status line, headers, body) to the socket; it gets
#: the request too, for replies that echo it.
Reply = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]

SECRET = "AHOSTILENODEHOSTILENODEHOSTILE234"  # a well-formed read-write secret


@dataclass(frozen=True, slots=True)
class Request:
    """What the hostile node learned from one request."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased


def head(status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """An HTTP/1.1 status line and headers; every response closes its connection."""
    lines = [f"HTTP/1.1 {status} X", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def fixed(body: bytes, *, headers: Iterable[tuple[str, str]] = (), status: int = 200) -> Reply:
    """A body sent whole, with a Content-Length."""

    async def reply(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, [*headers, ("Content-Length", str(len(body)))]) + body)
        await writer.drain()

    return reply


def chunked(
    pieces: Callable[[], Iterable[bytes]], *, headers: Iterable[tuple[str, str]] = ()
) -> Reply:
    """A body streamed with chunked transfer coding, piece by piece, until the reader quits."""

    async def reply(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [*headers, ("Transfer-Encoding", "chunked")]))
        for piece in pieces():
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return reply


def as_json(value: object) -> Reply:
    """A well-formed JSON answer, as a node sends it."""
    return fixed(json.dumps(value).encode(), headers=[("Content-Type", "text/javascript")])


def huge_int(digits: int = 400) -> int:
    """An integer with ``digits`` digits: far above what a float64 can hold past 309."""
    return int("9" * digits)


def raw_json(text: str) -> Reply:
    """A JSON body written by hand (for integers json.dumps would refuse to write)."""
    return fixed(text.encode(), headers=[("Content-Type", "text/javascript")])


def gzip_bomb(inflated: int) -> bytes:
    """``[`` + ``inflated`` spaces + ``]`` gzip'd: valid JSON (an empty list) once inflated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b"[")]
    block = b" " * (1 << 20)
    for _ in range(inflated >> 20):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b"]"))
    parts.append(packer.flush())
    return b"".join(parts)


def polite_answers() -> dict[str, Reply]:
    """Plausible answers to every method the exporter calls: one folder with one peer."""
    return {
        "get_speed": as_json({"download": 10, "upload": 20}),
        "get_version": as_json({"version": "2.7.3"}),
        "get_os": as_json({"os": "linux"}),
        "get_folders": as_json(
            [
                {
                    "dir": "/data/hostile",
                    "secret": SECRET,
                    "type": "read_write",
                    "size": 100,
                    "files": 2,
                    "error": 0,
                    "indexing": 0,
                }
            ]
        ),
        "get_folder_peers": as_json(
            [
                {
                    "id": "PEERHOSTILE",
                    "name": "peer",
                    "connection": "direct",
                    "synced": 1767225000,
                    "download": 1,
                    "upload": 2,
                }
            ]
        ),
        "get_secrets": as_json({"read_only": "BHOSTILEREADONLYHOSTILEREADONLY2"}),
        "get_folder_prefs": as_json({"selective_sync": 0}),
    }


@dataclass
class HostileNode:
    """A loopback HTTP server whose answers the test chooses per API method.

    ``replies`` override the polite answers once ``hostile`` is set.
    """

    replies: dict[str, Reply] = field(default_factory=dict)
    hostile: bool = False
    requests: list[Request] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The node's base URL."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening and drop every connection still open."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            request = _parse(raw)
            self.requests.append(request)
            reply = self.replies.get(request.method) if self.hostile else None
            if reply is None:
                reply = polite_answers().get(request.method, fixed(b"{}"))
            await reply(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the exporter gave up reading: exactly what a bounded client does
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self._handlers.discard(task)


def _parse(raw: bytes) -> Request:
    lines = raw.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    query = dict(parse_qsl(urlsplit(target).query))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Request(query.get("method", ""), query, headers)
