"""The world: every fleet node's :class:`NodeState`, evolved over simulated time.

The NodeStates are the truth that the API serves and that tests compare the exporter's
output against; this module is the only thing that moves them forward in time. It does
so in fixed ticks (:data:`TICK` seconds of simulated time), so the outcome depends only
on the scenario, the seed and how far time moved, never on how the steps were batched
or how fast the machine is.

The model, per shared folder (each scenario folder):

- *Participants* are the fleet nodes that hold the folder (*holders*) and the external
  peers declared with it. Each has ``have``: bytes of the folder it holds. The complete
  folder has ``total`` bytes; a read-write holder with ``growth`` adds to both.
- A holder is *online* while its node is not DOWN and the folder still exists on it.
  Two online holders are connected (both list the other in ``get_folder_peers``; the
  connection is ``relay`` when either node is ``relay: true``); an external peer is
  connected to its listed holders between ``joins_at`` and ``leaves_at``.
- Each tick, every lagging participant fetches up to ``rate`` bytes (with a seeded
  jitter of +-25 %) from the connected participants that have more, split evenly. The
  receiver's per-peer ``download`` and the sender's per-peer ``upload`` grow by the same
  bytes; node speeds are the bytes moved during the last tick.
- A holder that is indexing, or whose folder has an error code, neither sends nor
  receives (it stays connected). A stalled folder moves nothing at all.
- ``synced`` of peer p on node n is set to the current time on every tick where both
  hold the complete folder and are healthy; it stays 0 until that first happens, and
  otherwise keeps the time of the last tick they were both complete.
- Encrypted holders hold the same bytes as everybody else; ``size`` reports that data
  size (a real encrypted peer stores slightly more; nothing here needs the difference).
- ``files`` follows the bytes received (proportionally; exactly the folder's count once
  complete) and changes only when the bytes held do.

What only the GUI API shows, kept consistent with the transfer model:

- ``pending_down_bytes/files`` of a copy is what it lacks of the complete folder, so a
  converging copy's queue shrinks to 0 and a stalled one keeps its bytes;
  ``pending_up_bytes/files`` is what its connected peers that can receive (not paused,
  indexing or in error) lack of what it holds.
- A paused copy neither sends nor receives (it stays connected, like a folder error).
- A node with ``disk_free`` has a volume whose free space (every folder's
  ``available_space``) goes down by the bytes its copies gain and by ``disk_fill`` per
  second; at 0 its copies stop receiving (and writing).
- A node with ``api_key: false`` keeps every peer it has seen in its folders' peer
  lists, the departed ones with ``online`` false and ``last_seen`` the last tick they
  were connected, as a real 2.x/3.x node's GUI shows them. Other nodes list only the
  connected peers (API v1 shows no others).
- Per-folder ``down_speed``/``up_speed`` are the bytes that copy moved during the last tick.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync_exporter.simulator import secrets
from sync_exporter.simulator.clock import Clock, ManualClock
from sync_exporter.simulator.scenario import (
    EventKind,
    EventSpec,
    FolderSpec,
    HolderSpec,
    PeerSpec,
    Scenario,
)
from sync_exporter.simulator.state import (
    Connection,
    FaultMode,
    Faults,
    FolderState,
    NodeState,
    PeerState,
    default_prefs,
)

#: Simulated seconds per evolution step.
TICK = 1.0
#: A realtime world that falls further behind than this (a suspended laptop) skips ahead.
MAX_CATCH_UP_TICKS = 3600

#: Fault mode set by each HTTP fault event.
_FAULT_EVENTS: dict[EventKind, FaultMode] = {
    EventKind.HANG: FaultMode.HANG,
    EventKind.UNAUTHORIZED: FaultMode.UNAUTHORIZED,
    EventKind.SERVER_ERROR: FaultMode.SERVER_ERROR,
    EventKind.INVALID_JSON: FaultMode.INVALID_JSON,
    EventKind.TRUNCATED: FaultMode.TRUNCATED,
}

#: Called with (node name, down) when a node's listener must close or reopen.
ListenerHook = Callable[[str, bool], None]


class WorldError(ValueError):
    """A request names something the world does not have; the message says what."""


@dataclass(slots=True, eq=False, kw_only=True)
class _Participant:
    """One copy of a shared folder: a fleet holder or an external peer."""

    key: str  # node name, or "peer:" + external peer name
    peer_id: str
    name: str  # device name as the others list it
    have: int
    relay: bool = False


@dataclass(slots=True, eq=False, kw_only=True)
class _Holder(_Participant):
    """A fleet node's copy; the node's FolderState is looked up by ``secret`` every tick."""

    state: NodeState
    secret: str
    shared: str  # the scenario folder name
    #: Bytes scanned while indexing; None when not indexing.
    scan: int | None = None
    stuck: bool = False
    growth_bytes: int = 0
    growth_files_per_second: float = 0.0
    files_carry: float = 0.0
    #: Files held; changes only when ``have`` does, so a copy that stands still keeps its count.
    files: int = 0
    paused: bool = False
    #: Bytes held at time 0 (what the copy gained since then is taken from its volume).
    initial: int = 0
    #: The node has no room left: the copy neither receives nor writes.
    disk_full: bool = False
    #: This node's PeerState for each other participant (kept across disconnects).
    links: dict[str, PeerState] = field(default_factory=dict)

    def folder(self) -> FolderState | None:
        """Return the node's folder, or None when it was removed."""
        return self.state.folders.get(self.secret)

    def online(self) -> bool:
        """True while the node is reachable and still holds the folder."""
        return self.state.faults.mode is not FaultMode.DOWN and self.secret in self.state.folders

    def healthy(self) -> bool:
        """True when it can send and receive: online, not indexing, no folder error."""
        folder = self.state.folders.get(self.secret)
        return (
            folder is not None
            and folder.error == 0
            and self.scan is None
            and not self.paused
            and self.state.faults.mode is not FaultMode.DOWN
        )


