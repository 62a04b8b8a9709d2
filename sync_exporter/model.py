"""Immutable snapshots of what one scrape learned about a node.

The flow is one way: ``client`` fetches raw JSON, the ``parse_*`` functions here turn it
into these frozen values (leniently: numbers as strings, booleans as "true"/0/1), the
scraper assembles a :class:`NodeSnapshot` per node and scrape, and ``metrics`` renders
snapshots into families. Because a snapshot is rebuilt on every scrape, a node, folder
or peer that is gone simply produces no series: no stale state to clean up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from sys import intern
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Outcome(StrEnum):
    """Result of one API request; the value labels self-metrics and log lines."""

    SUCCESS = "success"
    TIMEOUT = "timeout"  # the request or the scrape deadline ran out
    CONNECT_ERROR = "connect_error"  # refused, reset, DNS, TLS handshake
    AUTH_ERROR = "auth_error"  # HTTP 401/403: wrong webui.login / password
    API_DISABLED = "api_disabled"  # HTTP 400: no webui.api_key, the API is off
    HTTP_ERROR = "http_error"  # any other non-200 status
    INVALID_RESPONSE = "invalid_response"  # not JSON, not UTF-8, truncated, wrong shape
    API_ERROR = "api_error"  # a JSON error body ({"error": N} / {"result": N}) inside a 200

    @property
    def hint(self) -> str:
        """What to check first for this failure, in plain words ("" for success).

        The one place a failure is explained to a user (the landing page shows it).
        """
        return _OUTCOME_HINTS.get(self, "")


_OUTCOME_HINTS: dict[Outcome, str] = {
    Outcome.TIMEOUT: "no answer before the deadline: is the node slow or hanging?",
    Outcome.CONNECT_ERROR: "is Sync running? check the address, the firewall and TLS",
    Outcome.AUTH_ERROR: "login refused: check webui.login and the password",
    Outcome.API_DISABLED: "the API is off: set webui.api_key in the node's config",
    Outcome.HTTP_ERROR: "the node (or a proxy in front of it) answered with an HTTP error",
    Outcome.INVALID_RESPONSE: "the answer was not what a Sync node sends: a proxy?",
    Outcome.API_ERROR: "the Sync API reported an error",
}


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    """One peer of one folder (``get_folder_peers``, or a ``peers`` entry of the GUI API).

    A field one API does not give is None, and its series is left out rather than
    exported as a false zero: the GUI API has no cumulative byte counters, API v1 lists
    only connected peers and no last-seen time.
    """

    peer_id: str
    name: str
    connection: str  # "direct" or "relay" (anything else is kept as sent)
    synced: float  # Unix seconds of the last completed sync; 0 = never
    download_bytes: int | None  # cumulative; None through the GUI API
    upload_bytes: int | None  # cumulative; None through the GUI API
    #: Whether the peer is online now (GUI ``isonline``); None through API v1, whose
    #: get_folder_peers lists connected peers only.
    online: bool | None = None
    #: Unix seconds the peer was last seen (GUI ``lastseentime``, sent for offline peers).
    last_seen: float | None = None


def _peer_constructor() -> Callable[[str, str, str, float, int, int], PeerSnapshot]:
    """A constructor of API v1 peers (no ``online``, no ``last_seen``), about twice as
    fast as ``PeerSnapshot(...)``.

    A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__`` by
    name, which costs about a microsecond a peer, tens of milliseconds a scrape of a large
    fleet. This sets the slots through their descriptors instead: the very same kind of
    object (equal, hashable, immutable afterwards), built for what a scrape parses most.
    """
    new = object.__new__
    peer_id, name, connection, synced, download, upload, online, last_seen = (
        getattr(PeerSnapshot, slot).__set__ for slot in PeerSnapshot.__slots__
    )
    if PeerSnapshot.__slots__ != (
        "peer_id",
        "name",
        "connection",
        "synced",
        "download_bytes",
        "upload_bytes",
        "online",
        "last_seen",
    ):
        raise RuntimeError("PeerSnapshot's fields changed: update _peer_constructor")

    def make(peer: str, label: str, kind: str, when: float, down: int, up: int) -> PeerSnapshot:
        snapshot: PeerSnapshot = new(PeerSnapshot)
        peer_id(snapshot, peer)
        name(snapshot, label)
        connection(snapshot, kind)
        synced(snapshot, when)
        download(snapshot, down)
        upload(snapshot, up)
        online(snapshot, None)
        last_seen(snapshot, None)
        return snapshot

    return make


new_v1_peer = _peer_constructor()


@dataclass(frozen=True, slots=True)
class FolderSnapshot:
    """One folder of one node (``get_folders`` + ``get_folder_peers``)."""

    folder: str  # the label: configured alias, else ``dir`` as the node reports it
    dir: str
    folder_id: str  # short hash of the folder's shared secret, equal across nodes
    type: str  # read_write, read_only, encrypted
    size_bytes: int
    files: int
    error_code: int
    indexing: bool
    #: None when get_folder_peers failed for this folder this scrape (counted, not fatal).
    peers: tuple[PeerSnapshot, ...] | None
    #: Selective sync (get_folder_prefs.selective_sync): the copy holds a chosen subset on
    #: purpose. None while it is unknown (the prefs call failed or the node does not say).
    selective: bool | None = None
    #: What only the GUI API reports (None through API v1, which has no such fields).
    gui: GuiFolderState | None = None


@dataclass(frozen=True, slots=True)
class GuiFolderState:
    """Per-folder facts only the web GUI API gives: transfer queues, pause, free space."""

    pending_download_bytes: int
    pending_download_files: int
    pending_upload_bytes: int
    pending_upload_files: int
    paused: bool
    #: Free bytes on the folder's volume (``available_space``); None when not sent.
    disk_free_bytes: int | None


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Everything one scrape learned about one node; ``up`` False means nothing else is valid."""

    node: str
    up: bool
    duration_seconds: float
    version: str | None = None
    os: str | None = None
    download_speed: int = 0
    upload_speed: int = 0
    folders: tuple[FolderSnapshot, ...] = ()
    #: Why the node is down (None when up).
    outcome: Outcome | None = None
    #: A short, secret-free human message for the landing page and logs.
    error: str | None = None
    #: Unix time the scrape finished.
    timestamp: float = 0.0
    #: The API the node was read through this scrape: ``v1`` or ``gui`` (None when down
    #: before either answered).
    api: str | None = None
    #: Why that API: the config said so, or what ``auto`` saw (for ``check`` and logs).
    api_reason: str | None = None


