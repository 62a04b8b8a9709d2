"""Scrape orchestration: configured nodes in, one :class:`NodeSnapshot` per node out.

Per scrape, every node at once; per node:

Each node is read through API v1 or the web GUI API (``api`` in the config). With
``auto``, the first scrape asks API v1; a node that answers ``api_disabled`` (HTTP 400,
no ``webui.api_key``: every Resilio Sync 2.x/3.x node without a Business license) is read
through the GUI API from then on. The choice is logged, kept until a reload, and made
again when the chosen API fails in a way the other could fix (v1 turned off, no GUI).

Through the GUI API a scrape is a handful of requests whatever the folder count:
``getsyncfolders`` (every folder with its peers) and ``getstatuses`` side by side, plus
``version``/``getsysteminfo`` when their cache is stale, and a session token when there
is none yet. Through API v1:

1. ``get_speed`` and ``get_folders`` side by side (plus ``get_version``/``get_os`` when
   their cache is older than ``metadata_ttl``); either of the first two failing marks
   the node down with that failure as the reason.
2. For every folder not excluded in the config, ``get_folder_peers`` (and, the first
   time the folder is seen, ``get_secrets`` for its ``folder_id``; every ``metadata_ttl``,
   ``get_folder_prefs`` for its selective-sync flag), run by a fixed pool of
   ``node.max_concurrency`` workers taking the next request from one list: a node with
   20,000 folders is still a handful of tasks, cancelled at once at the deadline. A
   failed get_folder_peers leaves ``peers=None`` for that folder only.

The whole node is bounded by ``min(timeout, node.timeout)``: a node that never answers
yields ``up=False, outcome=timeout`` when its budget runs out, so the scrape still answers
in time. Concurrent scrapes of one node share the fetch in flight (singleflight); a fetch
that has finished is never reused, so no scrape returns stale data.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar

from sync_exporter.client import RequestObserver, SyncClient
from sync_exporter.config import NodeConfig
from sync_exporter.errors import SyncError
from sync_exporter.folder_id import cache_key, folder_id
from sync_exporter.gui_client import GuiClient
from sync_exporter.gui_model import GuiFolderEntry
from sync_exporter.model import (
    FolderEntry,
    FolderSnapshot,
    NodeSnapshot,
    Outcome,
    SharedSecrets,
    Speed,
)
from sync_exporter.node_http import NodeHTTP

_log = logging.getLogger(__name__)


class _NodeReader(Protocol):
    """What both API clients answer alike: the node's speed, version and OS."""

    async def get_speed(self) -> Speed: ...

    async def get_version(self) -> str: ...

    async def get_os(self) -> str: ...


#: A folder listing: API v1's entries or the GUI's folders.
L = TypeVar("L")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Cached:
    """A metadata value (version, OS) and the clock time it was fetched."""

    value: str
    fetched_at: float


@dataclass(slots=True)
class _NodeState:
    """What the scraper keeps between scrapes for one node (mutable by nature).

    Tied to one NodeConfig: when a reload changes the node, a fresh state (and connections)
    replaces it, so nothing learned from the old URL or credentials carries over.
    """

    config: NodeConfig
    http: NodeHTTP | None = None
    client: SyncClient | None = None
    gui: GuiClient | None = None
    #: The API this node is read through (``v1``/``gui``), None until ``auto`` decides.
    api: str | None = None
    #: Why that API, in words for ``check`` and the log.
    api_reason: str | None = None
    inflight: asyncio.Task[NodeSnapshot] | None = None
    #: Loop time the fetch in flight gives up: the latest deadline of the scrapes sharing it.
    inflight_deadline: float = 0.0
    #: The running fetch's timeout, so a scrape with a later deadline can push it back.
    inflight_limit: asyncio.Timeout | None = None
    version: _Cached | None = None
    os: _Cached | None = None
    #: cache_key(held secret) -> folder_id, for the folders seen in the latest scrape.
    folder_ids: dict[str, str] = field(default_factory=dict)
    #: cache_key(held secret) -> selective-sync flag and when it was read (get_folder_prefs
    #: changes rarely, so it is refreshed every ``metadata_ttl`` like the version).
    selective: dict[str, _CachedFlag] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _CachedFlag:
    """A folder's selective-sync flag (None: the node did not say) and when it was read."""

    value: bool | None
    fetched_at: float


