"""The ``/_sim`` control API: a test hook to inspect the fleet, move time and inject faults.

Served on every node's port (it is fleet-wide: any node's port controls every node) and,
with ``--control-port``, on a port of its own that stays reachable when nodes are down.
It has no authentication: it only listens where the nodes listen (loopback by default)
and must never be exposed. JSON in, JSON out; bad input gets 400 with
``{"error": "..."}``, an unknown node or folder 404, and a request that the fleet's
mode forbids (advancing a realtime clock) 409. Folder secrets never appear in answers.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.scenario import EventKind, ScenarioError, parse_scenario
from sync_exporter.simulator.state import FaultMode, FolderState
from sync_exporter.simulator.world import World, WorldError

#: Longest simulated time one advance request may cover (each tick costs CPU).
MAX_ADVANCE = 7 * 86400.0

#: Simulated seconds an advance request evolves before letting other requests in.
ADVANCE_SLICE = 600.0

Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]


class _BadRequest(Exception):
    """Answered with ``status`` and ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(
        value, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


def _guard(handler: Handler) -> Handler:
    """Turn the errors of bad input into clean JSON answers; nothing else leaks out."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _json({"error": str(exc)}, exc.status)
        except (WorldError, ScenarioError) as exc:
            return _json({"error": str(exc)}, 400)

    return guarded


class Fleet(Protocol):
    """What the control API needs of a fleet (:class:`~sync_exporter.simulator.fleet.Fleet`).

    Declared here, so the fleet imports the control API and not the other way round.
    Every change of state goes through :attr:`world`, the fleet's one path for changes;
    ``settle`` waits for the listener changes they start.
    """

    @property
    def world(self) -> World: ...

    @property
    def nodes(self) -> Mapping[str, SimNode]: ...

    @property
    def realtime(self) -> bool: ...

    def advance(self, seconds: float) -> None: ...

    async def settle(self) -> None: ...


class _Control:
    """The handlers, bound to one fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def index(self, request: web.Request) -> web.StreamResponse:
        return _json({"endpoints": [f"{r.method} {r.path}" for r in ENDPOINTS]})

    async def state(self, request: web.Request) -> web.StreamResponse:
        summary = self.fleet.world.summary()
        summary["realtime"] = self.fleet.realtime
        for node in summary["nodes"]:
            node["url"] = self.fleet.nodes[node["name"]].url
        return _json(summary)

    async def advance(self, request: web.Request) -> web.StreamResponse:
        seconds = _number(request.query.get("seconds"), "seconds")
        if seconds > MAX_ADVANCE:
            raise _BadRequest(f"seconds: at most {MAX_ADVANCE:g} per request, got {seconds:g}")
        if self.fleet.realtime:
            raise _BadRequest("the fleet runs in realtime; start it with --manual-clock", 409)
        serving = self._serving(request)
        state = self.fleet.nodes[serving].state if serving is not None else None

        def serving_down() -> bool:
            return state is not None and state.faults.mode is FaultMode.DOWN

        # In slices, letting the loop serve between them: a week of a large fleet is
        # minutes of CPU, and the nodes must keep answering meanwhile. Once an event
        # has taken down the node this request came in on, no more yielding: its
        # listener change would cut this answer off.
        left = seconds
        while left > 0:
            step = min(left, ADVANCE_SLICE)
            self.fleet.advance(step)
            left -= step
            if left > 0 and not serving_down():
                await asyncio.sleep(0)
        answer = {"time": self.fleet.world.now, "elapsed": self.fleet.world.elapsed}
        if serving_down():
            return await _answer_first(request, answer, lambda: None)  # an event took it down
        await self.fleet.settle()
        return _json(answer)

    async def fault(self, request: web.Request) -> web.StreamResponse:
        name = self._node(request)
        body = await _body(request, {"mode", "delay", "methods"})
        try:
            mode = FaultMode(body.get("mode", "none"))
        except ValueError:
            known = ", ".join(m.value for m in FaultMode)
            raise _BadRequest(f"mode: one of {known}, got {body.get('mode')!r}") from None
        delay = _number(body.get("delay", 0), "delay")
        methods = body.get("methods", [])
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise _BadRequest("methods: expected a list of API method names")
        answer = {
            "node": name,
            "fault": {"mode": mode.value, "delay": delay, "methods": sorted(set(methods))},
        }
        if mode is FaultMode.DOWN and self._serving(request) == name:
            world = self.fleet.world
            return await _answer_first(
                request, answer, lambda: world.set_fault(name, mode, delay=delay, methods=methods)
            )
        self.fleet.world.set_fault(name, mode, delay=delay, methods=methods)
        await self.fleet.settle()
        return _json(answer)

    async def expire_gui(self, request: web.Request) -> web.StreamResponse:
        name = self._node(request)
        expired = len(self.fleet.nodes[name].gui_sessions)  # what the change expires
        self.fleet.world.expire_gui_sessions(name)
        return _json({"node": name, "expired_sessions": expired})

    async def folder_error(self, request: web.Request) -> web.StreamResponse:
        name, folder = self._folder(request)
        code = int(_number(request.query.get("code"), "code", integer=True))
        self.fleet.world.set_folder_error(name, folder.secret, code)
        return _json(self._folder_view(name, folder))

    async def indexing(self, request: web.Request) -> web.StreamResponse:
        name, folder = self._folder(request)
        how = request.query.get("state", "stuck")
        if how not in ("stuck", "running", "done"):
            raise _BadRequest(f"state: one of stuck, running, done, got {how!r}")
        self.fleet.world.set_indexing((self._shared_name(name, folder), name), how)
        return _json(self._folder_view(name, folder))

    async def stall(self, request: web.Request) -> web.StreamResponse:
        name, folder = self._folder(request)
        stalled = _flag(request.query.get("stalled", "1"), "stalled")
        world = self.fleet.world
        world.set_stalled(self._shared_name(name, folder), stalled)
        return _json(self._folder_view(name, folder))

    async def remove(self, request: web.Request) -> web.StreamResponse:
        name, folder = self._folder(request)
        view = self._folder_view(name, folder)
        self.fleet.world.remove_folder(name, folder.secret)
        return _json({"removed": view})

    async def event(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request, None)
        body.pop("at", None)
        world = self.fleet.world
        scenario = world.scenario
        # Validate against the fleet's own scenario, so names are checked like in YAML.
        document = {
            "nodes": [{"name": n.name} for n in scenario.nodes],
            "folders": [
                {
                    "name": f.name,
                    "nodes": {h.node: h.mode for h in f.holders},
                    "peers": [{"name": p.name, "nodes": list(p.nodes)} for p in f.peers],
                }
                for f in scenario.folders
            ],
            "events": [{"at": 0, **body}],
        }
        try:
            parsed = parse_scenario(document, source="event")
        except ScenarioError as exc:
            messages = [m.removeprefix("events[0].") for m in exc.errors]
            raise _BadRequest("; ".join(messages)) from None
        event = parsed.events[0]
        if event.kind is EventKind.NODE_DOWN and event.node == self._serving(request):
            return await _answer_first(request, {"applied": body}, lambda: world.apply(event))
        world.apply(event)
        await self.fleet.settle()
        return _json({"applied": body})

    # -------------------------------------------------------------- lookups

    def _serving(self, request: web.Request) -> str | None:
        """Return the node whose port this request came in on (None: the control port)."""
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
        return next((n for n, node in self.fleet.nodes.items() if node.port == port), None)

    def _node(self, request: web.Request) -> str:
        name = request.match_info["node"]
        if name not in self.fleet.nodes:
            raise _BadRequest(f"no node named {name!r}", 404)
        return name

    def _folder(self, request: web.Request) -> tuple[str, FolderState]:
        """Resolve ``{ref}``: an index in get_folders order, a scenario folder name, or a dir."""
        name = self._node(request)
        ref = request.match_info["ref"]
        folders = list(self.fleet.nodes[name].state.folders.values())
        if ref.isdigit():
            index = int(ref)
            if index < len(folders):
                return name, folders[index]
            raise _BadRequest(f"node {name!r} has {len(folders)} folders; no index {index}", 404)
        world = self.fleet.world
        for folder in folders:
            if world.folder_name_of(name, folder.secret) == ref:
                return name, folder
        for folder in folders:
            if folder.dir == ref:
                return name, folder
        raise _BadRequest(f"node {name!r} has no folder {ref!r} (index, scenario name or dir)", 404)

    def _shared_name(self, node: str, folder: FolderState) -> str:
        shared = self.fleet.world.folder_name_of(node, folder.secret)
        if shared is None:
            raise _BadRequest(
                f"folder {folder.dir!r} on {node!r} is not a scenario folder "
                "(a folder added through the API follows its real directory)"
            )
        return shared

    def _folder_view(self, node: str, folder: FolderState) -> dict[str, Any]:
        shared = self.fleet.world.folder_name_of(node, folder.secret)
        return {
            "node": node,
            "name": shared,
            "dir": folder.dir,
            "size": folder.size,
            "files": folder.files,
            "error": folder.error,
            "indexing": int(folder.indexing),
            "stalled": shared is not None and self.fleet.world.is_stalled(shared),
        }


async def _answer_first(
    request: web.Request, answer: dict[str, Any], act: Callable[[], None]
) -> web.StreamResponse:
    """Send ``answer`` before doing ``act``.

    For a request that takes down the very node serving it: closing the listener first
    would cut its own answer off.
    """
    response = _json(answer)
    await response.prepare(request)
    await response.write_eof()
    act()
    return response


async def _body(request: web.Request, allowed: set[str] | None) -> dict[str, Any]:
    """Return the JSON object body ({} when empty); refuse other shapes and unknown keys."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _BadRequest("body: expected a JSON object")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed))
            raise _BadRequest(f"unknown key {unknown[0]!r} (expected: {known})")
    return value


def _number(value: object, name: str, *, integer: bool = False) -> float:
    """Parse a query or JSON number >= 0; raise _BadRequest naming ``name``."""
    if value is None:
        raise _BadRequest(f"{name}: required")
    if isinstance(value, bool):
        raise _BadRequest(f"{name}: expected a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or (integer and number != int(number)):
        kind = "an integer" if integer else "a number"
        raise _BadRequest(f"{name}: expected {kind} >= 0, got {value!r}")
    return number


def _flag(value: str, name: str) -> bool:
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise _BadRequest(f"{name}: expected 1 or 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """A documented route: method, path and the handler's name on _Control."""

    method: str
    path: str
    handler: str


#: Every control route (also the answer to ``GET /_sim``).
ENDPOINTS: tuple[_Endpoint, ...] = (
    _Endpoint("GET", "/_sim", "index"),
    _Endpoint("GET", "/_sim/state", "state"),
    _Endpoint("POST", "/_sim/advance", "advance"),
    _Endpoint("POST", "/_sim/events", "event"),
    _Endpoint("POST", "/_sim/nodes/{node}/fault", "fault"),
    _Endpoint("POST", "/_sim/nodes/{node}/gui/expire", "expire_gui"),
    _Endpoint("POST", "/_sim/nodes/{node}/folders/{ref:.+}/error", "folder_error"),
    _Endpoint("POST", "/_sim/nodes/{node}/folders/{ref:.+}/indexing", "indexing"),
    _Endpoint("POST", "/_sim/nodes/{node}/folders/{ref:.+}/stall", "stall"),
    _Endpoint("POST", "/_sim/nodes/{node}/folders/{ref:.+}/remove", "remove"),
)


def control_routes(fleet: Fleet) -> list[web.RouteDef]:
    """Return the ``/_sim`` routes for ``fleet`` (added to every node's application)."""
    control = _Control(fleet)
    routes = [web.route(e.method, e.path, _guard(getattr(control, e.handler))) for e in ENDPOINTS]
    routes.append(web.route("*", "/_sim/{tail:.*}", _unknown))
    return routes


async def _unknown(request: web.Request) -> web.StreamResponse:
    """Anything else under /_sim: a JSON 404 that says where the list is."""
    return _json(
        {"error": f"{request.method} {request.path}: no such control endpoint (see GET /_sim)"},
        404,
    )


def control_app(fleet: Fleet) -> web.Application:
    """Return an application serving only the control API (``--control-port``)."""
    app = web.Application()
    app.router.add_routes(control_routes(fleet))
    return app
