"""The Resilio Sync web GUI API client: what the Web UI calls, for nodes without API v1.

A session is a token bound to a ``GUID`` cookie (docs/sync-api.md, "The web GUI API")::

    GET /gui/token.html?t=<ms>                         basic auth -> token in the page,
                                                       GUID session cookie
    GET /gui/?token=T&action=A&t=<ms>[&params]         basic auth + the cookie -> JSON

A token without its cookie, or a stale one, answers HTTP 400 ``invalid request``; an
expired session can also answer ``{"status": 401}`` inside a 200. Either way the client
mints one new session and retries the action once; a second refusal is an error, never a
loop. Concurrent actions share one session and one re-mint.

The cookie is kept by hand, with no cookie jar: a jar's domain rules (aiohttp's default
jar drops cookies from hosts given as IP addresses, which is how most Sync nodes are
configured) have nothing to add for one cookie of one node. Token and cookie are secrets
like the password: they never reach a message, a log line or a label.

The transport (:mod:`sync_exporter.node_http`), the size caps, decoding and the error
tree (:mod:`sync_exporter.errors`) are those of the API v1 client, so both APIs fail
alike and every bound on a node's answers holds for both.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sync_exporter.client import (
    RequestObserver,
    ResponseBudget,
    _basic_auth,
    _decode,
    _redacted,
    _Translated,
    body_of,
    credential_texts,
    observed_request,
)
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import SecretUnavailableError
from sync_exporter.errors import SyncAPIError, SyncAuthError, SyncError, status_error
from sync_exporter.gui_model import (
    STATUS_OK,
    STATUS_SESSION_EXPIRED,
    GuiFolders,
    envelope_error,
    envelope_status,
    parse_gui_version,
    parse_statuses,
    parse_sync_folders,
    parse_system_info,
    parse_token,
)
from sync_exporter.model import Outcome, Speed
from sync_exporter.node_http import NodeHTTP

T = TypeVar("T")

#: The session cookie the token is bound to.
SESSION_COOKIE = "GUID"

#: The ``method`` label of token requests in the self-metrics.
TOKEN_METHOD = "token"  # noqa: S105 - a metric label value, not a credential


@dataclass(frozen=True, slots=True)
class _Session:
    """One GUI session: the token and the cookie it is bound to (both secret)."""

    token: str = field(repr=False)
    cookie: str | None = field(repr=False)


class _Expired(Exception):
    """The node no longer accepts this session (HTTP 400 or envelope status 401)."""


class SessionRefusedError(SyncError):
    """The node refused a session it had just issued: the GUI API is not usable."""

    outcome = Outcome.HTTP_ERROR


class GuiClient:
    """Web GUI API client for one node, over that node's own connections.

    Like :class:`~sync_exporter.client.SyncClient`, the password is read at request time
    and every action is reported to the observer once (its retry included); minting a
    session is reported as method ``token``.
    """

    def __init__(
        self,
        node: NodeConfig,
        http: NodeHTTP,
        observer: RequestObserver | None = None,
    ) -> None:
        self._node = node
        self._http = http
        self._observer = observer
        self._session: _Session | None = None
        self._minting = asyncio.Lock()
        self._budget = ResponseBudget(node.max_response_bytes)

    @property
    def node(self) -> NodeConfig:
        """The node this client talks to."""
        return self._node

    async def get_sync_folders(self) -> GuiFolders:
        """Every folder of the node with its peers, queues and free space, in one answer."""
        return await self._action("getsyncfolders", {"discovery": "1"}, parse_sync_folders)

    async def get_speed(self) -> Speed:
        """Current download and upload speed of the node (``getstatuses``), bytes/s."""
        return await self._action("getstatuses", {}, parse_statuses)

    async def get_version(self) -> str:
        """The node's Sync version, dotted (``3.1.2``)."""
        return await self._action("version", {}, parse_gui_version)

    async def get_os(self) -> str:
        """The node's OS name as ``getsysteminfo`` reports it."""
        return await self._action("getsysteminfo", {}, parse_system_info)

    # -- sessions ---------------------------------------------------------------------

    async def _current(self) -> _Session:
        if self._session is None:
            return await self._renew(None)
        return self._session

    async def _renew(self, stale: _Session | None) -> _Session:
        """Mint a session unless another action already replaced ``stale``."""
        async with self._minting:
            if self._session is not None and self._session is not stale:
                return self._session
            self._session = None
            self._session = await self._observed(TOKEN_METHOD, self._mint)
            return self._session

    async def _mint(self) -> _Session:
        query = {"t": _millis()}
        with self._budget.lease() as lease, _Translated(self._node.timeout):
            headers = [("Authorization", self._authorization())]
            answer = await self._http.get("/gui/token.html", query, headers, lease)
            if answer.status == 404:
                raise SyncError(
                    "no web GUI API at this URL (HTTP 404 for /gui/token.html)",
                    outcome=Outcome.HTTP_ERROR,
                )
            if answer.status != 200:
                raise status_error(answer.status)
            token = parse_token(await body_of(answer, lease))
        cookie = _session_cookie(answer.cookies)
        return _Session(token, cookie)

    # -- actions ----------------------------------------------------------------------

    async def _action(self, action: str, params: dict[str, str], parse: Callable[[object], T]) -> T:
        async def attempt() -> T:
            session = await self._current()
            try:
                return await self._exchange(action, params, parse, session)
            except _Expired:
                pass
            renewed = await self._renew(session)
            try:
                return await self._exchange(action, params, parse, renewed)
            except _Expired:
                raise SessionRefusedError(
                    "the web GUI refused a session it had just issued "
                    "(HTTP 400 invalid request or status 401)"
                ) from None

        return await self._observed(action, attempt)

    async def _exchange(
        self,
        action: str,
        params: dict[str, str],
        parse: Callable[[object], T],
        session: _Session,
    ) -> T:
        query = {"token": session.token, "action": action, "t": _millis(), **params}
        authorization = self._authorization()
        headers = [("Authorization", authorization)]
        if session.cookie is not None:
            headers.append(("Cookie", f"{SESSION_COOKIE}={session.cookie}"))
        secrets = {"token": session.token, "cookie": session.cookie or ""}
        echoed = credential_texts(authorization)
        with self._budget.lease() as lease, _Translated(self._node.timeout):
            answer = await self._http.get("/gui/", query, headers, lease)
            if answer.status == 400:
                raise _Expired
            if answer.status != 200:
                raise status_error(answer.status)
            body = await body_of(answer, lease)
            raw = _decode(body, secrets, secrets=echoed, max_items=self._node.max_response_items)
            status = envelope_status(raw, action)
            if status == STATUS_SESSION_EXPIRED:
                raise _Expired
            if status != STATUS_OK:
                raise SyncAPIError(status, _redacted(envelope_error(raw), secrets, echoed))
            return parse(raw)

    def _authorization(self) -> str:
        """The basic-auth header value, with the password read now (a rotated file takes
        effect)."""
        try:
            password = self._node.password.reveal()
        except SecretUnavailableError as exc:
            raise SyncAuthError(f"cannot read the password: {exc}") from exc
        return _basic_auth(self._node.username, password)

    async def _observed(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one logical request and report it once, with its outcome and duration."""
        return await observed_request(self._observer, self._node.name, method, call)


#: What a cookie value may hold (RFC 6265 cookie-octets): anything else is not sent back.
_COOKIE_VALUE = re.compile(r"[!#-+\--:<-\[\]-~]{1,4096}")


def _session_cookie(cookies: tuple[tuple[str, str], ...]) -> str | None:
    """The session cookie's value from the token page's Set-Cookie headers, if usable."""
    for name, value in cookies:
        if name == SESSION_COOKIE and _COOKIE_VALUE.fullmatch(value):
            return value
    return None


def _millis() -> str:
    """The ``t`` cache-buster the Web UI sends: Unix time in milliseconds."""
    return str(int(time.time() * 1000))


__all__ = ["GuiClient", "SessionRefusedError"]
