"""One simulated Sync node: a :class:`NodeState` served over HTTP on its own port.

The node owns the aiohttp runner and the background work its API calls start
(indexing real directories, saving state, shutting down); the world side owns the
state's evolution and may switch the node's listener off and on with :meth:`set_down`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from sync_exporter.simulator import api, folders
from sync_exporter.simulator.clock import Clock
from sync_exporter.simulator.gui import GuiEndpoint, GuiSessions
from sync_exporter.simulator.http import (
    DEFAULT_API_KEY,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    MAX_LINE,
    ApiEndpoint,
    Credentials,
    RedactingLogger,
)
from sync_exporter.simulator.http import create_app as create_http_app
from sync_exporter.simulator.state import FolderState, NodeState
from sync_exporter.simulator.storage import NodeStorage, StorageError, restore

log = logging.getLogger(__name__)

#: Seconds stop() gives in-flight requests before cutting them off.
SHUTDOWN_TIMEOUT = 1.0

#: Seconds set_down() lets a request in progress finish before its connection is cut.
DOWN_TIMEOUT = 0.05


class SimNode:
    """A node answering API v1 on ``/api`` and the web GUI API on ``/gui/`` (plus extra routes).

    ``api_key=None`` leaves API v1 disabled (HTTP 400) while ``/gui/`` keeps answering,
    as on a Resilio Sync 2.x/3.x node without a key; ``login=None`` disables basic
    auth. With ``storage``, folders, preferences and hosts are loaded at construction
    (StorageError if the file is unusable) and saved after every change; stored real
    directories are indexed again on :meth:`start`. ``walk_chunk`` sets how many
    directory entries each indexing step examines.
    """

    def __init__(
        self,
        state: NodeState,
        *,
        clock: Clock,
        rng: random.Random,
        login: str | None = DEFAULT_LOGIN,
        password: str | None = DEFAULT_PASSWORD,
        api_key: str | None = DEFAULT_API_KEY,
        storage: NodeStorage | None = None,
        extra_routes: Sequence[web.RouteDef] = (),
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        walk_chunk: int = folders.DEFAULT_CHUNK,
    ) -> None:
        self.state = state
        self.clock = clock
        self._storage = storage
        self._on_shutdown = on_shutdown
        self._walk_chunk = walk_chunk
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._walks: dict[str, tuple[FolderState, asyncio.Task[None]]] = {}
        self._pending_walks: list[FolderState] = []
        if storage is not None:
            stored = storage.load()
            if stored is not None:
                self._pending_walks = restore(state, stored)
        endpoint = ApiEndpoint(
            state,
            api.ApiContext(state, rng),
            Credentials(login, password, api_key),
            stopping=self._stopping,
            on_result=self._apply,
            after_shutdown_answer=self._shutdown_requested,
        )
        self.gui_sessions = GuiSessions()
        gui = GuiEndpoint(state, endpoint.gate, self.gui_sessions)
        self._app = create_http_app(endpoint, extra_routes, gui.routes())
        self._in_flight = 0
        self._app.middlewares.append(self._count_in_flight)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0

    @property
    def url(self) -> str:
        """Base URL of the node (valid once started)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def requests_in_flight(self) -> int:
        """How many HTTP requests this node is answering right now.

        What a test waits on ("the scrape has reached the node") instead of sleeping for
        a time that is too long on a fast machine and too short on a loaded one.
        """
        return self._in_flight

    @web.middleware
    async def _count_in_flight(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self._in_flight += 1
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1

    @property
    def port(self) -> int:
        """The bound port (0 before start)."""
        return self._port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = any free port) and return the bound port."""
        self._runner = web.AppRunner(
            self._app,
            handler_cancellation=True,
            access_log=None,  # an access line would carry the query: folder secrets
            logger=RedactingLogger(log),
            max_line_size=MAX_LINE,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await self._runner.setup()
        self._host = host
        await self._listen(port)
        for folder in self._pending_walks:
            self._walk(folder)
        self._pending_walks = []
        return self._port

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self._host, port, reuse_address=True)
        await site.start()
        self._site = site
        self._port = int(self._runner.addresses[0][1]) if port == 0 else port

    async def set_down(self, down: bool) -> None:
        """Close the listener and open connections (refused from now on), or rebind the port."""
        if self._runner is None:
            raise RuntimeError("node not started")
        if down and self._site is not None:
            self.gui_sessions.forget()  # a node that comes back is a restarted daemon
            await self._site.stop()
            self._site = None
            server = self._runner.server
            if server is not None:  # a node that goes down drops its connections at once
                server.pre_shutdown()
                await server.shutdown(DOWN_TIMEOUT)
        elif not down and self._site is None:
            await self._listen(self._port)

    def expire_gui_sessions(self) -> int:
        """Expire every GUI session: next action ``{"status": 401}``, then 400; return count.

        Through the state's ``gui_epoch``, the one path a world's event and the control
        API take too, so a node alone expires its sessions exactly as one in a fleet.
        """
        self.state.gui_epoch += 1
        return len(self.gui_sessions)

    async def stop(self) -> None:
        """Stop serving, release hanging requests, cancel indexing; safe to call twice."""
        self._stopping.set()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        for _, task in self._walks.values():
            task.cancel()
        await asyncio.gather(*(t for _, t in self._walks.values()), return_exceptions=True)
        self._walks.clear()
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    def _apply(self, result: api.ApiResult) -> None:
        """Perform an API call's side effects (before its answer is sent)."""
        if result.walk is not None:
            self._walk(result.walk)
        if result.changed:
            for secret, (folder, task) in list(self._walks.items()):
                if self.state.folders.get(secret) is not folder:
                    task.cancel()
                    del self._walks[secret]
            self._save()

    def _save(self) -> None:
        if self._storage is None:
            return
        try:
            self._storage.save(self.state)
        except StorageError as exc:
            log.error("node=%s state not saved: %s", self.state.name, exc)

    def _walk(self, folder: FolderState) -> None:
        previous = self._walks.pop(folder.secret, None)
        if previous is not None:
            previous[1].cancel()
        task = asyncio.get_running_loop().create_task(folders.index(folder, chunk=self._walk_chunk))
        self._walks[folder.secret] = (folder, task)
        task.add_done_callback(lambda t: self._walk_done(folder.secret, t))

    def _walk_done(self, secret: str, task: asyncio.Task[None]) -> None:
        if self._walks.get(secret, (None, None))[1] is task:
            del self._walks[secret]

    def _shutdown_requested(self) -> None:
        """Run ``on_shutdown`` (default: stop this node) once the answer has been sent."""
        callback = self._on_shutdown or self.stop
        task = asyncio.get_running_loop().create_task(_run(callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _run(callback: Callable[[], Awaitable[None]]) -> None:
    await callback()
