"""Scenarios: a fleet of simulated nodes, their shared folders, peers and timed events, in YAML.

A scenario is pure data: it says what the world looks like at time 0 and what happens
later; :mod:`sync_exporter.simulator.world` makes it happen. Validation is strict and
complete: every problem is reported at once with its key path (``folders[1].nodes.nas.mode:
...``), unknown and duplicate keys included, because a typo in a test scenario that is
silently ignored produces a test that passes for the wrong reason.

The schema is documented in ``docs/simulator.md``; the bundled examples live in
``sync_exporter/simulator/scenarios/``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from sync_exporter import document
from sync_exporter.document import (
    DocumentError,
    Fields,
    Schema,
    describe,
    key_path,
    read_document,
)
from sync_exporter.simulator.http import DEFAULT_LOGIN, DEFAULT_PASSWORD
from sync_exporter.simulator.secrets import FolderType
from sync_exporter.simulator.state import Connection

T = TypeVar("T")
D = TypeVar("D")

#: Default transfer rate of a lagging node, in bytes per second, per folder.
DEFAULT_RATE = 4 * 1024 * 1024
#: Default indexing speed, in bytes per second.
DEFAULT_INDEX_RATE = 256 * 1024 * 1024
#: Where bundled scenarios live (package data).
_BUNDLED = "scenarios"

IndexingMode = Literal["no", "running", "stuck"]

DEFAULT_VERSION = "1.4.111"
DEFAULT_OS = "linux"


class ScenarioError(DocumentError):
    """The scenario is invalid; ``errors`` lists every problem with its key path."""


class EventKind(StrEnum):
    """What a timed event does (the ``event:`` key)."""

    NODE_DOWN = "node_down"  # the node's listener closes: connection refused, peers drop it
    NODE_UP = "node_up"
    SLOW = "slow"  # every answer delayed by ``delay`` seconds
    HANG = "hang"  # requests are accepted and never answered
    UNAUTHORIZED = "unauthorized"  # HTTP 401 whatever the credentials
    SERVER_ERROR = "server_error"  # HTTP 500
    INVALID_JSON = "invalid_json"  # HTTP 200, a body that is not JSON
    TRUNCATED = "truncated"  # HTTP 200, the body stops short of its Content-Length
    CLEAR = "clear"  # back to a healthy HTTP server (and up, if it was down)
    FOLDER_ERROR = "folder_error"  # get_folders reports ``error: code`` (0 clears)
    INDEXING_STUCK = "indexing_stuck"  # indexing 1 forever, files and size frozen
    INDEXING_DONE = "indexing_done"  # indexing finishes at once
    STALL = "stall"  # peers stay connected, nothing moves
    RESUME = "resume"  # a stalled folder moves again
    PEER_JOIN = "peer_join"  # an external peer connects
    PEER_LEAVE = "peer_leave"  # an external peer disconnects
    REMOVE_FOLDER = "remove_folder"  # the folder disappears from the node
    PAUSE = "pause"  # the folder is paused: it neither sends nor receives
    UNPAUSE = "unpause"
    EXPIRE_SESSIONS = "expire_sessions"  # every GUI session's next action: {"status": 401}


#: The keys of each event kind: ``at`` and ``event``, then its own (required ones first).
_EVENT_KEYS: dict[EventKind, Schema] = {
    EventKind.NODE_DOWN: Schema(("at", "event", "node")),
    EventKind.NODE_UP: Schema(("at", "event", "node")),
    EventKind.SLOW: Schema(("at", "event", "node", "delay")),
    EventKind.HANG: Schema(("at", "event", "node"), ("methods",)),
    EventKind.UNAUTHORIZED: Schema(("at", "event", "node"), ("methods",)),
    EventKind.SERVER_ERROR: Schema(("at", "event", "node"), ("methods",)),
    EventKind.INVALID_JSON: Schema(("at", "event", "node"), ("methods",)),
    EventKind.TRUNCATED: Schema(("at", "event", "node"), ("methods",)),
    EventKind.CLEAR: Schema(("at", "event", "node")),
    EventKind.FOLDER_ERROR: Schema(("at", "event", "folder", "code"), ("node",)),
    EventKind.INDEXING_STUCK: Schema(("at", "event", "folder"), ("node",)),
    EventKind.INDEXING_DONE: Schema(("at", "event", "folder"), ("node",)),
    EventKind.STALL: Schema(("at", "event", "folder")),
    EventKind.RESUME: Schema(("at", "event", "folder")),
    EventKind.PEER_JOIN: Schema(("at", "event", "folder", "peer")),
    EventKind.PEER_LEAVE: Schema(("at", "event", "folder", "peer")),
    EventKind.REMOVE_FOLDER: Schema(("at", "event", "folder"), ("node",)),
    EventKind.PAUSE: Schema(("at", "event", "folder"), ("node",)),
    EventKind.UNPAUSE: Schema(("at", "event", "folder"), ("node",)),
    EventKind.EXPIRE_SESSIONS: Schema(("at", "event", "node")),
}


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One simulated node of the fleet."""

    name: str
    device_name: str  # what its peers see as ``name`` in get_folder_peers
    version: str = DEFAULT_VERSION
    os: str = DEFAULT_OS
    login: str | None = DEFAULT_LOGIN
    password: str | None = DEFAULT_PASSWORD
    down: bool = False  # unreachable from the start
    relay: bool = False  # reachable only through the relay: every connection to it is relayed
    #: False: a Resilio Sync 2.x/3.x node without ``webui.api_key``: API v1 answers 400,
    #: only the web GUI API serves, and departed peers stay listed offline.
    api_key: bool = True
    build: int | None = None  # build the GUI ``version`` appends; None = the default
    #: Bytes free on the node's volume at time 0; None = not modelled (GUI default).
    disk_free: int | None = None
    #: Bytes per second something other than Sync takes on that volume.
    disk_fill: int = 0