# --------------------------------------------------------------------------------------
# Lenient parsing of raw API JSON.
#
# Real nodes drift (docs/sync-api.md, "API v1 quirks"): numbers arrive as strings ("600"),
# booleans as "true"/"false", 0/1 or JSON booleans, optional keys go missing. The rules:
# a missing optional field takes its default; a present field that cannot be read makes
# the whole entry malformed, and a malformed folder or peer is skipped and counted rather
# than failing the node. A body whose top level has the wrong shape raises ShapeError,
# which the client turns into SyncProtocolError (this module knows nothing of HTTP).
# --------------------------------------------------------------------------------------


class ShapeError(ValueError):
    """The JSON does not have the shape a method answers with; the message is secret-free."""


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """Entries that parsed, and how many malformed ones were skipped."""

    items: tuple[T, ...]
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class Speed:
    """``get_speed``: bytes per second."""

    download: int
    upload: int


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One ``get_folders`` entry, before the scraper turns it into a :class:`FolderSnapshot`.

    It carries the held secret because get_folder_peers and get_secrets are addressed by
    it; ``repr`` hides it so that a stray log line or assertion message cannot leak it.
    """

    dir: str
    secret: str = field(repr=False)
    type: str
    size_bytes: int
    files: int
    error_code: int
    indexing: bool


@dataclass(frozen=True, slots=True)
class SharedSecrets:
    """``get_secrets&secret=S``: what can be shared under S (a key the node omits is None)."""

    read_write: str | None = field(default=None, repr=False)
    read_only: str | None = field(default=None, repr=False)
    encryption: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class APIErrorBody:
    """A logical error reported inside an HTTP 200 (``{"error": N}`` or ``{"result": N}``)."""

    code: int
    message: str


class _Malformed(Exception):
    """One field of one entry could not be read; the entry is skipped."""


class _OutOfRange(_Malformed):
    """A number beyond :data:`INT_LIMIT`: no counter, size or code of a real node."""


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})

#: Every integer a node sends must lie strictly between -INT_LIMIT and INT_LIMIT. Sync
#: keeps sizes and counters in 64-bit integers, so nothing real comes near; a float64
#: sample holds such a value (rounded), whereas a 400-digit one overflows the encoder.
INT_LIMIT = 1 << 64
#: Longest text accepted in a field (a folder path is at most PATH_MAX, 4096 bytes on
#: Linux); a longer one makes the entry malformed instead of a megabyte label.
MAX_TEXT = 4096
#: Longest numeric string tried: 20 digits hold any 64-bit value; this leaves room for a
#: sign, spaces and an exponent, and keeps ``int()`` of a long digit string from costing.
_MAX_NUMBER_TEXT = 64
#: Longest version or OS name (a label on btsync_node_info): real ones are a dozen characters.
_MAX_NAME = 256


def _int(value: object, *, minimum: int | None = 0) -> int:
    """Read an integer sent as a number, a numeric string or a boolean.

    Values outside ``(-INT_LIMIT, INT_LIMIT)`` raise :class:`_OutOfRange`, so one huge
    number costs its entry, never the rendering of every node.
    """
    result: int
    if isinstance(value, bool):
        result = int(value)
    elif isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMBER_TEXT:
            raise _OutOfRange
        try:
            result = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise _Malformed from None
            if not number.is_integer():
                raise _Malformed from None
            result = int(number)
    else:
        raise _Malformed
    if not -INT_LIMIT < result < INT_LIMIT:
        raise _OutOfRange
    if minimum is not None and result < minimum:
        raise _Malformed
    return result


def _bool(value: object) -> bool:
    """Read a boolean sent as true/false, 0/1 or "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        raise _Malformed
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Malformed


