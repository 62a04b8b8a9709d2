"""A fleet: many simulated nodes in one process, one port each, sharing one world.

The fleet is the async shell around :class:`~sync_exporter.simulator.world.World`: it
serves each NodeState through a :class:`~sync_exporter.simulator.node.SimNode`, adds the
``/_sim`` control routes to every node (and optionally to a port of their own), opens
and closes listeners when the world takes a node down or up, and in realtime mode runs
the task that keeps the world in step with the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from aiohttp import web

from sync_exporter.simulator.clock import Clock, ManualClock
from sync_exporter.simulator.control import control_app, control_routes
from sync_exporter.simulator.http import DEFAULT_API_KEY, DEFAULT_LOGIN, DEFAULT_PASSWORD
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.scenario import Scenario, load_scenario, synthetic_scenario
from sync_exporter.simulator.state import FaultMode
from sync_exporter.simulator.world import World, WorldError

log = logging.getLogger(__name__)

#: Wall-clock seconds between two catch-ups of a realtime world.
REALTIME_PERIOD = 1.0
#: ``(login, password)`` of a node the credentials given to a fleet do not name.
_DEFAULT_CREDENTIALS = (DEFAULT_LOGIN, DEFAULT_PASSWORD)


class Fleet:
    """N simulated nodes evolving together; the NodeStates are the truth tests compare to."""

    def __init__(
        self,
        world: World,
        *,
        credentials: Mapping[str, tuple[str | None, str | None]],
        latency: float = 0.0,
    ) -> None:
        self.world = world
        self.clock: Clock = world.clock
        self.realtime = False
        self.control_url: str | None = None
        self._credentials = dict(credentials)
        self._listening: dict[str, bool] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._control: web.AppRunner | None = None
        self._started = False
        routes = control_routes(self)
        nodes: dict[str, SimNode] = {}
        for name, state in world.nodes.items():
            login, password = self._credentials.get(name, _DEFAULT_CREDENTIALS)
            if latency:
                state.faults.delay = latency
            spec = world.scenario.node(name)
            nodes[name] = SimNode(
                state,
                clock=world.clock,
                rng=random.Random(f"{world.seed}/{name}"),
                login=login,
                password=password,
                api_key=None if spec is not None and not spec.api_key else DEFAULT_API_KEY,
                extra_routes=routes,
                on_shutdown=self._shutdown_hook(name),
            )
        self.nodes: Mapping[str, SimNode] = nodes
        world.on_listener_change = self._listener_changed

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_scenario(
        cls, scenario: Scenario | str | Path, *, seed: int = 0, clock: Clock | None = None
    ) -> Fleet:
        """Build the fleet a scenario describes (a Scenario, a bundled name or a YAML path)."""
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        world = World(scenario, seed=seed, clock=clock)
        credentials = {n.name: (n.login, n.password) for n in scenario.nodes}
        return cls(world, credentials=credentials)

    @classmethod
    def synthetic(
        cls,
        *,
        nodes: int,
        folders: int,
        peers: int,
        seed: int = 0,
        clock: Clock | None = None,
        latency: float = 0.0,
    ) -> Fleet:
        """Build a fleet of ``nodes`` nodes, ``folders`` folders each, ``peers`` peers per folder.

        See :func:`~sync_exporter.simulator.scenario.synthetic_scenario` for the layout.
        """
        scenario = synthetic_scenario(nodes=nodes, folders=folders, peers=peers, seed=seed)
        world = World(scenario, seed=seed, clock=clock)
        credentials = {n.name: (n.login, n.password) for n in scenario.nodes}
        return cls(world, credentials=credentials, latency=latency)

    def credentials(self, name: str) -> tuple[str, str]:
        """Return ``(login, password)`` of node ``name`` (empty strings: no basic auth)."""
        if name not in self.nodes:
            raise KeyError(name)
        login, password = self._credentials.get(name, _DEFAULT_CREDENTIALS)
        return login or "", password or ""

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self,
        host: str = "127.0.0.1",
        base_port: int = 0,
        realtime: bool = False,
        *,
        control_port: int | None = None,
    ) -> None:
        """Listen: node i on ``base_port + i`` (every node ephemeral when 0).

        ``realtime`` starts a task that moves the world with the wall clock; a ManualClock
        that has not moved yet is first set to the present, then advanced by the wall time
        that passes, so timestamps such as ``synced`` are real. ``control_port`` also serves the
        ``/_sim`` API alone on that port (0: ephemeral), reachable when nodes are down.
        Nodes that are down from the start get their port, then close it.
        """
        if self._started:
            raise RuntimeError("fleet already started")
        self._started = True
        try:
            for i, (name, node) in enumerate(self.nodes.items()):
                await node.start(host, base_port + i if base_port else 0)
                self._listening[name] = True
            if control_port is not None:
                await self._start_control(host, control_port)
            for name, node in self.nodes.items():
                if node.state.faults.mode is FaultMode.DOWN:
                    await node.set_down(True)
                    self._listening[name] = False
        except BaseException:
            await self.stop()
            raise
        self.realtime = realtime
        if realtime and isinstance(self.clock, ManualClock) and self.world.elapsed == 0:
            self.world.move_to_present()
        if realtime:
            self._ticker = asyncio.get_running_loop().create_task(self._follow_wall_clock())

    async def _start_control(self, host: str, port: int) -> None:
        self._control = web.AppRunner(control_app(self), access_log=None)
        await self._control.setup()
        site = web.TCPSite(self._control, host, port, reuse_address=True)
        await site.start()
        bound = int(self._control.addresses[0][1])
        shown = f"[{host}]" if ":" in host else host
        self.control_url = f"http://{shown}:{bound}"

    async def stop(self) -> None:
        """Stop the clock task, every node and the control port; safe to call twice."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self.settle()
        await asyncio.gather(*(node.stop() for node in self.nodes.values()))
        control, self._control = self._control, None
        if control is not None:
            await control.cleanup()
        self._listening.clear()

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _follow_wall_clock(self) -> None:
        """Keep the world in step with the wall clock, once per REALTIME_PERIOD."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(REALTIME_PERIOD)
            now = time.monotonic()
            if isinstance(self.clock, ManualClock):
                self.clock.advance(now - last)
            last = now
            self.world.catch_up()

    # ------------------------------------------------------------------ time and faults

    def advance(self, seconds: float) -> None:
        """Move simulated time (ManualClock, not realtime) and evolve deterministically.

        Listener changes caused by events (node_down, node_up) are started here and
        finish at the next await; ``await fleet.settle()`` waits for them explicitly.
        """
        if self.realtime:
            raise WorldError("the fleet follows the wall clock; advance is for manual time")
        self.world.advance(seconds)

    async def set_fault(
        self,
        node: str,
        mode: FaultMode,
        *,
        delay: float = 0.0,
        methods: Iterable[str] = (),
    ) -> None:
        """Replace ``node``'s HTTP faults; returns once a DOWN/up listener change is done."""
        if node not in self.nodes:
            raise WorldError(f"no node named {node!r}")
        self.world.set_fault(node, mode, delay=delay, methods=methods)
        await self.settle()

    async def settle(self) -> None:
        """Wait until every listener change started so far has happened."""
        while self._pending:
            # wait(), not gather(): a cancelled waiter must not cancel the changes themselves.
            await asyncio.wait(list(self._pending))

    def _listener_changed(self, name: str, down: bool) -> None:
        """World hook: a node went down or came up; (re)bind its listener if serving."""
        if not self._listening and not self._started:
            return  # not serving yet: start() honours the state it finds
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller before start): nothing is listening
        task = loop.create_task(self._reconcile(name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _reconcile(self, name: str) -> None:
        """Make node ``name``'s listener match its fault mode (serialised per node)."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self._listening:
                return  # stopped meanwhile
            want = self.nodes[name].state.faults.mode is not FaultMode.DOWN
            if self._listening[name] != want:
                try:
                    await self.nodes[name].set_down(not want)
                except OSError as exc:
                    # Its port was taken while it was down: it stays down, and says so,
                    # rather than the world counting it up while nothing listens.
                    log.error(
                        "node %s cannot listen again on port %d: %s",
                        name,
                        self.nodes[name].port,
                        exc.strerror or exc,
                    )
                    self.world.set_fault(name, FaultMode.DOWN)
                    return
                self._listening[name] = want

    def _shutdown_hook(self, name: str) -> Callable[[], Awaitable[None]]:
        """``shutdown`` over the API takes the node down, as a real node exits."""

        async def shutdown() -> None:
            self.world.set_fault(name, FaultMode.DOWN)
            await self.settle()

        return shutdown