class Scraper:
    """Turns configured nodes into snapshots; owns the connections to each node.

    ``clock`` stamps snapshots and ages the version/OS cache (inject a fake in tests).
    """

    def __init__(
        self,
        *,
        observer: RequestObserver | None = None,
        clock: Callable[[], float] = time.time,
        metadata_ttl: float = 300.0,
    ) -> None:
        self._observer = observer
        self._clock = clock
        self._metadata_ttl = metadata_ttl
        self._nodes: dict[str, _NodeState] = {}
        self._last: dict[str, NodeSnapshot] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def scrape(
        self,
        nodes: Sequence[NodeConfig],
        *,
        timeout: float,  # noqa: ASYNC109 - a budget per node, not one for the whole call
    ) -> list[NodeSnapshot]:
        """Scrape ``nodes`` concurrently, each within ``min(timeout, node.timeout)`` seconds.

        ``timeout`` is what the caller has left (the scrape timeout minus a margin).
        Never raises for a node failure: that node's snapshot has ``up=False`` and a reason.
        """
        return list(await asyncio.gather(*(self._scrape_one(node, timeout) for node in nodes)))

    def last(self) -> Mapping[str, NodeSnapshot]:
        """The latest finished snapshot of every node scraped so far (for the landing page)."""
        return MappingProxyType(self._last)

    async def forget(self, keep: Collection[str]) -> None:
        """Drop the state of nodes not named in ``keep`` and close their connections.

        Call after a reload removed nodes, so their connections do not linger. Returns at
        once: a node's connections are closed in the background when its fetch in flight
        (bounded by its deadline) is over, so a reload never waits for a slow node.
        """
        for name in [n for n in self._nodes if n not in keep]:
            self._retire(self._nodes[name])
        for name in [n for n in self._last if n not in keep]:
            del self._last[name]
        await asyncio.sleep(0)  # let nodes with nothing in flight close now

    def reconsider_apis(self) -> None:
        """Let ``auto`` choose each node's API again at its next scrape (after a reload).

        A node upgraded or reconfigured since the choice (an API key added or removed)
        is then read through the API that now works, without a restart.
        """
        for state in self._nodes.values():
            if state.config.api == "auto":
                state.api = state.api_reason = None

    async def close(self) -> None:
        """Cancel fetches in flight and close every connection."""
        states = list(self._nodes.values())
        self._nodes.clear()
        for state in states:
            if state.inflight is not None:
                state.inflight.cancel()
            self._retire(state)
        await self._drain_closing()

    # -- singleflight and deadlines ---------------------------------------------------

    async def _scrape_one(self, node: NodeConfig, left: float) -> NodeSnapshot:
        budget = min(left, node.timeout)
        if budget <= 0:
            return _down(node, Outcome.TIMEOUT, "no time left for this node", 0.0, self._clock())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        state = self._state(node)
        task = state.inflight
        if task is None or task.done():
            state.inflight_deadline = deadline
            task = asyncio.create_task(
                self._fetch(state, budget, deadline), name=f"scrape {node.name}"
            )
            state.inflight = task
        elif deadline > state.inflight_deadline:
            # Joining a fetch that would give up before we must: let it run until our
            # deadline, so our result depends on our budget and not on who came first.
            state.inflight_deadline = deadline
            limit = state.inflight_limit
            if limit is not None and not limit.expired():
                limit.reschedule(deadline)
        started = time.perf_counter()
        try:
            # Each scrape waits for the shared fetch at most until its own deadline.
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(task)
        except TimeoutError:
            if task.done() and not task.cancelled():
                return task.result()  # it ended at the same instant: same verdict, its detail
            # The shared fetch carries on for the scrapes with a later deadline.
            message = f"timed out after {budget:g}s"
            elapsed = time.perf_counter() - started
            return _down(node, Outcome.TIMEOUT, message, elapsed, self._clock())
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                elapsed = time.perf_counter() - started
                return _down(node, Outcome.TIMEOUT, "scrape cancelled", elapsed, self._clock())
            raise

    def _state(self, node: NodeConfig) -> _NodeState:
        state = self._nodes.get(node.name)
        if state is not None and state.config != node:
            self._retire(state)  # config changed on reload: new connections, empty caches
            state = None
        if state is None:
            state = _NodeState(config=node)
            self._nodes[node.name] = state
        return state

    def _retire(self, state: _NodeState) -> None:
        """Close ``state``'s connections once its fetch in flight (if any) has finished."""
        if self._nodes.get(state.config.name) is state:
            del self._nodes[state.config.name]
        task = asyncio.create_task(_close_state(state), name=f"close {state.config.name}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _drain_closing(self) -> None:
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _fetch(self, state: _NodeState, budget: float, deadline: float) -> NodeSnapshot:
        """Scrape one node until ``state.inflight_deadline``; always returns a snapshot.

        ``budget`` and ``deadline`` are the starting scrape's; a scrape that joins with a
        later deadline moves ``state.inflight_deadline`` (and this fetch's timeout) on.
        """
        node = state.config
        started = time.perf_counter()

        def down(outcome: Outcome, message: str) -> NodeSnapshot:
            return _down(node, outcome, message, time.perf_counter() - started, self._clock())

        try:
            async with asyncio.timeout_at(max(deadline, state.inflight_deadline)) as limit:
                state.inflight_limit = limit
                snapshot = await self._collect(state, started)
        except TimeoutError:
            total = budget + max(0.0, state.inflight_deadline - deadline)
            snapshot = down(Outcome.TIMEOUT, f"timed out after {round(total, 3):g}s")
        except SyncError as err:
            snapshot = down(err.outcome, str(err))
        except Exception as exc:  # a bug must not take every other node's series down
            kind = type(_leaf(exc)).__name__
            # The traceback's frames only (code, never values), since a value could be a secret.
            _log.error(
                "unexpected error while scraping a node",
                extra={"node": node.name, "err": kind, "where": _frames(exc)},
            )
            snapshot = down(
                Outcome.INVALID_RESPONSE, f"internal error ({kind}); see the exporter log"
            )
        state.inflight_limit = None
        _log.debug(
            "node scraped",
            extra={
                "node": node.name,
                "up": snapshot.up,
                "outcome": snapshot.outcome.value if snapshot.outcome else "success",
                "seconds": round(snapshot.duration_seconds, 6),
            },
        )
        if self._nodes.get(node.name) is state:  # not replaced by a reload meanwhile
            self._last[node.name] = snapshot
        return snapshot

    # -- one node ---------------------------------------------------------------------

    def _http(self, state: _NodeState) -> NodeHTTP:
        if state.http is None:
            state.http = NodeHTTP(state.config)
        return state.http

    def _client(self, state: _NodeState) -> SyncClient:
        if state.client is None:
            state.client = SyncClient(state.config, self._http(state), self._observer)
        return state.client

    def _gui_client(self, state: _NodeState) -> GuiClient:
        if state.gui is None:
            state.gui = GuiClient(state.config, self._http(state), self._observer)
        return state.gui

    async def _collect(self, state: _NodeState, started: float) -> NodeSnapshot:
        """Read the node through the API its config names, or the one ``auto`` chose."""
        snapshot = await self._collect_any(state, started)
        return replace(snapshot, api_reason=state.api_reason)

    async def _collect_any(self, state: _NodeState, started: float) -> NodeSnapshot:
        node = state.config
        if node.api == "gui" or (node.api == "auto" and state.api == "gui"):
            if state.api is None:
                _choose(state, "gui", "api: gui in the config")
            try:
                return await self._collect_gui(state, started)
            except SyncError as err:
                if node.api == "auto" and err.outcome is Outcome.HTTP_ERROR:
                    # No usable GUI here (404, a refused session): ask API v1 next time.
                    state.api = state.api_reason = None
                raise
        try:
            snapshot = await self._collect_v1(state, started)
        except SyncError as err:
            if node.api != "auto" or err.outcome is not Outcome.API_DISABLED:
                raise
            _choose(state, "gui", "API v1 is disabled on the node (HTTP 400, no webui.api_key)")
            try:
                return await self._collect_gui(state, started)
            except SyncError as gui_err:
                if gui_err.outcome is not Outcome.HTTP_ERROR:
                    raise  # e.g. a wrong Web UI password: the GUI's own reason is the news
                state.api = state.api_reason = None
                raise SyncError(
                    f"{err}; the web GUI API failed too: {gui_err}", outcome=Outcome.API_DISABLED
                ) from gui_err
        if state.api != "v1":
            _choose(state, "v1", "api: v1 in the config" if node.api == "v1" else "API v1 answered")
        return snapshot

    async def _first_round(
        self, state: _NodeState, client: _NodeReader, listing: Callable[[], Awaitable[L]]
    ) -> tuple[L, Speed]:
        """The requests every scrape starts with, whichever the API: the folder listing and
        the speed side by side, plus version and OS when their cache is stale.

        Either of the first two failing fails the node (speed's reason first); a failed
        version or OS keeps the cached value and is retried next scrape.
        """
        now = self._clock()
        async with asyncio.TaskGroup() as group:
            speed_task = group.create_task(_attempt(client.get_speed()))
            listing_task = group.create_task(_attempt(listing()))
            version_task = os_task = None
            if _stale(state.version, now, self._metadata_ttl):
                version_task = group.create_task(_attempt(client.get_version()))
            if _stale(state.os, now, self._metadata_ttl):
                os_task = group.create_task(_attempt(client.get_os()))
        speed, found = speed_task.result(), listing_task.result()
        if isinstance(speed, SyncError):
            raise speed
        if isinstance(found, SyncError):
            raise found
        state.version = _refresh(state.version, version_task, now)
        state.os = _refresh(state.os, os_task, now)
        return found, speed

    async def _collect_gui(self, state: _NodeState, started: float) -> NodeSnapshot:
        node = state.config
        client = self._gui_client(state)
        listing, speed = await self._first_round(state, client, client.get_sync_folders)
        folders = tuple(
            _gui_folder(node, entry) for entry in listing.items if not _excluded(node, entry.dir)
        )
        return self._up(state, started, speed, folders, "gui")

    async def _collect_v1(self, state: _NodeState, started: float) -> NodeSnapshot:
        node = state.config
        client = self._client(state)
        now = self._clock()
        entries, speed = await self._first_round(state, client, client.get_folders)

        kept = [e for e in entries if not _excluded(node, e.dir)]
        plan = _FanOut.plan(state, client, kept, now, self._metadata_ttl)
        await plan.run(max(node.max_concurrency, 1))
        folder_ids: dict[str, str] = {}
        selective: dict[str, _CachedFlag] = {}
        folders = []
        for index, entry in enumerate(kept):
            folders.append(plan.folder(state, index, entry, folder_ids, selective, now))
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)  # thousands of folders: let /-/healthy through
        # Only folders present now are kept: the caches stay bounded.
        state.folder_ids = folder_ids
        state.selective = selective
        return self._up(state, started, speed, tuple(folders), "v1")

    def _up(
        self,
        state: _NodeState,
        started: float,
        speed: Speed,
        folders: tuple[FolderSnapshot, ...],
        api: str,
    ) -> NodeSnapshot:
        """The snapshot of a node that answered, whichever API it was read through."""
        return NodeSnapshot(
            node=state.config.name,
            up=True,
            duration_seconds=time.perf_counter() - started,
            version=state.version.value if state.version else None,
            os=state.os.value if state.os else None,
            download_speed=speed.download,
            upload_speed=speed.upload,
            folders=folders,
            timestamp=self._clock(),
            api=api,
        )