def _str(value: object) -> str:
    """Read a string; numbers are accepted as their decimal text (labels are text anyway)."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _Malformed
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and not -INT_LIMIT < value < INT_LIMIT:
            raise _OutOfRange
        return str(value)
    raise _Malformed


def _optional(entry: Mapping[str, object], key: str, read: Callable[[object], U], default: U) -> U:
    value = entry.get(key)
    return default if value is None else read(value)


def _required(entry: Mapping[str, object], key: str, read: Callable[[object], U]) -> U:
    value = entry.get(key)
    if value is None:
        raise _Malformed
    return read(value)


def _entries(raw: object, what: str) -> list[object]:
    if not isinstance(raw, list):
        raise ShapeError(f"{what}: expected a JSON array, got {_kind(raw)}")
    return raw


def _object(raw: object, what: str) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise ShapeError(f"{what}: expected a JSON object, got {_kind(raw)}")
    return raw


def _kind(raw: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if raw is None:
        return "null"
    return names.get(type(raw), "a number")


def _parse_list(
    raw: object,
    what: str,
    parse_one: Callable[[Mapping[str, object]], T],
    well_typed: Callable[[dict[str, object]], T | None] | None = None,
) -> Parsed[T]:
    """Parse every entry of a list answer; a malformed one is skipped and counted.

    ``well_typed``, where given, is tried first on each object and gives None when the
    entry needs ``parse_one``'s leniency: the fast path for the lists a fleet sends by
    the ten thousand (peers), without a second copy of this loop.
    """
    items: list[T] = []
    skipped = 0
    for entry in _entries(raw, what):
        if well_typed is not None and isinstance(entry, dict):
            item = well_typed(entry)
            if item is not None:
                items.append(item)
                continue
        try:
            if not isinstance(entry, dict):
                raise _Malformed
            items.append(parse_one(entry))
        except _Malformed:
            skipped += 1
    return Parsed(tuple(items), skipped)


def parse_api_error(raw: object) -> APIErrorBody | None:
    """Return the logical error a 200 body reports, or None when it is a normal answer.

    Errors use ``error`` and, for add_folder, ``result``; a zero code is success
    (docs/sync-api.md, "API v1 errors"). Only a top-level object can be an error:
    folder entries carry ``error`` too, but they sit inside an array.
    """
    if not isinstance(raw, dict):
        return None
    for key in ("error", "result"):
        if key in raw:
            try:
                code = _int(raw[key], minimum=None)
            except _OutOfRange:
                raise ShapeError(f"'{key}' is a number out of range") from None
            except _Malformed:
                continue
            if code != 0:
                message = raw.get("message")
                return APIErrorBody(code, message if isinstance(message, str) else "")
    return None


def parse_speed(raw: object) -> Speed:
    """Parse ``get_speed``; a missing direction reads as 0, an unreadable one is an error."""
    body = _object(raw, "get_speed")
    try:
        return Speed(
            download=_optional(body, "download", _int, 0),
            upload=_optional(body, "upload", _int, 0),
        )
    except _Malformed:
        raise ShapeError("get_speed: download/upload is not a non-negative number") from None


def _folder(entry: Mapping[str, object]) -> FolderEntry:
    secret = _required(entry, "secret", _str)
    if not secret:
        raise _Malformed
    return FolderEntry(
        dir=_required(entry, "dir", _str),
        secret=secret,
        type=_optional(entry, "type", _str, "unknown"),
        size_bytes=_optional(entry, "size", _int, 0),
        files=_optional(entry, "files", _int, 0),
        error_code=_optional(entry, "error", lambda v: _int(v, minimum=None), 0),
        indexing=_optional(entry, "indexing", _bool, False),
    )


def parse_folders(raw: object) -> Parsed[FolderEntry]:
    """Parse ``get_folders``; an entry without ``dir`` or ``secret`` is unusable and skipped."""
    return _parse_list(raw, "get_folders", _folder)


def _well_typed_peer(entry: Mapping[str, object]) -> PeerSnapshot | None:
    """The peer a current node sends, checked by type alone; None for anything else.

    A scrape of a large fleet reads tens of thousands of these, and the lenient readers
    cost several times more than these checks.
    """
    get = entry.get
    peer_id, name, connection = get("id"), get("name"), get("connection")
    synced, download, upload = get("synced"), get("download"), get("upload")
    if (
        type(peer_id) is str
        and 0 < len(peer_id) <= MAX_TEXT
        and type(name) is str
        and len(name) <= MAX_TEXT
        and type(connection) is str
        and len(connection) <= MAX_TEXT
        and type(synced) is int
        and 0 <= synced < INT_LIMIT
        and type(download) is int
        and 0 <= download < INT_LIMIT
        and type(upload) is int
        and 0 <= upload < INT_LIMIT
    ):
        # Interned: a peer's id, name and connection text repeat across its folders and
        # from one scrape to the next (whose snapshots overlap in memory), so each text is
        # held once rather than once per folder and scrape.
        return new_v1_peer(
            intern(peer_id), intern(name), intern(connection), float(synced), download, upload
        )
    return None


def _lenient_peer(entry: Mapping[str, object]) -> PeerSnapshot:
    peer_id = _required(entry, "id", _str)
    if not peer_id:
        raise _Malformed
    return PeerSnapshot(
        peer_id=peer_id,
        name=_optional(entry, "name", _str, ""),
        connection=_optional(entry, "connection", _str, "unknown"),
        synced=float(_optional(entry, "synced", _int, 0)),
        download_bytes=_optional(entry, "download", _int, 0),
        upload_bytes=_optional(entry, "upload", _int, 0),
    )


def parse_peers(raw: object) -> Parsed[PeerSnapshot]:
    """Parse ``get_folder_peers``; a peer without ``id`` is skipped (it could not be labelled).

    The well-typed case first: this runs once per folder and scrape, for every peer of
    the fleet.
    """
    return _parse_list(raw, "get_folder_peers", _lenient_peer, _well_typed_peer)


def parse_version(raw: object) -> str:
    """Parse ``get_version``: a dotted string, or a packed integer as the 1.x GUI API sent.

    A packed version is ``major << 24 | minor << 16 | build`` (docs/sync-api.md,
    "API v1 methods").
    """
    value = _object(raw, "get_version").get("version")
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_NAME:
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < INT_LIMIT:
        if value > 0xFFFFFF:
            return f"{value >> 24 & 0xFF}.{value >> 16 & 0xFF}.{value & 0xFFFF}"
        return str(value)
    raise ShapeError("get_version: no usable 'version'")


def parse_os(raw: object) -> str:
    """Parse ``get_os`` (``win32``, ``linux``, ``mac``... kept as sent)."""
    value = _object(raw, "get_os").get("os")
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_NAME:
        return value.strip()
    raise ShapeError("get_os: no usable 'os'")


def parse_secrets(raw: object) -> SharedSecrets:
    """Parse ``get_secrets&secret=S``; keys the node does not send (or sends empty) are None."""
    body = _object(raw, "get_secrets")

    def pick(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) and value else None

    return SharedSecrets(
        read_write=pick("read_write"), read_only=pick("read_only"), encryption=pick("encryption")
    )


def parse_folder_prefs(raw: object) -> bool | None:
    """Parse ``get_folder_prefs`` into the folder's selective-sync flag.

    Real nodes send ``selective_sync`` as 0/1 (docs/sync-api.md, "API v1 methods"); older
    ones omit it and an unknown secret answers ``{}``: both give None (unknown), never a guess.
    """
    value = _object(raw, "get_folder_prefs").get("selective_sync")
    if value is None:
        return None
    try:
        return _bool(value)
    except _Malformed:
        raise ShapeError("get_folder_prefs: 'selective_sync' is not a boolean") from None