@dataclass(frozen=True, slots=True)
class Growth:
    """New data written on a read-write node, which the other nodes then have to fetch."""

    bytes_per_second: int
    files_per_hour: float


@dataclass(frozen=True, slots=True)
class HolderSpec:
    """One node's copy of a shared folder."""

    node: str
    mode: FolderType
    dir: str
    size: int  # bytes this node holds at time 0
    files: int
    selective_sync: bool = False
    indexing: IndexingMode = "no"
    error: int = 0
    growth: Growth | None = None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """A peer outside the fleet (a phone, a laptop) that holds the whole folder."""

    name: str
    connection: Connection
    nodes: tuple[str, ...]  # the holders it connects to
    joins_at: float = 0.0
    leaves_at: float | None = None


@dataclass(frozen=True, slots=True)
class FolderSpec:
    """A folder shared by several fleet nodes (and maybe external peers)."""

    name: str  # the scenario's handle for events and the control API; never shown by the API
    size: int  # bytes of the complete folder at time 0
    files: int
    rate: int  # bytes per second a lagging node fetches
    index_rate: int  # bytes per second an indexing node scans
    holders: tuple[HolderSpec, ...]
    peers: tuple[PeerSpec, ...] = ()
    stalled: bool = False

    def holder(self, node: str) -> HolderSpec | None:
        """Return ``node``'s copy, or None."""
        return next((h for h in self.holders if h.node == node), None)

    @property
    def encryption(self) -> bool:
        """True when some node holds it encrypted (so the secrets are of the ``D`` family)."""
        return any(h.mode == "encrypted" for h in self.holders)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Something that happens at ``at`` seconds after the start."""

    at: float
    kind: EventKind
    node: str | None = None
    folder: str | None = None
    peer: str | None = None
    delay: float = 0.0
    code: int = 0
    methods: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario."""

    name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    folders: tuple[FolderSpec, ...]
    events: tuple[EventSpec, ...]  # sorted by ``at``, stable

    def node(self, name: str) -> NodeSpec | None:
        """Return the node called ``name``, or None."""
        return next((n for n in self.nodes if n.name == name), None)

    def folder(self, name: str) -> FolderSpec | None:
        """Return the folder called ``name``, or None."""
        return next((f for f in self.folders if f.name == name), None)