@dataclass(slots=True, eq=False, kw_only=True)
class _External(_Participant):
    """A peer outside the fleet; nobody can ask it anything, so only its ``have`` is kept."""

    spec: PeerSpec
    joined: bool = False


@dataclass(slots=True, eq=False)
class _FleetFolder:
    """A scenario folder across the fleet."""

    spec: FolderSpec
    secrets: secrets.SecretSet
    total: int
    total_files: int
    holders: dict[str, _Holder]
    externals: dict[str, _External]
    stalled: bool
    #: Every copy by key: the holders, then the external peers.
    participants: dict[str, _Participant] = field(default_factory=dict)
    #: Which copies were online at the last tick, and who was connected to whom then.
    signature: tuple[Any, ...] = ()
    links: dict[str, list[_Participant]] = field(default_factory=dict)

    def files_of(self, have: int) -> int:
        """Return the file count of a copy holding ``have`` bytes."""
        if have >= self.total or self.total == 0:
            return self.total_files
        return self.total_files * have // self.total


class World:
    """Every node's state and the one place that moves it through simulated time."""

    def __init__(self, scenario: Scenario, *, seed: int = 0, clock: Clock | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.started_at = self.clock.now()
        self.nodes: dict[str, NodeState] = {}
        self.on_listener_change: ListenerHook | None = None
        self._rng = random.Random(seed)
        self._ticks = 0
        self._events = list(scenario.events)
        self._next_event = 0
        self._peer_ids: dict[str, str] = {}
        self._relay = {n.name: n.relay for n in scenario.nodes}
        #: Nodes whose GUI keeps departed peers listed (no API key: 2.x/3.x read via the GUI).
        self._keeps_peers = {n.name for n in scenario.nodes if not n.api_key}
        self._disks = {n.name: n for n in scenario.nodes if n.disk_free is not None}
        for spec in scenario.nodes:
            state = NodeState(name=spec.name, version=spec.version, os=spec.os, build=spec.build)
            state.prefs = default_prefs(spec.device_name)
            if spec.down:
                state.faults.mode = FaultMode.DOWN
            self.nodes[spec.name] = state
            # A GUI-only node draws its id from a stream of its own, so adding one to a
            # scenario leaves every other node's id and every folder secret as it was.
            rng = self._rng if spec.api_key else random.Random(f"{seed}/node/{spec.name}")
            self._peer_ids[spec.name] = secrets.peer_id(rng)
        self._shared: dict[str, _FleetFolder] = {
            spec.name: self._share(spec) for spec in scenario.folders
        }
        #: (node, secret) -> scenario folder name; secrets never change, so built once.
        self._names = {
            (node, holder.secret): name
            for name, shared in self._shared.items()
            for node, holder in shared.holders.items()
        }
        self._fire_due_events()
        self._step(self.started_at, moving=False)

    # ------------------------------------------------------------------ construction

    def _share(self, spec: FolderSpec) -> _FleetFolder:
        """Create the folder on every holder with consistently derived secrets."""
        kin = secrets.generate(self._rng, encryption=spec.encryption)
        holders: dict[str, _Holder] = {}
        for h in spec.holders:
            holders[h.node] = self._hold(spec, h, kin)
        externals: dict[str, _External] = {}
        for p in spec.peers:
            if p.name not in self._peer_ids:
                self._peer_ids[p.name] = secrets.peer_id(self._rng)
            externals[p.name] = _External(
                key="peer:" + p.name,
                peer_id=self._peer_ids[p.name],
                name=p.name,
                have=spec.size,
                relay=p.connection == "relay",
                spec=p,
                joined=p.joins_at <= 0 and p.leaves_at != 0,
            )
            if p.joins_at > 0:
                self._schedule(
                    EventSpec(p.joins_at, EventKind.PEER_JOIN, folder=spec.name, peer=p.name)
                )
            if p.leaves_at is not None:
                self._schedule(
                    EventSpec(p.leaves_at, EventKind.PEER_LEAVE, folder=spec.name, peer=p.name)
                )
        return _FleetFolder(
            spec=spec,
            secrets=kin,
            total=spec.size,
            total_files=spec.files,
            holders=holders,
            externals=externals,
            stalled=spec.stalled,
            participants={**holders, **{p.key: p for p in externals.values()}},
        )

    def _hold(self, spec: FolderSpec, h: HolderSpec, kin: secrets.SecretSet) -> _Holder:
        secret = {"read_write": kin.read_write, "read_only": kin.read_only}.get(
            h.mode, kin.encryption
        )
        assert secret is not None  # the D family derives every kind
        state = self.nodes[h.node]
        folder = FolderState(
            secret=secret,
            dir=h.dir,
            type=secrets.folder_type(secret),
            error=h.error,
            selective_sync=h.selective_sync,
        )
        folder.prefs["selective_sync"] = 1 if h.selective_sync else 0
        folder.synclevel = 1 if h.selective_sync else 2
        folder.paused = h.paused
        folder.date_added = int(self.started_at)
        state.folders[secret] = folder
        growth = h.growth
        return _Holder(
            key=h.node,
            peer_id=self._peer_ids[h.node],
            name=str(state.prefs["device_name"]),
            have=h.size,
            relay=self._relay[h.node],
            state=state,
            secret=secret,
            shared=spec.name,
            scan={"no": None, "running": 0, "stuck": h.size}[h.indexing],
            stuck=h.indexing == "stuck",
            growth_bytes=growth.bytes_per_second if growth else 0,
            growth_files_per_second=growth.files_per_hour / 3600 if growth else 0.0,
            files=h.files,
            paused=h.paused,
            initial=h.size,
        )

    def _schedule(self, event: EventSpec) -> None:
        """Insert a generated event, keeping the list sorted and stable."""
        index = len(self._events)
        while index > self._next_event and self._events[index - 1].at > event.at:
            index -= 1
        self._events.insert(index, event)

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        """The clock's current time."""
        return self.clock.now()

    @property
    def elapsed(self) -> float:
        """Simulated seconds evolved since the start (a whole number of ticks)."""
        return self._ticks * TICK

    def advance(self, seconds: float) -> None:
        """Move a ManualClock forward by ``seconds`` and evolve every tick that passed."""
        if not isinstance(self.clock, ManualClock):
            raise WorldError("advance needs a ManualClock; this world follows the wall clock")
        if not math.isfinite(seconds) or seconds < 0:
            raise WorldError(f"seconds must be a finite number >= 0, got {seconds}")
        self.clock.advance(seconds)
        self.catch_up(limit=None)  # every tick: the outcome must not depend on the batching

    def move_to_present(self) -> None:
        """Move an unstarted world's ManualClock to the wall clock (a realtime fleet).

        Only before the first tick: the start itself moves, so scheduled events keep
        their offsets and ``synced`` stamps are in the present, not in 2026-01-01.
        """
        if self._ticks or not isinstance(self.clock, ManualClock):
            raise WorldError("only a world that has not moved, on a ManualClock, can be rebased")
        shift = time.time() - self.clock.now()
        if shift <= 0:
            return
        self.clock.advance(shift)
        self.started_at = self.clock.now()
        for state in self.nodes.values():
            for folder in state.folders.values():
                folder.date_added = int(self.started_at)
        self._step(self.started_at, moving=False)

    def catch_up(self, *, limit: int | None = MAX_CATCH_UP_TICKS) -> int:
        """Evolve the ticks due by the clock's current time; return how many ran.

        With a ``limit`` (the realtime default), a world further behind than that skips
        the oldest ticks: their events still fire, but nothing moves during them. A
        manual ``advance`` passes None, since skipping would make its outcome depend
        on how the time was batched.
        """
        # The epsilon keeps sums of fractional steps (0.1 * 10) from landing a hair short.
        due = int((self.clock.now() - self.started_at + 1e-6) // TICK) - self._ticks
        if limit is not None and due > limit:
            self._ticks += due - limit
            due = limit
        for _ in range(max(0, due)):
            self._ticks += 1
            self._fire_due_events()
            self._step(self.started_at + self._ticks * TICK, moving=True)
        return max(0, due)

    def _fire_due_events(self) -> None:
        while self._next_event < len(self._events) and self._events[self._next_event].at <= (
            self.elapsed
        ):
            event = self._events[self._next_event]
            self._next_event += 1
            self.apply(event)

    # ------------------------------------------------------------------ events

    def apply(self, event: EventSpec) -> None:
        """Make ``event`` happen now (scheduled events and the control API both use this)."""
        kind = event.kind
        if kind in (EventKind.NODE_DOWN, EventKind.NODE_UP, EventKind.SLOW, EventKind.CLEAR):
            self._node_event(event)
        elif kind is EventKind.EXPIRE_SESSIONS:
            self.expire_gui_sessions(self._node_name(event.node))
        elif kind in _FAULT_EVENTS:
            self.set_fault(self._node_name(event.node), _FAULT_EVENTS[kind], methods=event.methods)
        elif kind in (EventKind.STALL, EventKind.RESUME):
            self.set_stalled(event.folder or "", kind is EventKind.STALL)
        elif kind in (EventKind.PEER_JOIN, EventKind.PEER_LEAVE):
            shared = self._folder(event.folder)
            peer = shared.externals.get(event.peer or "")
            if peer is None:
                raise WorldError(f"folder {shared.spec.name!r} has no peer {event.peer!r}")
            peer.joined = kind is EventKind.PEER_JOIN
        else:
            self._holder_event(event)

    def _node_event(self, event: EventSpec) -> None:
        name = self._node_name(event.node)
        faults = self.nodes[name].faults
        if event.kind is EventKind.NODE_DOWN:
            self.set_fault(name, FaultMode.DOWN, delay=faults.delay)
        elif event.kind is EventKind.NODE_UP:
            if faults.mode is FaultMode.DOWN:
                self.set_fault(name, FaultMode.NONE, delay=faults.delay)
        elif event.kind is EventKind.SLOW:
            faults.delay = event.delay
        else:
            self.set_fault(name, FaultMode.NONE)

    def _holder_event(self, event: EventSpec) -> None:
        shared = self._folder(event.folder)
        if event.node is not None:
            holder = shared.holders.get(event.node)
            if holder is None:
                raise WorldError(f"node {event.node!r} does not hold {shared.spec.name!r}")
            holders = [holder]
        else:
            holders = list(shared.holders.values())
        for holder in holders:
            folder = holder.folder()
            if event.kind is EventKind.FOLDER_ERROR:
                if folder is not None:
                    self.set_folder_error(holder.key, holder.secret, event.code)
            elif event.kind is EventKind.INDEXING_STUCK:
                self.set_indexing(holder, "stuck")
            elif event.kind is EventKind.INDEXING_DONE:
                self.set_indexing(holder, "done")
            elif event.kind is EventKind.REMOVE_FOLDER:
                self.remove_folder(holder.key, holder.secret)
            elif event.kind in (EventKind.PAUSE, EventKind.UNPAUSE):
                self.set_paused(holder, event.kind is EventKind.PAUSE)

    def set_fault(
        self,
        node: str,
        mode: FaultMode,
        *,
        delay: float = 0.0,
        methods: Iterable[str] = (),
    ) -> None:
        """Replace ``node``'s HTTP faults, and tell the fleet when it goes down or comes up."""
        state = self.nodes[self._node_name(node)]
        was_down = state.faults.mode is FaultMode.DOWN
        state.faults = Faults(mode=mode, delay=delay, methods=frozenset(methods))
        is_down = mode is FaultMode.DOWN
        if was_down != is_down and self.on_listener_change is not None:
            self.on_listener_change(node, is_down)

    def expire_gui_sessions(self, node: str) -> None:
        """Expire every current GUI session of ``node`` (next action: ``{"status": 401}``).

        The sessions live in the node's HTTP side; moving its ``gui_epoch`` on tells that
        side, which expires them before it answers its next GUI request.
        """
        self.nodes[self._node_name(node)].gui_epoch += 1

    def set_folder_error(self, node: str, secret: str, code: int) -> None:
        """Set the error code of the folder ``node`` holds under ``secret`` (any folder)."""
        folder = self.nodes[self._node_name(node)].folders.get(secret)
        if folder is None:
            raise WorldError(f"node {node!r} holds no such folder")
        folder.error = code

    def remove_folder(self, node: str, secret: str) -> None:
        """Drop the folder ``node`` holds under ``secret``, as when it is removed there."""
        self.nodes[self._node_name(node)].folders.pop(secret, None)

    def set_indexing(self, holder: _Holder | tuple[str, str], how: str) -> None:
        """Start ("running"), freeze ("stuck") or finish ("done") indexing of one copy.

        ``holder`` is a world holder or a (folder name, node name) pair.
        """
        if isinstance(holder, tuple):
            shared = self._folder(holder[0])
            found = shared.holders.get(holder[1])
            if found is None:
                raise WorldError(f"node {holder[1]!r} does not hold {shared.spec.name!r}")
            holder = found
        if how == "done":
            holder.scan, holder.stuck = None, False
        elif how == "stuck":
            holder.scan = holder.have if holder.scan is None else holder.scan
            holder.stuck = True
        elif how == "running":
            holder.scan, holder.stuck = 0, False
        else:
            raise WorldError(f"indexing must be running, stuck or done, got {how!r}")
        self._report(holder)

    def set_paused(self, holder: _Holder | tuple[str, str], paused: bool) -> None:
        """Pause (no transfer, ``paused`` reported) or resume one copy.

        ``holder`` is a world holder or a (folder name, node name) pair.
        """
        if isinstance(holder, tuple):
            holder = self._holder(*holder)
        holder.paused = paused
        folder = holder.folder()
        if folder is not None:
            folder.paused = paused

    def _holder(self, folder: str, node: str) -> _Holder:
        shared = self._folder(folder)
        found = shared.holders.get(node)
        if found is None:
            raise WorldError(f"node {node!r} does not hold {shared.spec.name!r}")
        return found

    def set_stalled(self, folder: str, stalled: bool) -> None:
        """Stall (nothing moves, peers stay connected) or resume a shared folder."""
        self._folder(folder).stalled = stalled

    def _node_name(self, name: str | None) -> str:
        if name is None or name not in self.nodes:
            raise WorldError(f"no node named {name!r}")
        return name

    def _folder(self, name: str | None) -> _FleetFolder:
        shared = self._shared.get(name or "")
        if shared is None:
            raise WorldError(f"no shared folder named {name!r}")
        return shared

    # ------------------------------------------------------------------ lookup

    def folder_names(self) -> list[str]:
        """Return the scenario's shared folder names, in scenario order."""
        return list(self._shared)

    def folder_name_of(self, node: str, secret: str) -> str | None:
        """Return the scenario folder name of ``node``'s folder ``secret``, or None."""
        return self._names.get((node, secret))

    def secret_of(self, folder: str, node: str) -> str:
        """Return the secret ``node`` holds for scenario folder ``folder``."""
        shared = self._folder(folder)
        holder = shared.holders.get(node)
        if holder is None:
            raise WorldError(f"node {node!r} does not hold {folder!r}")
        return holder.secret

    def folder_total(self, folder: str) -> tuple[int, int]:
        """Return (bytes, files) of the complete folder now: what every copy converges to."""
        shared = self._folder(folder)
        return shared.total, shared.total_files

    def is_stalled(self, folder: str) -> bool:
        """True while nothing moves in ``folder``."""
        return self._folder(folder).stalled

    # ------------------------------------------------------------------ evolution

    def _step(self, now: float, *, moving: bool) -> None:
        """Evolve one tick ending at ``now`` (``moving`` False: only publish the state)."""
        received: dict[str, int] = dict.fromkeys(self.nodes, 0)
        sent: dict[str, int] = dict.fromkeys(self.nodes, 0)
        stamp = int(now)
        for shared in self._shared.values():
            if moving:
                self._index(shared)
                self._grow(shared)
            connected = self._connect(shared)
            movable = {
                key: p.healthy() if isinstance(p, _Holder) else True
                for key, p in shared.participants.items()
                if key in connected
            }
            total = shared.total
            lagging = any(shared.participants[k].have < total for k, ok in movable.items() if ok)
            moved: dict[str, list[int]] = {}
            if moving and lagging and not shared.stalled:
                moved = {key: [0, 0] for key in shared.holders}
                self._transfer(shared, connected, movable, received, sent, moved)
            if not shared.stalled:
                self._mark_synced(shared, connected, movable, stamp)
            for holder in shared.holders.values():
                folder = self._report(holder)
                if folder is not None:
                    # No copy that can receive lacks data: no upload queue anywhere.
                    peers = connected.get(holder.key, ()) if lagging else ()
                    speeds = moved.get(holder.key, (0, 0)) if moving else None
                    self._report_gui(shared, holder, folder, peers, movable, speeds)
        if moving:
            for name, state in self.nodes.items():
                state.download_speed = int(received[name] / TICK)
                state.upload_speed = int(sent[name] / TICK)
        self._report_disks()

    def _connect(self, shared: _FleetFolder) -> dict[str, list[_Participant]]:
        """Return who is connected to whom, and refresh peer lists when that changed.

        The answer is cached until the set of online copies changes (a node going down
        or up, a folder removed or added again, an external peer joining or leaving).
        """
        online = [h for h in shared.holders.values() if h.online()]
        joined = [p for p in shared.externals.values() if p.joined]
        signature = tuple((h.key, id(h.folder())) for h in online) + tuple(p.key for p in joined)
        if signature == shared.signature:
            return shared.links
        links: dict[str, list[_Participant]] = {h.key: [] for h in online}
        for h in online:
            links[h.key].extend(o for o in online if o is not h)
        for peer in joined:
            peers_of = [h for h in online if h.key in peer.spec.nodes]
            links[peer.key] = list(peers_of)
            for h in peers_of:
                links[h.key].append(peer)
        for holder in shared.holders.values():
            folder = holder.folder()
            if folder is None:
                continue
            now_linked = {p.key for p in links.get(holder.key, [])}
            for p in links.get(holder.key, []):
                self._link(holder, p)
            for key, link in holder.links.items():
                is_linked = key in now_linked
                if link.online and not is_linked:  # connected until the tick before this one
                    link.last_seen = int(self.started_at + max(0, self._ticks - 1) * TICK)
                link.online = is_linked
            kept = holder.links if holder.key in self._keeps_peers else {}
            folder.peers = {
                link.id: link
                for key, link in holder.links.items()
                if key in now_linked or (key in kept and link.last_seen > 0)
            }
        shared.signature, shared.links = signature, links
        return links

    def _link(self, holder: _Holder, other: _Participant) -> PeerState:
        """Return ``holder``'s PeerState for ``other``, kept so counters never go back."""
        link = holder.links.get(other.key)
        if link is None:
            relay = holder.relay or other.relay
            connection: Connection = "relay" if relay else "direct"
            link = PeerState(id=other.peer_id, name=other.name, connection=connection)
            holder.links[other.key] = link
        return link

    def _index(self, shared: _FleetFolder) -> None:
        for holder in shared.holders.values():
            if holder.scan is None or holder.stuck or not holder.online():
                continue
            holder.scan += shared.spec.index_rate * int(TICK)
            if holder.scan >= holder.have:
                holder.scan = None

    def _grow(self, shared: _FleetFolder) -> None:
        for holder in shared.holders.values():
            if not holder.growth_bytes and not holder.growth_files_per_second:
                continue
            # A writer that is itself behind waits until it has caught up: its new data
            # must extend the complete folder, or nobody could ever hold all of it.
            if not holder.healthy() or holder.have < shared.total or holder.disk_full:
                continue
            holder.files_carry += holder.growth_files_per_second * TICK
            new_files = int(holder.files_carry)
            holder.files_carry -= new_files
            shared.total += int(holder.growth_bytes * TICK)
            shared.total_files += new_files
            holder.have = shared.total
            holder.files = shared.total_files

    def _transfer(
        self,
        shared: _FleetFolder,
        connected: Mapping[str, list[_Participant]],
        movable: Mapping[str, bool],
        received: dict[str, int],
        sent: dict[str, int],
        moved: dict[str, list[int]],
    ) -> None:
        """Move bytes from those who have more to those who have less, for one tick.

        ``moved`` collects [received, sent] of this folder per holder (its GUI speeds).
        """
        participants = shared.participants
        before = {key: p.have for key, p in participants.items()}
        for key, peers in connected.items():
            receiver = participants[key]
            if not movable[key] or before[key] >= shared.total:
                continue
            if isinstance(receiver, _Holder) and receiver.disk_full:
                continue
            sources = [p for p in peers if movable[p.key] and before[p.key] > before[key]]
            if not sources:
                continue
            budget = int(shared.spec.rate * TICK * self._rng.uniform(0.75, 1.25))
            budget = min(budget, max(before[p.key] for p in sources) - before[key])
            sources.sort(key=lambda p: -before[p.key])
            shares = self._split(budget, [before[p.key] - before[key] for p in sources])
            for source, amount in zip(sources, shares, strict=True):
                if amount <= 0:
                    continue
                receiver.have += amount
                if isinstance(receiver, _Holder):
                    self._link(receiver, source).download += amount
                    received[receiver.key] += amount
                    moved[receiver.key][0] += amount
                if isinstance(source, _Holder):
                    self._link(source, receiver).upload += amount
                    sent[source.key] += amount
                    moved[source.key][1] += amount
            receiver.have = min(receiver.have, shared.total)
            if isinstance(receiver, _Holder):
                receiver.files = max(receiver.files, shared.files_of(receiver.have))

    @staticmethod
    def _split(budget: int, caps: list[int]) -> list[int]:
        """Split ``budget`` evenly over sources, none above its cap; leftovers go first-come."""
        shares = [0] * len(caps)
        left = budget
        open_ = list(range(len(caps)))
        while left > 0 and open_:
            each = max(1, left // len(open_))
            for i in list(open_):
                take = min(each, caps[i] - shares[i], left)
                shares[i] += take
                left -= take
                if shares[i] >= caps[i]:
                    open_.remove(i)
                if left <= 0:
                    break
        return shares

    def _mark_synced(
        self,
        shared: _FleetFolder,
        connected: Mapping[str, list[_Participant]],
        movable: Mapping[str, bool],
        stamp: int,
    ) -> None:
        """Stamp ``synced`` on every link between two healthy, complete copies."""
        complete = {
            key
            for key, ok in movable.items()
            if ok and shared.participants[key].have >= shared.total
        }
        for holder in shared.holders.values():
            if holder.key not in complete:
                continue
            for other in connected[holder.key]:
                if other.key in complete:
                    holder.links[other.key].synced = stamp

    def _report(self, holder: _Holder) -> FolderState | None:
        """Publish one copy's size, files and indexing flag into its node's FolderState."""
        folder = holder.folder()
        if folder is None:
            return None
        if holder.scan is None or holder.scan >= holder.have:
            folder.size, folder.files = holder.have, holder.files
        else:
            folder.size = holder.scan
            folder.files = holder.files * holder.scan // holder.have
        folder.indexing = holder.scan is not None
        return folder

    @staticmethod
    def _report_gui(
        shared: _FleetFolder,
        holder: _Holder,
        folder: FolderState,
        peers: Iterable[_Participant],
        movable: Mapping[str, bool],
        moved: Sequence[int] | None,
    ) -> None:
        """Publish what the GUI shows of one copy: its queues, and its speeds (if it moved)."""
        folder.pending_down_bytes = max(0, shared.total - holder.have)
        folder.pending_down_files = max(0, shared.total_files - holder.files)
        up_bytes = up_files = 0
        for other in peers:
            if other.have < holder.have and movable.get(other.key, False):
                up_bytes += holder.have - other.have
                up_files += max(0, holder.files - shared.files_of(other.have))
        folder.pending_up_bytes, folder.pending_up_files = up_bytes, up_files
        if moved is not None:
            folder.down_speed = int(moved[0] / TICK)
            folder.up_speed = int(moved[1] / TICK)

    def _report_disks(self) -> None:
        """Publish each modelled volume's free space; a full one stops its copies receiving."""
        if not self._disks:
            return
        used = dict.fromkeys(self._disks, 0)
        holders = [h for s in self._shared.values() for h in s.holders.values()]
        for holder in holders:
            if holder.key in used:
                used[holder.key] += holder.have - holder.initial
        free: dict[str, int] = {}
        for name, spec in self._disks.items():
            assert spec.disk_free is not None
            free[name] = max(0, spec.disk_free - used[name] - int(spec.disk_fill * self.elapsed))
            for folder in self.nodes[name].folders.values():
                folder.available_space = free[name]
        for holder in holders:
            holder.disk_full = free.get(holder.key) == 0

    # ------------------------------------------------------------------ summary

    def summary(self) -> dict[str, Any]:
        """Return a secret-free JSON view of the whole world (``GET /_sim/state``)."""
        nodes: list[dict[str, Any]] = []
        for name, state in self.nodes.items():
            folders = []
            for secret, folder in state.folders.items():
                shared_name = self.folder_name_of(name, secret)
                shared = self._shared.get(shared_name or "")
                folders.append(
                    {
                        "name": shared_name,
                        "dir": folder.dir,
                        "type": folder.type,
                        "size": folder.size,
                        "files": folder.files,
                        "error": folder.error,
                        "indexing": int(folder.indexing),
                        "stalled": bool(shared and shared.stalled),
                        "peers": [p.as_api() for p in folder.peers.values() if p.online],
                        "offline_peers": [
                            {"id": p.id, "name": p.name, "last_seen": p.last_seen}
                            for p in folder.peers.values()
                            if not p.online
                        ],
                        "paused": folder.paused,
                        "pending_down_bytes": folder.pending_down_bytes,
                        "pending_down_files": folder.pending_down_files,
                        "pending_up_bytes": folder.pending_up_bytes,
                        "pending_up_files": folder.pending_up_files,
                        "available_space": folder.available_space,
                    }
                )
            nodes.append(
                {
                    "name": name,
                    "peer_id": self._peer_ids[name],
                    "device_name": state.prefs.get("device_name", name),
                    "version": state.version,
                    "os": state.os,
                    "api_key": name not in self._keeps_peers,
                    "fault": {
                        "mode": state.faults.mode.value,
                        "delay": state.faults.delay,
                        "methods": sorted(state.faults.methods),
                    },
                    "download_speed": state.download_speed,
                    "upload_speed": state.upload_speed,
                    "folders": folders,
                }
            )
        shared_view = [
            {
                "name": name,
                "size": s.total,
                "files": s.total_files,
                "stalled": s.stalled,
                "in_sync": self.in_sync(name),
            }
            for name, s in self._shared.items()
        ]
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "time": self.now,
            "elapsed": self.elapsed,
            "nodes": nodes,
            "folders": shared_view,
        }

    def in_sync(self, folder: str) -> bool:
        """True when every holder that still has ``folder`` holds all of it."""
        shared = self._folder(folder)
        return all(
            h.have >= shared.total for h in shared.holders.values() if h.folder() is not None
        )
