"""Keep-alive HTTP/1.1 GET requests to one Sync node, parsed by llhttp (``httptools``).

Both API clients ask a node one thing over and over: ``GET`` a path and query, with
basic auth, and read a JSON body of bounded size. aiohttp's ``ClientSession`` did this at
110 to 160 µs of CPU per request on a 2-core machine, most of it in request and response
objects, tracing hooks, cookie and redirect handling and the connection pool's
bookkeeping that these requests never use (docs/benchmarks.md, "How the two ratio
targets were met").
This module does only what they need, at about half that:

- one :class:`asyncio.Protocol` per connection, fed to llhttp (the parser Node.js and
  aiohttp use) through ``httptools``, so the HTTP grammar, chunked coding and
  keep-alive rules are a maintained C parser's, not ours;
- the node's response budget charged as the bytes arrive: a declared length beyond it
  is refused before any body byte is read, a chunked or close-delimited body as soon as
  it passes it, and response headers are capped too;
- a pool of idle connections per node, at most ``max_concurrency + 4`` open at once,
  each reused while the node keeps it open and for at most :data:`KEEPALIVE` seconds
  idle (a firewall that silently drops idle connections must not cost a scrape);
- one whole-request deadline (connect, send and read) of the node's ``timeout``.

Every failure is a :class:`~sync_exporter.errors.SyncError` with a fixed message: no
URL, header or body text of a request or answer reaches one.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Protocol, cast
from urllib.parse import urlencode, urlsplit

import httptools

from sync_exporter import __version__
from sync_exporter.config import NodeConfig, TLSConfig
from sync_exporter.errors import SyncProtocolError, SyncTransportError, clip

#: Seconds an idle connection is kept for reuse (aiohttp's default keep-alive, too).
KEEPALIVE = 15.0

#: Most bytes of status line and headers accepted before the body (aiohttp allowed
#: 8 KiB a line); a node's real headers are a few hundred bytes.
MAX_HEAD_BYTES = 64 * 1024

#: Connections per node beyond ``max_concurrency``: get_speed, get_folders,
#: get_version and get_os run side by side before the per-folder fan-out.
EXTRA_CONNECTIONS = 4

#: Content codings the clients inflate themselves (bounded); the nodes never send one,
#: proxies might. Any other coding is refused when the headers arrive.
INFLATABLE = frozenset({"gzip", "x-gzip", "deflate"})

USER_AGENT = f"sync-exporter/{__version__}"


class Budget(Protocol):
    """Where the bytes of an answer are charged (the client's per-node lease)."""

    def take(self, size: int) -> None:
        """Account for ``size`` more bytes held, or raise SyncProtocolError."""
        ...


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: its status, its whole body (still content-coded) and what the
    clients read of its headers."""

    status: int
    body: bytes
    coding: str = ""  # Content-Encoding, lower-cased; "" for none or identity
    cookies: tuple[tuple[str, str], ...] = ()  # (name, value) of each Set-Cookie


def _ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """The TLS context for https nodes: custom CA, client certificate, or no checks."""
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        key = str(tls.key_file) if tls.key_file is not None else None
        context.load_cert_chain(str(tls.cert_file), key)
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class NodeHTTP:
    """The connections to one node, and the one thing done over them: :meth:`get`.

    Raises SyncTransportError at construction when the node's TLS files cannot be
    loaded. Create and use it from one event loop; close it with :meth:`close`.
    """

    def __init__(self, node: NodeConfig) -> None:
        parts = urlsplit(node.url)
        self._host = parts.hostname or ""
        secure = parts.scheme == "https"
        self._port = parts.port or (443 if secure else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout = node.timeout
        self._ssl: ssl.SSLContext | None = None
        if secure:
            try:
                self._ssl = _ssl_context(node.tls)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise SyncTransportError("cannot load the TLS files for this node") from exc
        host = f"[{self._host}]" if ":" in self._host else self._host
        default_port = 443 if secure else 80
        authority = host if self._port == default_port else f"{host}:{self._port}"
        self._head = (
            f"Host: {authority}\r\nUser-Agent: {USER_AGENT}\r\nAccept-Encoding: identity\r\n"
        ).encode("ascii", "strict")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max(node.max_concurrency, 1) + EXTRA_CONNECTIONS)
        self._closed = False

    async def get(
        self,
        path: str,
        query: dict[str, str],
        headers: Iterable[tuple[str, str]],
        budget: Budget,
    ) -> Answer:
        """``GET {node url}{path}?{query}`` with ``headers``; the answer, whatever its status.

        The body is charged to ``budget`` as it arrives. Raises SyncTransportError (no
        answer: connect, TLS, reset, closed, timeout) or SyncProtocolError (an answer
        that is not HTTP, too large, truncated, or in a coding that cannot be bounded).
        """
        request = self._request(path, query, headers)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        if self._slots.locked():  # rare: more requests than connections; wait in time
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        try:
            connection = self._reusable()
            if connection is not None:
                try:
                    return await connection.exchange(request, budget, deadline)
                except _Stale:
                    pass  # closed by the node while idle: once more, on a new connection
            async with asyncio.timeout_at(deadline):
                connection = await self._connect()
            try:
                return await connection.exchange(request, budget, deadline)
            except _Stale:
                raise SyncTransportError(
                    "the node closed the connection without answering"
                ) from None
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _request(
        self, path: str, query: dict[str, str], headers: Iterable[tuple[str, str]]
    ) -> bytes:
        lines = [f"{name}: {value}\r\n" for name, value in headers]
        for line in lines:
            if line.count("\r") != 1 or line.count("\n") != 1:
                raise ValueError("a request header holds a line break")
        target = f"{self._prefix}{path}?{_encoded(query)}" if query else self._prefix + path
        return b"".join(
            (
                f"GET {target} HTTP/1.1\r\n".encode("ascii"),
                self._head,
                "".join(lines).encode("latin-1"),
                b"\r\n",
            )
        )

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection still open and fresh, if any."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.open and now - connection.idle_since < KEEPALIVE:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self),
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None,
            )
        except ssl.SSLCertVerificationError as exc:
            raise SyncTransportError("TLS certificate verification failed") from exc
        except ssl.SSLError as exc:
            raise SyncTransportError("TLS handshake failed") from exc
        except socket.gaierror as exc:
            raise SyncTransportError("cannot resolve the node's host name") from exc
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                raise
            # os.strerror, not exc.strerror: asyncio puts the address into the latter.
            reason = os.strerror(exc.errno).lower() if exc.errno else "connection failed"
            raise SyncTransportError(f"cannot connect: {reason}") from exc
        return connection

    def release(self, connection: _Connection) -> None:
        """Take back a connection whose answer was read whole and that may be reused."""
        if self._closed:
            connection.close()
        else:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)


class _Stale(Exception):
    """A reused connection was closed before any byte of an answer came back."""


class _Connection(asyncio.Protocol):
    """One connection to the node, one request at a time, its answers parsed by llhttp.

    Mutable by nature (it is the state of a socket); the parser calls the ``on_*``
    methods from inside :meth:`data_received`.
    """

    def __init__(self, pool: NodeHTTP) -> None:
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._budget: Budget | None = None
        self._used = False  # has answered a request before: may have gone stale
        self._received = 0  # bytes of the current answer so far
        self._head_done = False
        self._keep = True  # may be reused after this answer
        self._refused: SyncProtocolError | None = None  # why a callback stopped the parser
        self._chunks: list[bytes] = []
        self._declared: int | None = None  # Content-Length
        self._delimited = False  # by Content-Length or chunked coding, not by closing
        self._coding = ""
        self._cookies: list[tuple[str, str]] = []
        self.open = False
        self.idle_since = 0.0

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # what create_connection made
        self.open = True

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: this connection cannot be trusted
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:  # HttpParserUpgrade included: never asked for
            self._fail(self._refused or SyncProtocolError("malformed HTTP response"))
            return
        if not self._head_done and self._received > MAX_HEAD_BYTES:  # still in the head
            self._fail(SyncProtocolError(f"response headers larger than {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        return False  # close the transport: a half-closed node answers nothing more

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head_done and not self._delimited:
            # A body delimited by the node closing the connection: complete.
            self._settle(Answer(200, b"".join(self._chunks), self._coding, tuple(self._cookies)))
        elif self._head_done:
            waiter.set_exception(SyncProtocolError("truncated response body"))
        elif self._received == 0 and self._used:
            waiter.set_exception(_Stale())
        elif self._received == 0:
            waiter.set_exception(
                SyncTransportError("the node closed the connection without answering")
            )
        else:
            waiter.set_exception(SyncProtocolError("malformed HTTP response"))

    # -- llhttp callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key == b"content-length":
            self._declared = int(value)  # llhttp has checked it is a number
        elif key == b"transfer-encoding":
            self._delimited = b"chunked" in value.lower()
        elif key == b"content-encoding":
            self._coding = value.decode("latin-1").strip().lower()
        elif key == b"set-cookie":
            self._cookies.extend(_cookies(value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # 100 Continue and the like: the answer follows
        self._head_done = True
        if status != 200:
            # Only the status is read: the body of a refusal is not needed, and the
            # connection is not kept (its body may be large, or never end).
            self._keep = False
            self._settle(Answer(status, b""))
            return
        coding = "" if self._coding == "identity" else self._coding
        if coding and coding not in INFLATABLE:
            self._refuse(SyncProtocolError(f"unsupported Content-Encoding {clip(coding, 40)!r}"))
        self._coding = coding
        if self._declared is not None:
            self._delimited = True
            self._take(self._declared)  # refused before a byte of the body is read

    def on_body(self, body: bytes) -> None:
        if not self._keep:
            return  # a refusal's body: not read
        if self._declared is None:
            self._take(len(body))
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            self._reset()  # the interim answer is over; wait for the real one
            return
        # Asked now: once this callback returns, llhttp resets for the next message.
        self._keep = self._keep and self._parser.should_keep_alive()
        self._settle(
            Answer(
                self._parser.get_status_code(),
                b"".join(self._chunks),
                self._coding,
                tuple(self._cookies),
            )
        )

    # -- one exchange -----------------------------------------------------------------

    async def exchange(self, request: bytes, budget: Budget, deadline: float) -> Answer:
        """Send ``request`` and wait for its answer (whole, for a 200) until ``deadline``.

        The deadline is one timer handle on the loop, not an ``asyncio.timeout`` block:
        this runs for every request, and the handle costs a third as much.
        """
        assert self._transport is not None
        if not self.open:
            raise _Stale
        self._reset()
        self._budget = budget
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Answer] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_at(deadline, self._fail, TimeoutError())
        self._transport.write(request)
        try:
            answer = await waiter
        except BaseException:
            self.close()  # an answer half read (or a cancelled wait) spoils the connection
            raise
        finally:
            timer.cancel()
            self._waiter = self._budget = None
            self._chunks = []
        self._used = True
        if self._keep and self.open:
            self._pool.release(self)
        else:
            self.close()
        return answer

    def close(self) -> None:
        """Close the connection now (its answer, if any, is not waited for)."""
        self.open = False
        if self._transport is not None:
            self._transport.close()

    def _reset(self) -> None:
        self._received = 0
        self._head_done = False
        self._keep = True
        self._refused = None
        self._chunks = []
        self._declared = None
        self._delimited = False
        self._coding = ""
        self._cookies = []

    def _take(self, size: int) -> None:
        assert self._budget is not None
        try:
            self._budget.take(size)
        except SyncProtocolError as err:
            self._refuse(err)

    def _refuse(self, err: SyncProtocolError) -> None:
        """Stop parsing: llhttp sees the exception, :meth:`data_received` fails with ``err``."""
        self._refused = err
        raise err

    def _settle(self, answer: Answer) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, err: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)
        self.close()


#: Query values sent as they are: no character of theirs needs percent-encoding.
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


def _encoded(query: dict[str, str]) -> str:
    """``query`` as ``urlencode`` writes it, with plain values (secrets, methods,
    timestamps: all of them, in practice) passed through rather than quoted."""
    return "&".join(
        f"{name}={value}" if _PLAIN(value) else urlencode({name: value})
        for name, value in query.items()
    )


def _cookies(header: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of one Set-Cookie header; none if it does not parse."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header.decode("latin-1"))
    except CookieError:
        return []
    return [(name, morsel.value) for name, morsel in jar.items()]


__all__ = ["EXTRA_CONNECTIONS", "INFLATABLE", "USER_AGENT", "Answer", "Budget", "NodeHTTP"]