# --------------------------------------------------------------------------- units

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object) -> int:
    """Return a byte count from ``1234``, ``"1.5 GiB"`` or ``"500MB"``; raise ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 1024, 500MB or 1.5GiB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must be >= 0, got {value}")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    raise ValueError(f"expected a size like 1024, 500MB or 1.5GiB, got {value!r}")


def parse_duration(value: object) -> float:
    """Return seconds from ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``0``; raise ValueError.

    The grammar is every document's (:func:`sync_exporter.document.parse_duration`);
    a scenario's durations are points in time and delays, so zero is allowed.
    """
    return document.parse_duration(value, allow_zero=True)


# --------------------------------------------------------------------------- reading


#: Every problem of one scenario, each with its key path: the kernel's collector.
_Errors = Fields


def _mapping(errors: _Errors, path: str, value: object, schema: Schema) -> dict[str, Any] | None:
    """Return ``value`` as a dict after checking its keys against ``schema``, else None."""
    if not isinstance(value, dict):
        errors.error(path, f"expected a mapping, got {_kind(value)}")
        return None
    errors.keys(value, path, schema)
    return value


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, int) and not isinstance(value, bool):
        return "an integer"
    return describe(value)


def _get(
    errors: _Errors,
    data: Mapping[str, Any],
    path: str,
    key: str,
    convert: Callable[[object], T],
    default: D,
) -> T | D:
    """Return ``convert(data[key])``, or ``default`` when absent or invalid (error recorded)."""
    if key not in data:
        return default
    try:
        return convert(data[key])
    except ValueError as exc:
        errors.error(key_path(path, key), str(exc))
        return default


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {_kind(value)}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a number, got {value!r}")
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return float(value)


def _choice(*allowed: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return convert


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of names")
    return tuple(value)


# --------------------------------------------------------------------------- parsing


_TOP_KEYS = Schema(("nodes",), ("name", "description", "rate", "folders", "events"))
_NODE_KEYS = Schema(
    ("name",),
    (
        "device_name",
        "version",
        "os",
        "login",
        "password",
        "down",
        "relay",
        "api_key",
        "build",
        "disk_free",
        "disk_fill",
    ),
)
_FOLDER_KEYS = Schema(
    ("name", "nodes"), ("dir", "size", "files", "rate", "index_rate", "peers", "stalled")
)
_HOLDER_KEYS = Schema(
    ("mode",),
    ("dir", "size", "files", "selective_sync", "indexing", "error", "growth", "paused"),
)
_GROWTH_KEYS = Schema(("bytes_per_second",), ("files_per_hour",))
_PEER_KEYS = Schema(("name",), ("connection", "nodes", "joins_at", "leaves_at"))
_MODES = ("read_write", "read_only", "encrypted")


def parse_scenario(data: object, *, source: str = "scenario") -> Scenario:
    """Validate parsed YAML; return the Scenario or raise ScenarioError listing every problem."""
    errors = _Errors()
    top = _mapping(errors, "", data, _TOP_KEYS)
    if top is None:
        raise ScenarioError([f"{source}: expected a mapping at the top level, got {_kind(data)}"])
    name = _get(errors, top, "", "name", _text, Path(source).stem)
    description = _get(errors, top, "", "description", _text, "")
    rate = _get(errors, top, "", "rate", parse_size, DEFAULT_RATE)
    nodes = _parse_nodes(errors, top.get("nodes"))
    node_names = {n.name for n in nodes}
    folders = _parse_folders(errors, top.get("folders", []), node_names, rate)
    events = _parse_events(errors, top.get("events", []), node_names, folders)
    if errors.errors:
        raise ScenarioError(errors.errors)
    return Scenario(
        name=name,
        description=description,
        nodes=nodes,
        folders=folders,
        events=tuple(sorted(events, key=lambda e: e.at)),
    )


def _items(errors: _Errors, path: str, value: object) -> Iterator[tuple[str, object]]:
    """Yield ``(path[i], item)`` for a list; record an error for anything else."""
    if not isinstance(value, list):
        errors.error(path, f"expected a list, got {_kind(value)}")
        return
    for i, item in enumerate(value):
        yield f"{path}[{i}]", item


def _parse_nodes(errors: _Errors, value: object) -> tuple[NodeSpec, ...]:
    nodes: list[NodeSpec] = []
    for path, item in _items(errors, "nodes", value if value is not None else []):
        data = _mapping(errors, path, item, _NODE_KEYS)
        if data is None or "name" not in data:
            continue
        name = _get(errors, data, path, "name", _text, "")
        if not name:
            continue
        if any(n.name == name for n in nodes):
            errors.error(key_path(path, "name"), f"duplicate node name {name!r}")
            continue
        disk_free = _get(errors, data, path, "disk_free", parse_size, None)
        disk_fill = _get(errors, data, path, "disk_fill", parse_size, 0)
        if "disk_fill" in data and disk_free is None and "disk_free" not in data:
            errors.error(key_path(path, "disk_fill"), "needs disk_free (the volume's free space)")
        nodes.append(
            NodeSpec(
                name=name,
                device_name=_get(errors, data, path, "device_name", _text, name),
                version=_get(errors, data, path, "version", _text, DEFAULT_VERSION),
                os=_get(errors, data, path, "os", _text, DEFAULT_OS),
                login=_get(errors, data, path, "login", _optional_text, DEFAULT_LOGIN),
                password=_get(errors, data, path, "password", _optional_text, DEFAULT_PASSWORD),
                down=_get(errors, data, path, "down", _bool, False),
                relay=_get(errors, data, path, "relay", _bool, False),
                api_key=_get(errors, data, path, "api_key", _bool, True),
                build=_get(errors, data, path, "build", _int, None),
                disk_free=disk_free,
                disk_fill=disk_fill,
            )
        )
    if value is not None and not nodes and not errors.errors:
        errors.error("nodes", "declare at least one node")
    return tuple(nodes)


def _parse_folders(
    errors: _Errors, value: object, node_names: set[str], default_rate: int
) -> tuple[FolderSpec, ...]:
    folders: list[FolderSpec] = []
    for path, item in _items(errors, "folders", value):
        data = _mapping(errors, path, item, _FOLDER_KEYS)
        if data is None:
            continue
        name = _get(errors, data, path, "name", _text, "")
        if name and any(f.name == name for f in folders):
            errors.error(key_path(path, "name"), f"duplicate folder name {name!r}")
            name = ""
        size = _get(errors, data, path, "size", parse_size, 0)
        files = _get(errors, data, path, "files", _int, 0)
        if files == 0 and size > 0 and "files" not in data:
            files = max(1, size // (4 * 1024 * 1024))  # a plausible average file of 4 MiB
        default_dir = _get(errors, data, path, "dir", _text, f"/data/{name or 'folder'}")
        holders = _parse_holders(
            errors, key_path(path, "nodes"), data.get("nodes"), node_names, default_dir, size, files
        )
        peers = _parse_peers(errors, key_path(path, "peers"), data.get("peers", []), holders)
        if not name:
            continue
        folders.append(
            FolderSpec(
                name=name,
                size=size,
                files=files,
                rate=_get(errors, data, path, "rate", parse_size, default_rate),
                index_rate=_get(errors, data, path, "index_rate", parse_size, DEFAULT_INDEX_RATE),
                holders=holders,
                peers=peers,
                stalled=_get(errors, data, path, "stalled", _bool, False),
            )
        )
    return tuple(folders)


def _parse_holders(
    errors: _Errors,
    path: str,
    value: object,
    node_names: set[str],
    default_dir: str,
    folder_size: int,
    folder_files: int,
) -> tuple[HolderSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        errors.error(path, f"expected a mapping of node name to mode, got {_kind(value)}")
        return ()
    holders: list[HolderSpec] = []
    for node, item in value.items():
        hpath = key_path(path, node)
        if node not in node_names:
            errors.error(hpath, f"no node named {node!r} in nodes")
            continue
        data = {"mode": item} if isinstance(item, str) else item
        checked = _mapping(errors, hpath, data, _HOLDER_KEYS)
        if checked is None:
            continue
        mode: FolderType = _get(errors, checked, hpath, "mode", _mode, "read_write")
        size = _get(errors, checked, hpath, "size", _share_of(folder_size), folder_size)
        if size > folder_size:
            errors.error(key_path(hpath, "size"), f"larger than the folder ({folder_size} bytes)")
        if "files" in checked:
            files = _get(errors, checked, hpath, "files", _int, folder_files)
            if files > folder_files:
                errors.error(
                    key_path(hpath, "files"), f"more than the folder ({folder_files} files)"
                )
        else:
            files = folder_files if size >= folder_size else folder_files * size // folder_size
        growth = _parse_growth(errors, key_path(hpath, "growth"), checked.get("growth"))
        if growth is not None and mode != "read_write":
            errors.error(key_path(hpath, "growth"), f"only a read_write node can write, not {mode}")
        holders.append(
            HolderSpec(
                node=str(node),
                mode=mode,
                dir=_get(errors, checked, hpath, "dir", _text, default_dir),
                size=size,
                files=files,
                selective_sync=_get(errors, checked, hpath, "selective_sync", _bool, False),
                indexing=_get(errors, checked, hpath, "indexing", _indexing, "no"),
                error=_get(errors, checked, hpath, "error", _int, 0),
                growth=growth,
                paused=_get(errors, checked, hpath, "paused", _bool, False),
            )
        )
    return tuple(holders)


def _share_of(total: int) -> Callable[[object], int]:
    """Return a converter accepting a size or a percentage of ``total``."""

    def convert(value: object) -> int:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                percent = float(value.strip()[:-1])
            except ValueError:
                raise ValueError(f"expected a percentage like 40%, got {value!r}") from None
            if not 0 <= percent <= 100:
                raise ValueError(f"a percentage must be between 0% and 100%, got {value!r}")
            return int(total * percent / 100)
        return parse_size(value)

    return convert


def _indexing(value: object) -> IndexingMode:
    if value is False:
        return "no"
    if value is True:
        return "running"
    return cast(IndexingMode, _choice("no", "running", "stuck")(value))


def _mode(value: object) -> FolderType:
    return cast(FolderType, _choice(*_MODES)(value))


def _connection(value: object) -> Connection:
    return cast(Connection, _choice("direct", "relay")(value))


def _parse_growth(errors: _Errors, path: str, value: object) -> Growth | None:
    if value is None:
        return None
    data = _mapping(errors, path, value, _GROWTH_KEYS)
    if data is None:
        return None
    return Growth(
        bytes_per_second=_get(errors, data, path, "bytes_per_second", parse_size, 0),
        files_per_hour=_get(errors, data, path, "files_per_hour", _number, 0.0),
    )


def _parse_peers(
    errors: _Errors, path: str, value: object, holders: tuple[HolderSpec, ...]
) -> tuple[PeerSpec, ...]:
    peers: list[PeerSpec] = []
    holder_names = tuple(h.node for h in holders)
    for ppath, item in _items(errors, path, value):
        data = _mapping(errors, ppath, item, _PEER_KEYS)
        if data is None or "name" not in data:
            continue
        name = _get(errors, data, ppath, "name", _text, "")
        if any(p.name == name for p in peers):
            errors.error(key_path(ppath, "name"), f"duplicate peer name {name!r}")
            continue
        nodes = _get(errors, data, ppath, "nodes", _names, holder_names)
        for node in nodes:
            if node not in holder_names:
                errors.error(key_path(ppath, "nodes"), f"{node!r} does not hold this folder")
        joins_at = _get(errors, data, ppath, "joins_at", parse_duration, 0.0)
        leaves_at = _get(errors, data, ppath, "leaves_at", _optional_duration, None)
        if leaves_at is not None and leaves_at <= joins_at:
            errors.error(key_path(ppath, "leaves_at"), "must be later than joins_at")
        if not name:
            continue
        connection: Connection = _get(errors, data, ppath, "connection", _connection, "direct")
        peers.append(
            PeerSpec(
                name=name,
                connection=connection,
                nodes=nodes,
                joins_at=joins_at,
                leaves_at=leaves_at,
            )
        )
    return tuple(peers)


def _optional_duration(value: object) -> float | None:
    return None if value is None else parse_duration(value)


def _parse_events(
    errors: _Errors, value: object, node_names: set[str], folders: tuple[FolderSpec, ...]
) -> list[EventSpec]:
    events: list[EventSpec] = []
    kinds = ", ".join(k.value for k in EventKind)
    for path, item in _items(errors, "events", value):
        if not isinstance(item, dict):
            errors.error(path, f"expected a mapping, got {_kind(item)}")
            continue
        if "event" not in item:
            errors.error(key_path(path, "event"), f"required (one of: {kinds})")
            continue
        try:
            kind = EventKind(item["event"])
        except ValueError:
            errors.error(
                key_path(path, "event"), f"unknown event {item['event']!r} (one of: {kinds})"
            )
            continue
        data = _mapping(errors, path, item, _EVENT_KEYS[kind])
        if data is None:
            continue
        event = EventSpec(
            at=_get(errors, data, path, "at", parse_duration, 0.0),
            kind=kind,
            node=_get(errors, data, path, "node", _optional_text, None),
            folder=_get(errors, data, path, "folder", _optional_text, None),
            peer=_get(errors, data, path, "peer", _optional_text, None),
            delay=_get(errors, data, path, "delay", _number, 0.0),
            code=_get(errors, data, path, "code", _int, 0),
            methods=_get(errors, data, path, "methods", _names, ()),
        )
        _check_event_refs(errors, path, event, node_names, folders)
        events.append(event)
    return events


def _check_event_refs(
    errors: _Errors,
    path: str,
    event: EventSpec,
    node_names: set[str],
    folders: tuple[FolderSpec, ...],
) -> None:
    """Record an error for every name in ``event`` that the scenario does not declare."""
    folder = None
    if event.folder is not None:
        folder = next((f for f in folders if f.name == event.folder), None)
        if folder is None:
            errors.error(key_path(path, "folder"), f"no folder named {event.folder!r} in folders")
    if event.node is not None:
        if event.node not in node_names:
            errors.error(key_path(path, "node"), f"no node named {event.node!r} in nodes")
        elif folder is not None and folder.holder(event.node) is None:
            errors.error(key_path(path, "node"), f"{event.node!r} does not hold {folder.name!r}")
    if (
        event.peer is not None
        and folder is not None
        and not any(p.name == event.peer for p in folder.peers)
    ):
        errors.error(key_path(path, "peer"), f"no peer named {event.peer!r} in {folder.name!r}")
    if event.kind is EventKind.SLOW and event.delay <= 0:
        errors.error(key_path(path, "delay"), "must be > 0 seconds")


# --------------------------------------------------------------------------- synthetic


def synthetic_scenario(*, nodes: int, folders: int, peers: int, seed: int = 0) -> Scenario:
    """Return a healthy fleet of a given shape, for benchmarks and quick interactive runs.

    Nodes are taken in groups of ``peers + 1`` (the last group may be smaller); the
    members of a group share ``folders`` folders (folder j read-write on member
    j mod size, read-only on the others), so every node holds exactly ``folders`` folders.
    Each folder's peers are the other members of the group plus external peers
    (``peer-K``, every fourth one relayed) to make exactly ``peers`` per folder. Sizes are
    drawn from the seed; the first folder of each group keeps growing a little, so some
    bytes are always moving.
    """
    import random

    if nodes < 1 or folders < 0 or peers < 0:
        raise ScenarioError(["synthetic fleet: need nodes >= 1, folders >= 0, peers >= 0"])
    rng = random.Random(f"synthetic/{seed}")
    width = len(str(nodes - 1))
    names = [f"node-{i:0{width}d}" for i in range(nodes)]
    node_specs = tuple(NodeSpec(name=n, device_name=n) for n in names)
    folder_specs: list[FolderSpec] = []
    for start in range(0, nodes, peers + 1):
        group = names[start : start + peers + 1]
        externals = peers - (len(group) - 1)
        for j in range(folders):
            size = int(2 ** rng.uniform(20, 34))  # 1 MiB .. 16 GiB, log-uniform
            files = max(1, size // int(2 ** rng.uniform(14, 23)))
            writer = group[j % len(group)]
            growth = Growth(64 * 1024, 60.0) if j == 0 else None
            holders = tuple(
                HolderSpec(
                    node=n,
                    mode="read_write" if n == writer else "read_only",
                    dir=f"/data/folder-{j:03d}",
                    size=size,
                    files=files,
                    growth=growth if n == writer else None,
                )
                for n in group
            )
            folder_specs.append(
                FolderSpec(
                    name=f"{group[0]}/folder-{j:03d}",
                    size=size,
                    files=files,
                    rate=DEFAULT_RATE,
                    index_rate=DEFAULT_INDEX_RATE,
                    holders=holders,
                    peers=tuple(
                        PeerSpec(f"peer-{k}", "relay" if k % 4 == 3 else "direct", tuple(group))
                        for k in range(externals)
                    ),
                )
            )
    return Scenario(
        name="synthetic",
        description=f"{nodes} nodes x {folders} folders x {peers} peers",
        nodes=node_specs,
        folders=tuple(folder_specs),
        events=(),
    )


# --------------------------------------------------------------------------- loading


def bundled_scenarios() -> list[str]:
    """Return the names of the scenarios shipped with the package, sorted."""
    folder = resources.files("sync_exporter.simulator").joinpath(_BUNDLED)
    names = (entry.name for entry in folder.iterdir())
    return sorted(name.removesuffix(".yaml") for name in names if name.endswith(".yaml"))


def load_scenario(source: str | Path) -> Scenario:
    """Load a scenario from a file path or a bundled name; raise ScenarioError."""
    path = Path(source)
    if isinstance(source, Path) or path.suffix in (".yaml", ".yml") or "/" in str(source):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ScenarioError([f"{path}: cannot read: {reason}"]) from None
        return parse_scenario_text(text, source=str(path))
    name = str(source)
    if name not in bundled_scenarios():
        known = ", ".join(bundled_scenarios())
        raise ScenarioError(
            [f"unknown scenario {name!r}: not a .yaml file, and not a bundled one ({known})"]
        )
    resource = resources.files("sync_exporter.simulator").joinpath(_BUNDLED, name + ".yaml")
    return parse_scenario_text(resource.read_text(encoding="utf-8"), source=name)


def parse_scenario_text(text: str, *, source: str = "scenario") -> Scenario:
    """Parse YAML text into a Scenario; raise ScenarioError (YAML errors included)."""
    problems: list[str] = []
    data = read_document(text, problems)
    if problems:
        raise ScenarioError(problems, source=source)
    return parse_scenario(data, source=source)
