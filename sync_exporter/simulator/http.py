"""The HTTP face of one simulated node: ``GET /api?method=...`` as a real node serves it.

What a client sees, and why (docs/sync-api.md, "API v1 errors" and "API v1 quirks"):

- JSON as ``text/javascript`` with no charset, raw UTF-8 (non-ASCII names unescaped)
  and ``/`` escaped as ``\\/`` (quirks 1 to 3); logical errors inside HTTP 200.
- Wrong basic auth: 401, empty body, ``WWW-Authenticate: Basic realm="Resilio Sync"``
  (the only realm recorded from a live node: rslsync 3.1.2).
- API not enabled (no ``webui.api_key``): 400. Only the status was ever recorded;
  choice: the body is ``invalid request`` (what Sync's web UI answers with its 400s).
- Any path but ``/api``: 404. Unknown query parameters are ignored; broken
  percent-encoding is kept literally and bytes that are not UTF-8 become U+FFFD, so
  they reach the API as text and get an API answer (a folder that cannot be found).
- Choice: a request target longer than :data:`MAX_TARGET` gets 414 with an empty body
  (no real sample exists); raw spaces, control characters and raw non-ASCII bytes in
  the request line are refused with 400 by the HTTP parser, as by any strict server.
- Faults (:class:`~sync_exporter.simulator.state.Faults`) are read on every request.

Log lines never carry the query string (it holds folder secrets): the access log is
off, and the HTTP server's own error log is reduced to one line without the request.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from sync_exporter.simulator import api
from sync_exporter.simulator.state import FaultMode, NodeState

log = logging.getLogger(__name__)

#: The content type real nodes send their JSON with (no charset).
CONTENT_TYPE = "text/javascript"

#: Longest request target (path + query) answered; longer ones get 414.
MAX_TARGET = 16 * 1024

#: Request lines up to this size reach the handler (so it can answer 414 itself).
MAX_LINE = 256 * 1024

#: What an INVALID_JSON fault serves with a 200: a page that is not JSON.
INVALID_BODY = b"<html><body><h1>Sync</h1><p>Service temporarily busy</p></body></html>\n"

#: How often a hanging request checks whether its fault was cleared.
HANG_POLL = 0.02


def encode_json(value: Any) -> bytes:
    """Serialize like a real node: raw UTF-8 and ``\\/`` for every ``/``.

    A ``/`` can only occur inside JSON strings, so escaping it in the whole text is exact.
    A file name that is not UTF-8 on disk goes out as its raw bytes, as the node would
    send it (Python carries such names as surrogate escapes); any other unencodable
    character becomes ``?`` rather than an error.
    """
    text = json.dumps(value, ensure_ascii=False).replace("/", "\\/")
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


#: Who may call a simulated node that is told nothing else (docs/simulator.md): this
#: login and password, and an API key, so that API v1 is enabled. Defined here only;
#: scenarios, nodes and fleets take their defaults from these.
DEFAULT_LOGIN = "api"
DEFAULT_PASSWORD = "secret"  # noqa: S105 - the simulator's documented default, not a secret
DEFAULT_API_KEY = "simulated"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who may call the API: basic-auth pair (None = no auth) and whether it is enabled."""

    login: str | None = DEFAULT_LOGIN
    password: str | None = DEFAULT_PASSWORD
    api_key: str | None = DEFAULT_API_KEY

    def authorized(self, header: str | None) -> bool:
        """Check an ``Authorization`` header against the login and password."""
        if self.login is None:
            return True
        if not header or header[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8
            return False
        login, sep, password = decoded.partition(":")
        expected = f"{self.login}:{self.password or ''}"
        return bool(sep) and hmac.compare_digest(f"{login}:{password}".encode(), expected.encode())


class RedactingLogger(logging.Logger):
    """The aiohttp server's logger, reduced to one line without the request.

    aiohttp logs a rejected request with its request line (which may hold a folder
    secret) and a traceback; this logger keeps only the exception type.
    """

    def __init__(self, parent: logging.Logger) -> None:
        super().__init__(parent.name + ".server")
        self.parent = parent

    def handle(self, record: logging.LogRecord) -> None:
        """Reduce a rejected request to one WARNING line; pass anything else on as is.

        A client's malformed request is not the server's failure, and its text may hold
        a secret. Other errors (a bug in a handler) keep their traceback for debugging.
        """
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args = "HTTP request rejected (%s)", (type(exc).__name__,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        super().handle(record)


class FaultGate:
    """The HTTP faults and basic auth every endpoint of a node applies before answering.

    Shared by ``/api`` and ``/gui/`` so a fault set on a node hits both APIs alike;
    ``method`` is the API v1 method or the GUI action (``token`` for ``token.html``),
    which ``Faults.methods`` may name to restrict a fault.
    """

    def __init__(
        self, state: NodeState, credentials: Credentials, *, stopping: asyncio.Event
    ) -> None:
        self._state = state
        self._credentials = credentials
        self._stopping = stopping

    @property
    def credentials(self) -> Credentials:
        """The node's login, password and API key."""
        return self._credentials

    async def check(
        self, request: web.Request, method: str
    ) -> tuple[web.StreamResponse | None, FaultMode]:
        """Apply delay, hang, down, 500 and 401; return (early answer or None, body fault).

        The returned mode is what is left for the body (INVALID_JSON, TRUNCATED, or NONE).
        """
        faults = self._state.faults
        if faults.delay > 0 and await self._wait_stopping(faults.delay):
            return abort(request), FaultMode.NONE
        hang = faults.applies_to(method) and faults.mode is FaultMode.HANG
        if hang and await self._hang(method):
            return abort(request), FaultMode.NONE
        mode = faults.mode if faults.applies_to(method) else FaultMode.NONE
        if mode is FaultMode.DOWN:
            return abort(request), mode
        if mode is FaultMode.SERVER_ERROR:
            return web.Response(status=500, text="500 Internal Server Error"), mode
        if mode is FaultMode.UNAUTHORIZED or not self._credentials.authorized(
            request.headers.get("Authorization")
        ):
            return unauthorized(), mode
        return None, mode

    async def admit(
        self, request: web.Request, method: str
    ) -> tuple[web.StreamResponse | None, FaultMode]:
        """:meth:`check`, after refusing a request target longer than :data:`MAX_TARGET` (414)."""
        if len(request.raw_path) > MAX_TARGET:
            return web.Response(status=414), FaultMode.NONE
        return await self.check(request, method)

    async def _wait_stopping(self, seconds: float) -> bool:
        """Wait ``seconds`` (real time); return True early if the node is stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _hang(self, method: str) -> bool:
        """Hold the request while HANG applies; return True if the node stops meanwhile."""
        faults = self._state.faults
        while faults.applies_to(method) and faults.mode is FaultMode.HANG:
            if await self._wait_stopping(HANG_POLL):
                return True
        return False


def unauthorized() -> web.Response:
    """Wrong or missing basic auth: 401, empty body, the realm a live 3.1.2 node sends."""
    return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Resilio Sync"'})


class ApiEndpoint:
    """Answers ``/api`` for one node; side effects go back to the node through callbacks."""

    def __init__(
        self,
        state: NodeState,
        context: api.ApiContext,
        credentials: Credentials,
        *,
        stopping: asyncio.Event,
        on_result: Callable[[api.ApiResult], None],
        after_shutdown_answer: Callable[[], None],
    ) -> None:
        self._context = context
        self._credentials = credentials
        self._gate = FaultGate(state, credentials, stopping=stopping)
        self._on_result = on_result
        self._after_shutdown_answer = after_shutdown_answer

    @property
    def gate(self) -> FaultGate:
        """The faults and auth check, shared with the node's GUI endpoint."""
        return self._gate

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Apply faults, auth and the API key check, then dispatch the method."""
        method = request.query.get("method")
        early, mode = await self._gate.admit(request, method or "")
        if early is not None:
            return early
        if self._credentials.api_key is None:
            return web.Response(status=400, text="invalid request")
        if mode is FaultMode.INVALID_JSON:
            return _json_response(INVALID_BODY)
        result = api.call(self._context, method, request.query)
        self._on_result(result)
        body = encode_json(result.body)
        if mode is FaultMode.TRUNCATED:
            response: web.StreamResponse = await truncated(request, body, CONTENT_TYPE)
        else:
            response = _json_response(body)
            if result.shutdown:
                await response.prepare(request)
                await response.write_eof()
        if result.shutdown:  # the method ran, whatever happened to its answer
            self._after_shutdown_answer()
        return response


def _json_response(body: bytes) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def abort(request: web.Request) -> web.Response:
    """Drop the connection without an answer (aiohttp ignores the unsent response)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=503)


async def truncated(request: web.Request, body: bytes, content_type: str) -> web.StreamResponse:
    """Send half of ``body`` under a Content-Length for all of it, then hang up."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = len(body) + 16
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return response


def create_app(
    endpoint: ApiEndpoint,
    extra_routes: Sequence[web.RouteDef] = (),
    gui_routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    """Build the node's application: ``/api``, the GUI routes and any extra (control) routes.

    Everything else is 404.
    """
    app = web.Application()
    app.router.add_get("/api", endpoint.handle)
    app.router.add_routes(gui_routes)
    app.router.add_routes(extra_routes)
    return app