#: Folders handled between two yields to the event loop when assembling snapshots.
_YIELD_EVERY = 500

#: Marks a per-folder answer that was not asked for this scrape (None is an answer).
_NOT_ASKED: Final = object()

#: Marks a per-folder request that failed (already counted by the observer). Not the
#: SyncError itself: its traceback holds the failed request's frames, and with them up
#: to a whole response budget of buffers, for every failed folder until the scrape ends.
_FAILED: Final = object()


@dataclass(slots=True)
class _FanOut:
    """The per-folder requests of one v1 scrape, run by a fixed pool of workers.

    A node with thousands of folders gets ``max_concurrency`` worker tasks that take
    the next request from one shared list, not a task per request waiting on a
    semaphore: the loop schedules a handful of tasks, and cancelling the scrape at its
    deadline cancels only those (the old way took seconds for 20,000 folders, and the
    event loop, ``/-/healthy`` and SIGTERM with it).
    """

    #: (call, secret, results list, folder index), in folder order.
    jobs: list[tuple[Callable[[str], Awaitable[Any]], str, list[Any], int]]
    #: Answers by folder index; _FAILED for a failure, _NOT_ASKED where none was due.
    peers: list[Any]
    secrets: list[Any]
    prefs: list[Any]
    keys: list[str]

    @staticmethod
    def plan(
        state: _NodeState,
        client: SyncClient,
        kept: Sequence[FolderEntry],
        now: float,
        ttl: float,
    ) -> _FanOut:
        """get_folder_peers for every folder; get_secrets and get_folder_prefs when due."""
        count = len(kept)
        plan = _FanOut([], [_NOT_ASKED] * count, [_NOT_ASKED] * count, [_NOT_ASKED] * count, [])
        for index, entry in enumerate(kept):
            key = cache_key(entry.secret)
            plan.keys.append(key)
            plan.jobs.append((client.get_folder_peers, entry.secret, plan.peers, index))
            if key not in state.folder_ids:
                plan.jobs.append((client.get_secrets, entry.secret, plan.secrets, index))
            flag = state.selective.get(key)
            if flag is None or now - flag.fetched_at >= ttl:
                plan.jobs.append((client.get_folder_selective, entry.secret, plan.prefs, index))
        return plan

    async def run(self, workers: int) -> None:
        """Run every job, at most ``workers`` at a time; a failure is stored, not raised."""
        queue = iter(self.jobs)

        async def worker() -> None:
            for call, secret, results, index in queue:  # one shared iterator: no job twice
                try:
                    results[index] = await call(secret)
                except SyncError:
                    results[index] = _FAILED

        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(self.jobs))):
                group.create_task(worker())

    def folder(
        self,
        state: _NodeState,
        index: int,
        entry: FolderEntry,
        folder_ids: dict[str, str],
        selective: dict[str, _CachedFlag],
        now: float,
    ) -> FolderSnapshot:
        """The snapshot of folder ``index`` from its answers and the caches."""
        key = self.keys[index]
        known = state.folder_ids.get(key)
        flag = state.selective.get(key)
        fresh = self.prefs[index]
        if fresh is not _NOT_ASKED and fresh is not _FAILED:  # a failure keeps
            flag = _CachedFlag(fresh, now)  # the last known flag
        if flag is not None:
            selective[key] = flag
        if known is None:
            shared = self.secrets[index]
            if isinstance(shared, SharedSecrets):
                known_id = folder_id(entry.secret, shared)
                folder_ids[key] = known_id
            else:  # failed: counted by the observer, retried next scrape
                known_id = folder_id(entry.secret, None)
        else:
            known_id = known
            folder_ids[key] = known_id
        peers = self.peers[index]
        rule = state.config.folders.get(entry.dir)
        return FolderSnapshot(
            folder=rule.alias if rule is not None and rule.alias else entry.dir,
            dir=entry.dir,
            folder_id=known_id,
            type=entry.type,
            size_bytes=entry.size_bytes,
            files=entry.files,
            error_code=entry.error_code,
            indexing=entry.indexing,
            peers=None if peers is _FAILED else peers,
            selective=flag.value if flag is not None else None,
        )


