"""Lenient parsing of the Resilio Sync web GUI API (``/gui/``) answers.

The GUI API is what the Web UI itself calls, and all that a Resilio Sync 2.x/3.x node
without a Business license answers (docs/sync-api.md, "The web GUI API"). Its answers
differ from API v1 in shape, not in spirit, so the same rules apply as in
:mod:`sync_exporter.model`: numbers may come as strings and booleans as 0/1, a missing
optional field takes its default, a malformed folder or peer is skipped and counted, and
a top level of the wrong shape raises :class:`~sync_exporter.model.ShapeError`.

What the GUI adds over API v1 (queues, pause, free space, online peers, last-seen time)
lands in the same snapshots, so one metric contract serves both APIs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sync_exporter.model import (
    GuiFolderState,
    PeerSnapshot,
    ShapeError,
    Speed,
    _bool,
    _int,
    _Malformed,
    _object,
    _optional,
    _required,
    _str,
    parse_version,
)

#: ``synclevel`` of a folder that is disconnected on this node: the node keeps only a
#: sparse entry (no path, no peers) and holds no data for it.
SYNCLEVEL_DISCONNECTED = 0
#: ``synclevel`` of a selectively synced folder (the copy holds a chosen subset).
SYNCLEVEL_SELECTIVE = 1
#: ``synclevel`` of a fully synced folder.
SYNCLEVEL_FULL = 2

#: The status every successful GUI answer carries in its envelope.
STATUS_OK = 200
#: The envelope status of an expired session (inside an HTTP 200).
STATUS_SESSION_EXPIRED = 401

#: The token in ``/gui/token.html``: ``<div id='token' style='display:none;'>TOKEN</div>``.
_TOKEN = re.compile(rb"""<div[^>]*\bid=["']token["'][^>]*>\s*([^<\s]+)\s*</div>""", re.IGNORECASE)
#: A token is opaque, but always printable ASCII without spaces on real nodes.
_TOKEN_TEXT = re.compile(rb"[\x21-\x7e]{1,512}")
#: ``"3.1.2 (1076)"``: the dotted version and, in brackets, the build.
_VERSION = re.compile(r"\s*(\d+(?:\.\d+)*)\s*(?:\(\s*\d+\s*\))?\s*")


@dataclass(frozen=True, slots=True)
class GuiFolderEntry:
    """One connected folder of ``getsyncfolders``, before the scraper names and labels it.

    The held and read-only secrets are kept only to compute ``folder_id``; ``repr`` hides
    them so that no log line or assertion message can leak one.
    """

    dir: str
    held_secret: str = field(repr=False)
    read_only_secret: str | None = field(repr=False)
    type: str
    size_bytes: int
    files: int
    error_code: int
    indexing: bool
    selective: bool | None
    state: GuiFolderState
    peers: tuple[PeerSnapshot, ...]


@dataclass(frozen=True, slots=True)
class GuiFolders:
    """``getsyncfolders``: connected folders, malformed entries skipped, and the count of
    disconnected folders (kept by the node as sparse entries with no data here)."""

    items: tuple[GuiFolderEntry, ...]
    skipped: int = 0
    disconnected: int = 0


def parse_token(body: bytes) -> str:
    """Return the session token from ``/gui/token.html``; ShapeError when there is none.

    The message never quotes the body: it holds the token.
    """
    match = _TOKEN.search(body)
    if match is None or not _TOKEN_TEXT.fullmatch(match.group(1)):
        raise ShapeError("token.html: no session token in the page")
    return match.group(1).decode("ascii")


def envelope_status(raw: object, action: str) -> int:
    """Return the ``status`` of a GUI answer's envelope (200 when it is well formed).

    Every action answers ``{"status": N, ...}``; a missing status is read as 200 only for
    an object (1.x nodes sent bare objects), anything else is the wrong shape.
    """
    body = _object(raw, action)
    value = body.get("status")
    if value is None:
        return STATUS_OK
    try:
        return _int(value, minimum=None)
    except _Malformed:
        raise ShapeError(f"{action}: 'status' is not a number") from None


def envelope_error(raw: object) -> str:
    """The error text a non-200 envelope carries (``error`` or ``message``), or ``""``."""
    if isinstance(raw, dict):
        for key in ("message", "error"):
            text = raw.get(key)
            if isinstance(text, str):
                return text
    return ""


def _value(raw: object, action: str) -> object:
    body = _object(raw, action)
    if "value" not in body:
        raise ShapeError(f"{action}: no 'value' in the answer")
    return body["value"]


def parse_statuses(raw: object) -> Speed:
    """Parse ``getstatuses``: ``value.speed.downspeed/upspeed``, bytes per second."""
    value = _object(_value(raw, "getstatuses"), "getstatuses value")
    speed = _object(value.get("speed", {}), "getstatuses speed")
    try:
        return Speed(
            download=_optional(speed, "downspeed", _int, 0),
            upload=_optional(speed, "upspeed", _int, 0),
        )
    except _Malformed:
        raise ShapeError("getstatuses: downspeed/upspeed is not a non-negative number") from None


def parse_gui_version(raw: object) -> str:
    """Parse ``version``: ``"3.1.2 (1076)"`` gives ``3.1.2``, like API v1's dotted version.

    The build in brackets is dropped so that one version label means one release on every
    node, whichever API it is read through. 1.4 nodes sent a packed integer; it is
    unpacked as API v1's get_version is.
    """
    value = _value(raw, "version")
    if isinstance(value, str):
        match = _VERSION.fullmatch(value)
        if match is not None:
            return match.group(1)
        if value.strip():
            return value.strip()
    return parse_version({"version": value})


def parse_system_info(raw: object) -> str:
    """Parse ``getsysteminfo``: the node's OS name as sent (``value.os``)."""
    value = _object(_value(raw, "getsysteminfo"), "getsysteminfo value")
    os_name = value.get("os")
    if isinstance(os_name, str) and os_name.strip():
        return os_name.strip()
    raise ShapeError("getsysteminfo: no usable 'os'")


def _peer(entry: Mapping[str, object]) -> PeerSnapshot:
    peer_id = _required(entry, "id", _str)
    if not peer_id:
        raise _Malformed
    online = _optional(entry, "isonline", _bool, True)
    seen = _optional(entry, "lastseentime", _int, 0)
    return PeerSnapshot(
        peer_id=peer_id,
        name=_optional(entry, "name", _str, ""),
        connection="direct" if _optional(entry, "direct", _bool, True) else "relay",
        synced=float(_optional(entry, "lastsynctime", _int, 0)),
        download_bytes=None,
        upload_bytes=None,
        online=online,
        last_seen=float(seen) if seen > 0 else None,
    )


def _folder_type(entry: Mapping[str, object], held: str, read_only: str | None) -> str:
    """read_write, read_only or encrypted, from what the GUI says of the copy.

    ``iswritable`` marks a read-write copy. A copy held under an encryption secret
    (``F`` prefix) with no read-only secret to go with it is an encrypted one: it can
    never derive the read-only secret. (``has_key`` is not used: no source says what it
    means, and reading it as "encrypted" would mislabel read-only copies.)
    """
    if _optional(entry, "iswritable", _bool, False):
        return "read_write"
    if held.startswith("F") and read_only is None:
        return "encrypted"
    return "read_only"


def _selective(level: int) -> bool | None:
    if level == SYNCLEVEL_SELECTIVE:
        return True
    if level == SYNCLEVEL_FULL:
        return False
    return None


def _folder(entry: Mapping[str, object]) -> tuple[GuiFolderEntry, int]:
    """One connected folder and how many of its peers were malformed and skipped."""
    directory = _required(entry, "path", _str)
    held = _optional(entry, "secret", _str, "")
    read_only = _optional(entry, "readonlysecret", _str, "") or None
    if not held:
        held = read_only or ""
    if not directory or not held:
        raise _Malformed
    peers: list[PeerSnapshot] = []
    skipped = 0
    raw_peers = entry.get("peers")
    if raw_peers is not None and not isinstance(raw_peers, list):
        raise _Malformed
    for raw_peer in raw_peers or ():
        try:
            if not isinstance(raw_peer, dict):
                raise _Malformed
            peers.append(_peer(raw_peer))
        except _Malformed:
            skipped += 1
    state = GuiFolderState(
        pending_download_bytes=_optional(entry, "queue_download_size", _int, 0),
        pending_download_files=_optional(entry, "queue_download_files", _int, 0),
        pending_upload_bytes=_optional(entry, "queue_upload_size", _int, 0),
        pending_upload_files=_optional(entry, "queue_upload_files", _int, 0),
        paused=_optional(entry, "paused", _bool, False),
        disk_free_bytes=_optional(entry, "available_space", _int, None),
    )
    folder = GuiFolderEntry(
        dir=directory,
        held_secret=held,
        read_only_secret=read_only,
        type=_folder_type(entry, held, read_only),
        size_bytes=_optional(entry, "size", _int, 0),
        files=_optional(entry, "files", _int, 0),
        error_code=_optional(entry, "error", lambda v: _int(v, minimum=None), 0),
        indexing=_optional(entry, "indexing", _bool, False),
        selective=_selective(_optional(entry, "synclevel", _int, SYNCLEVEL_FULL)),
        state=state,
        peers=tuple(peers),
    )
    return folder, skipped


def _disconnected(entry: Mapping[str, object]) -> bool:
    """A sparse entry of a folder disconnected on this node: no path, synclevel 0."""
    level = entry.get("synclevel")
    try:
        disconnected = level is not None and _int(level, minimum=None) == SYNCLEVEL_DISCONNECTED
    except _Malformed:
        disconnected = False
    return disconnected and entry.get("path") is None


def parse_sync_folders(raw: object) -> GuiFolders:
    """Parse ``getsyncfolders`` (``{"folders": [...], "status": 200}``).

    Disconnected folders are counted, not exported: the node holds no data for them.
    """
    body = _object(raw, "getsyncfolders")
    entries = body.get("folders")
    if not isinstance(entries, list):
        raise ShapeError("getsyncfolders: 'folders' is not a JSON array")
    items: list[GuiFolderEntry] = []
    skipped = disconnected = 0
    for entry in entries:
        try:
            if not isinstance(entry, dict):
                raise _Malformed
            if _disconnected(entry):
                disconnected += 1
                continue
            folder, bad_peers = _folder(entry)
        except _Malformed:
            skipped += 1
            continue
        items.append(folder)
        skipped += bad_peers
    return GuiFolders(tuple(items), skipped, disconnected)


__all__ = [
    "STATUS_OK",
    "STATUS_SESSION_EXPIRED",
    "GuiFolderEntry",
    "GuiFolders",
    "envelope_error",
    "envelope_status",
    "parse_gui_version",
    "parse_statuses",
    "parse_sync_folders",
    "parse_system_info",
    "parse_token",
]
