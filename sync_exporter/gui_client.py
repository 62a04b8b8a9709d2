"""The Resilio Sync web GUI API client: what the Web UI calls, for nodes without API v1.

A session is a token bound to a ``GUID`` cookie (docs/sync-api.md, "The web GUI API")::

    GET /gui/token.html?t=<ms>                         basic auth -> token in the page,
                                                       GUID session cookie
    GET /gui/?token=T&action=A&t=<ms>[&params]         basic auth + the cookie -> JSON

A token without its cookie, or a stale one, answers HTTP 400 ``invalid request``; an
expired session can also answer ``{"status": 401}`` inside a 200. Either way the client
mints one new session and retries the action once; a second refusal is an error, never a
loop. Concurrent actions share one session and one re-mint.

The cookie is sent by hand rather than through aiohttp's cookie jar: the default jar
drops cookies from hosts given as IP addresses, which is how most Sync nodes are
configured. Token and cookie are secrets like the password: they never reach a message,
a log line or a label.

Transport, size caps, decoding and the error tree are :mod:`sync_exporter.client`'s, so
both APIs fail alike and every bound on a node's answers holds for both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from yarl import URL

from sync_exporter.client import (
    RequestObserver,
    ResponseBudget,
    SyncAPIError,
    SyncAuthError,
    SyncError,
    _basic_auth,
    _decode,
    _read_capped,
    _redacted,
    _status_error,
    _Translated,
    credential_texts,
    observed_request,
)
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import SecretUnavailableError
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
    """Web GUI API client for one node, on that node's own ClientSession.

    Like :class:`~sync_exporter.client.SyncClient`, the password is read at request time
    and every action is reported to the observer once (its retry included); minting a
    session is reported as method ``token``.
    """

    def __init__(
        self,
        node: NodeConfig,
        session: aiohttp.ClientSession,
        observer: RequestObserver | None = None,
    ) -> None:
        self._node = node
        self._http = session
        self._observer = observer
        base = node.url.rstrip("/")
        self._token_url = URL(base + "/gui/token.html")
        self._action_url = URL(base + "/gui/")
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
            async with self._http.get(
                self._token_url, params=query, headers=self._auth(), allow_redirects=False
            ) as response:
                if response.status == 404:
                    raise SyncError(
                        "no web GUI API at this URL (HTTP 404 for /gui/token.html)",
                        outcome=Outcome.HTTP_ERROR,
                    )
                if response.status != 200:
                    raise _status_error(response.status)
                morsel = response.cookies.get(SESSION_COOKIE)
                body = await _read_capped(response, lease)
            token = parse_token(body)
        return _Session(token, morsel.value if morsel is not None and morsel.value else None)

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
        headers = self._auth()
        if session.cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={session.cookie}"
        secrets = {"token": session.token, "cookie": session.cookie or ""}
        echoed = credential_texts(headers["Authorization"])
        with self._budget.lease() as lease, _Translated(self._node.timeout):
            async with self._http.get(
                self._action_url, params=query, headers=headers, allow_redirects=False
            ) as response:
                if response.status == 400:
                    raise _Expired
                if response.status != 200:
                    raise _status_error(response.status)
                body = await _read_capped(response, lease)
            raw = _decode(body, secrets, secrets=echoed, max_items=self._node.max_response_items)
            status = envelope_status(raw, action)
            if status == STATUS_SESSION_EXPIRED:
                raise _Expired
            if status != STATUS_OK:
                raise SyncAPIError(status, _redacted(envelope_error(raw), secrets, echoed))
            return parse(raw)

    def _auth(self) -> dict[str, str]:
        """The basic-auth header, with the password read now (a rotated file takes effect)."""
        try:
            password = self._node.password.reveal()
        except SecretUnavailableError as exc:
            raise SyncAuthError(f"cannot read the password: {exc}") from exc
        return {"Authorization": _basic_auth(self._node.username, password)}

    async def _observed(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one logical request and report it once, with its outcome and duration."""
        return await observed_request(self._observer, self._node.name, method, call)


def _millis() -> str:
    """The ``t`` cache-buster the Web UI sends: Unix time in milliseconds."""
    return str(int(time.time() * 1000))


__all__ = ["GuiClient", "SessionRefusedError"]