def _choose(state: _NodeState, api: str, reason: str) -> None:
    """Record (and log once) the API a node is read through from now on.

    Switching APIs forgets the cached version and OS: each API words them its own way.
    """
    if state.api is not None and state.api != api:
        state.version = state.os = None
    state.api, state.api_reason = api, reason
    _log.info("node API chosen", extra={"node": state.config.name, "api": api, "reason": reason})


def _gui_folder(node: NodeConfig, entry: GuiFolderEntry) -> FolderSnapshot:
    """Label a GUI folder like a v1 one: alias, and the fleet-wide ``folder_id``.

    The GUI hands out the read-only secret with the folder, which is what a v1 node's
    get_secrets gives for a plain share, so both APIs agree on its ``folder_id``.
    """
    rule = node.folders.get(entry.dir)
    shared = SharedSecrets(read_only=entry.read_only_secret)
    return FolderSnapshot(
        folder=rule.alias if rule is not None and rule.alias else entry.dir,
        dir=entry.dir,
        folder_id=folder_id(entry.held_secret, shared),
        type=entry.type,
        size_bytes=entry.size_bytes,
        files=entry.files,
        error_code=entry.error_code,
        indexing=entry.indexing,
        peers=entry.peers,
        selective=entry.selective,
        gui=entry.state,
    )


