"""Simulator fixtures: nodes on real loopback ports and a plain aiohttp client to call them.

The client here is deliberately independent of the exporter's ``SyncClient``: it sends
exactly the request a test describes and hands back status, headers and raw bytes, so
the tests check what goes over the wire.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import NodeState

LOGIN, PASSWORD = "api", "secret"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer as received."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as UTF-8 JSON, whatever the Content-Type says (like real clients)."""
        return json.loads(self.body.decode("utf-8"))


class ApiClient:
    """Calls ``/api`` on one node with basic auth; returns every answer unparsed."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        login: str = LOGIN,
        password: str = PASSWORD,
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.auth = aiohttp.encode_basic_auth(login, password)

    async def get(self, target: str, *, auth: str | bool | None = True) -> Reply:
        """GET ``target`` (path and query) exactly as written, already percent-encoded."""
        headers = {}
        if auth is True:
            headers["Authorization"] = self.auth
        elif isinstance(auth, str):
            headers["Authorization"] = auth
        url = URL(self.base_url + target, encoded=True)
        async with self.session.get(url, headers=headers) as response:
            return Reply(response.status, response.headers, await response.read())

    async def call(self, method: str, *, auth: str | bool | None = True, **params: str) -> Reply:
        """Call an API method with parameters percent-encoded the usual way."""
        query = URL("/api").with_query({"method": method, **params})
        return await self.get(str(query), auth=auth)

    async def ok(self, method: str, **params: str) -> Any:
        """Call a method, check the HTTP side is a plain 200, return the decoded JSON."""
        reply = await self.call(method, **params)
        assert reply.status == 200, reply
        assert reply.headers["Content-Type"] == "text/javascript"
        return reply.json()

    async def wait_indexed(self, secret: str, limit: float = 10.0) -> dict[str, Any]:
        """Poll get_folders until the folder stops indexing (real I/O, bounded wait)."""
        async with asyncio.timeout(limit):
            while True:
                (folder,) = await self.ok("get_folders", secret=secret)
                if folder["indexing"] == 0:
                    return dict(folder)
                await asyncio.sleep(0.01)


NodeFactory = Callable[..., Awaitable[SimNode]]


@pytest.fixture
def clock() -> ManualClock:
    """A clock the tests move by hand."""
    return ManualClock()


@pytest.fixture
async def make_node(clock: ManualClock) -> AsyncIterator[NodeFactory]:
    """Start nodes on loopback port 0 (``NodeState`` and SimNode keywords as arguments)."""
    started: list[SimNode] = []

    async def make(state: NodeState | None = None, **kwargs: Any) -> SimNode:
        kwargs.setdefault("rng", random.Random(7))
        node = SimNode(state or NodeState("node-1"), clock=clock, **kwargs)
        await node.start()
        started.append(node)
        return node

    yield make
    for node in started:
        await node.stop()


@pytest.fixture
async def sim_node(make_node: NodeFactory) -> SimNode:
    """One started node with the default credentials (api / secret) and API enabled."""
    return await make_node()


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session with a bounded timeout."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def sim_api(sim_node: SimNode, http_session: aiohttp.ClientSession) -> ApiClient:
    """A client for ``sim_node``."""
    return ApiClient(http_session, sim_node.url)


@pytest.fixture
def client_for(http_session: aiohttp.ClientSession) -> Callable[..., ApiClient]:
    """Make a client for any node: ``client_for(node, login=..., password=...)``."""

    def make(node: SimNode, login: str = LOGIN, password: str = PASSWORD) -> ApiClient:
        return ApiClient(http_session, node.url, login, password)

    return make


# --------------------------------------------------------------------------- fleets

from sync_exporter.simulator.fleet import Fleet  # noqa: E402 - the fleet half's own section

FleetFactory = Callable[..., Awaitable[Fleet]]


@pytest.fixture
async def make_fleet() -> AsyncIterator[FleetFactory]:
    """Start fleets on loopback ephemeral ports: ``make_fleet("demo", seed=1, **start_kw)``.

    The first argument is a bundled scenario name, a path or a Scenario; the clock is a
    fresh ManualClock unless ``clock=`` is given. Every fleet is stopped at teardown.
    """
    started: list[Fleet] = []

    async def make(scenario: Any, *, seed: int = 0, clock: Any = None, **start: Any) -> Fleet:
        fleet = Fleet.from_scenario(scenario, seed=seed, clock=clock)
        started.append(fleet)
        await fleet.start(**start)
        return fleet

    yield make
    for fleet in started:
        await fleet.stop()


@pytest.fixture
def fleet_client(http_session: aiohttp.ClientSession) -> Callable[[Fleet, str], ApiClient]:
    """Make an API client for one node of a fleet, with that node's credentials."""

    def make(fleet: Fleet, name: str) -> ApiClient:
        login, password = fleet.credentials(name)
        return ApiClient(http_session, fleet.nodes[name].url, login, password)

    return make


# --------------------------------------------------------------------------- GUI API


class GuiClient:
    """Speaks the web GUI API to one node: mints a token, sends it with its ``GUID`` cookie.

    The cookie is sent by hand (no cookie jar), so a test decides exactly which token and
    cookie go together and can mix them up on purpose.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        login: str = LOGIN,
        password: str = PASSWORD,
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.auth = aiohttp.encode_basic_auth(login, password)
        self.token: str | None = None
        self.cookie: str | None = None

    async def get(self, target: str, *, cookie: str | None = None, auth: bool = True) -> Reply:
        """GET ``target`` with basic auth and, if given, ``Cookie: GUID=...``."""
        headers = {"Authorization": self.auth} if auth else {}
        if cookie is not None:
            headers["Cookie"] = f"GUID={cookie}"
        url = URL(self.base_url + target, encoded=True)
        async with self.session.get(url, headers=headers) as response:
            return Reply(response.status, response.headers, await response.read())

    async def mint(self, *, keep_cookie: bool = False) -> Reply:
        """GET ``/gui/token.html``; remember the token and the cookie it was bound to."""
        reply = await self.get(
            "/gui/token.html?t=1700000000000", cookie=self.cookie if keep_cookie else None
        )
        if reply.status == 200:
            match = re.fullmatch(
                rb"<html><div id='token' style='display:none;'>([^<]+)</div></html>", reply.body
            )
            assert match is not None, reply.body
            self.token = match.group(1).decode("ascii")
            cookie = reply.headers["Set-Cookie"]
            found = re.fullmatch(r"GUID=([^;]+); path=/", cookie)
            assert found is not None, cookie
            self.cookie = found.group(1)
        return reply

    async def action(
        self,
        name: str,
        *,
        token: str | None = None,
        cookie: str | None = None,
        **params: str,
    ) -> Reply:
        """Call ``/gui/?token=..&action=name`` with this client's token and cookie by default."""
        query = {"token": token or self.token or "", "action": name, "t": "1700000000001"}
        target = URL("/gui/").with_query({**query, **params})
        return await self.get(str(target), cookie=cookie if cookie is not None else self.cookie)

    async def ok(self, name: str, **params: str) -> Any:
        """Call an action, check the HTTP side is a plain 200 JSON answer, decode it."""
        reply = await self.action(name, **params)
        assert reply.status == 200, reply
        assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
        return reply.json()


@pytest.fixture
def gui_for(http_session: aiohttp.ClientSession) -> Callable[..., GuiClient]:
    """Make a GUI client for a node: ``gui_for(node, login=..., password=...)``."""

    def make(node: SimNode, login: str = LOGIN, password: str = PASSWORD) -> GuiClient:
        return GuiClient(http_session, node.url, login, password)

    return make