async def _attempt(awaitable: Awaitable[T]) -> T | SyncError:
    """Await and hand back a SyncError as a value, so siblings in a TaskGroup keep going."""
    try:
        return await awaitable
    except SyncError as err:
        return err


def _stale(cached: _Cached | None, now: float, ttl: float) -> bool:
    return cached is None or now - cached.fetched_at >= ttl


def _refresh(
    cached: _Cached | None, task: asyncio.Task[str | SyncError] | None, now: float
) -> _Cached | None:
    """Keep the old value unless a fresh one arrived; a failure is retried next scrape."""
    if task is None:
        return cached
    result = task.result()
    if isinstance(result, SyncError):
        return cached
    return _Cached(result, now)


def _excluded(node: NodeConfig, directory: str) -> bool:
    rule = node.folders.get(directory)
    return rule is not None and rule.exclude


def _down(
    node: NodeConfig, outcome: Outcome, message: str, seconds: float, now: float
) -> NodeSnapshot:
    return NodeSnapshot(
        node=node.name,
        up=False,
        duration_seconds=seconds,
        outcome=outcome,
        error=message,
        timestamp=now,
    )


def _leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (possibly nested) TaskGroup exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _frames(exc: BaseException) -> str:
    """Where ``exc`` was raised: file, line and function of each frame, no message."""
    leaf = _leaf(exc)
    summary = traceback.extract_tb(leaf.__traceback__)
    return " <- ".join(f"{f.name} ({f.filename}:{f.lineno})" for f in reversed(summary))


async def _close_state(state: _NodeState) -> None:
    if state.inflight is not None and not state.inflight.done():
        await asyncio.wait([state.inflight])
    if state.http is not None:
        await state.http.close()
