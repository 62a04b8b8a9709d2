"""The API v1 methods of one simulated node: query parameters in, JSON-able answer out.

Each handler is a plain function over :class:`NodeState`; it never touches HTTP, the
event loop or the disk (apart from the ``stat`` calls that ``add_folder`` and
``get_files`` make on real directories). What the node must do afterwards (persist,
walk a new folder, shut down) comes back as data in :class:`ApiResult`, so the HTTP
layer performs the side effects and the handlers stay testable one by one.

Shapes, codes and messages follow docs/sync-api.md ("API v1"); the choices made where
no source says are marked "Choice:" below and listed in ``docs/simulator-node.md``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_exporter.simulator import folders, secrets
from sync_exporter.simulator.state import DEFAULT_FOLDER_PREFS, FolderState, NodeState

Params = Mapping[str, str]

#: Body of an unknown (or missing) ``method`` (docs/sync-api.md, "API v1 errors"), served
#: with HTTP 200.
UNKNOWN_METHOD: dict[str, Any] = {"error": 1, "message": "Invalid API method name or format."}

#: add_folder error bodies, with ``result`` rather than ``error`` as real nodes send them.
DIR_NOT_FOUND: dict[str, Any] = {"message": "Can't open the destination folder.", "result": 100}
DIR_NOT_WRITABLE: dict[str, Any] = {
    "message": "Don't have permissions to write to the selected folder.",
    "result": 101,
}
ALREADY_ADDED: dict[str, Any] = {
    "message": "Selected folder is already added to BitTorrent Sync.",
    "result": 200,
}
BAD_SECRET: dict[str, Any] = {
    "message": "This secret is invalid.\nPlease generate a new secret or enter your shared "
    "folder secret.",
    "result": 201,
}

#: Folder preference keys ``set_folder_prefs`` accepts (1.3+ also takes overwrite_changes).
FOLDER_PREF_KEYS: frozenset[str] = frozenset(DEFAULT_FOLDER_PREFS) | {"overwrite_changes"}


@dataclass(frozen=True, slots=True)
class ApiResult:
    """What one API call answers, and the side effects the node must perform for it."""

    body: Any
    #: The node's persistent state changed (folders, prefs, hosts): save it.
    changed: bool = False
    #: A folder with a real directory was added: walk it in the background.
    walk: FolderState | None = None
    #: The ``shutdown`` method was called: stop once the answer is sent.
    shutdown: bool = False


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What a handler may read besides the node state: randomness for new secrets."""

    state: NodeState
    rng: random.Random


Handler = Callable[[ApiContext, Params], ApiResult]


def _missing(method: str) -> ApiResult:
    return ApiResult({"error": 2, "message": f"Specify all the required parameters for {method}."})


class _MissingParameterError(Exception):
    """A required parameter is absent: :func:`call` answers error 2 naming the method."""


def _required(params: Params, name: str) -> str:
    """Return parameter ``name``; raise _MissingParameterError when it is absent."""
    value = params.get(name)
    if value is None:
        raise _MissingParameterError(name)
    return value


def _held(ctx: ApiContext, params: Params) -> FolderState | None:
    """The folder named by the required ``secret`` parameter; None when no folder has it."""
    return ctx.state.folders.get(_required(params, "secret"))


def _flag(value: str | None) -> int | None:
    """Parse a 0/1 parameter; anything else is None (ignored, like an unknown parameter)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value in ("0", "1") else None


def get_folders(ctx: ApiContext, params: Params) -> ApiResult:
    """All folders, or the one held under ``secret`` (still an array; ``[]`` if unknown)."""
    secret = params.get("secret")
    if secret:
        folder = ctx.state.folders.get(secret)
        return ApiResult([folder.as_api()] if folder else [])
    return ApiResult([f.as_api() for f in ctx.state.folders.values()])


def add_folder(ctx: ApiContext, params: Params) -> ApiResult:
    """Add an existing directory; errors use ``result``, and so does success.

    Choice: success is ``{"result": 0}``. The reference document shows ``{"error": 0}``,
    but the only answer recorded from a live node (docs/sync-api.md, "API v1 errors")
    used ``result``, like every add_folder error; clients that check either key
    (btsync-gui) cope with both.
    """
    raw_dir = _required(params, "dir")
    problem = folders.check_directory(raw_dir)
    if problem == "missing":
        return ApiResult(DIR_NOT_FOUND)
    if problem == "not_writable":
        return ApiResult(DIR_NOT_WRITABLE)
    directory = Path(os.path.normpath(os.path.abspath(raw_dir)))
    if any(f.path == directory for f in ctx.state.folders.values()):
        return ApiResult(ALREADY_ADDED)
    secret = params.get("secret")
    if secret:
        if not secrets.is_valid(secret):
            return ApiResult(BAD_SECRET)
        if secret in ctx.state.folders:
            return ApiResult(ALREADY_ADDED)
    else:
        rw = secrets.generate(ctx.rng).read_write
        assert rw is not None  # a generated set always holds its read-write secret
        secret = rw
    selective = _flag(params.get("selective_sync")) == 1
    folder = FolderState(
        secret=secret,
        dir=str(directory),
        type=secrets.folder_type(secret),
        selective_sync=selective,
        path=directory,
        indexing=True,
    )
    folder.prefs["selective_sync"] = 1 if selective else 0
    ctx.state.folders[secret] = folder
    return ApiResult({"result": 0}, changed=True, walk=folder)


def remove_folder(ctx: ApiContext, params: Params) -> ApiResult:
    """Forget a folder (files stay on disk); ``{"error": 1}`` without message if unknown."""
    if ctx.state.folders.pop(_required(params, "secret"), None) is None:
        return ApiResult({"error": 1})
    return ApiResult({"error": 0}, changed=True)


def get_files(ctx: ApiContext, params: Params) -> ApiResult:
    """Entries of the folder's root or of ``path``; ``[]`` for anything unknown or outside."""
    folder = _held(ctx, params)
    if folder is None:
        return ApiResult([])
    return ApiResult(folders.list_entries(folder, params.get("path", "")))


def set_file_prefs(ctx: ApiContext, params: Params) -> ApiResult:
    """Mark a file or sub-folder for download; answers an array with the updated entry."""
    path, download = _required(params, "path"), _required(params, "download")
    folder = _held(ctx, params)
    flag = _flag(download)
    if folder is None or flag is None:
        return ApiResult([])
    entries = folders.set_download(folder, path, flag)
    return ApiResult(entries, changed=bool(entries))


def get_folder_peers(ctx: ApiContext, params: Params) -> ApiResult:
    """Connected peers of a folder; ``[]`` when there are none or the secret is unknown.

    API v1 lists only the peers connected now; the offline ones a GUI answer keeps
    (``isonline`` false) are left out.
    """
    folder = _held(ctx, params)
    peers = folder.peers.values() if folder else ()
    return ApiResult([p.as_api() for p in peers if p.online])


def get_secrets(ctx: ApiContext, params: Params) -> ApiResult:
    """Fresh secrets, or those shareable under ``secret`` (the folder need not be held).

    The reference names the option both ``type=encryption`` (URL) and ``type=encrypted``
    (text); both are accepted.
    """
    secret = params.get("secret")
    if secret:
        try:
            return ApiResult(secrets.derive(secret).as_api())
        except ValueError:
            return ApiResult({"error": 3, "message": "Invalid secret."})
    encryption = params.get("type") in ("encryption", "encrypted")
    return ApiResult(secrets.generate(ctx.rng, encryption=encryption).as_api())


def get_folder_prefs(ctx: ApiContext, params: Params) -> ApiResult:
    """Preferences of a folder; ``{}`` if the secret is unknown."""
    folder = _held(ctx, params)
    return ApiResult(dict(folder.prefs) if folder else {})


def set_folder_prefs(ctx: ApiContext, params: Params) -> ApiResult:
    """Set known 0/1 preferences, ignore the rest, answer the full set (``{}`` if unknown)."""
    folder = _held(ctx, params)
    if folder is None:
        return ApiResult({})
    changed = False
    for key in sorted(k for k in FOLDER_PREF_KEYS if k in params):
        value = _flag(params[key])
        if value is not None:
            folder.prefs[key] = value
            changed = True
    folder.selective_sync = folder.prefs.get("selective_sync", 0) == 1
    return ApiResult(dict(folder.prefs), changed=changed)


def get_folder_hosts(ctx: ApiContext, params: Params) -> ApiResult:
    """Predefined hosts of a folder; ``{}`` if the secret is unknown."""
    folder = _held(ctx, params)
    return ApiResult({"hosts": list(folder.hosts)} if folder else {})


def set_folder_hosts(ctx: ApiContext, params: Params) -> ApiResult:
    """Replace the host list with the comma-separated ``hosts``; answer the new list.

    Choice: entries are kept as sent (trimmed, empty ones dropped); the reference names
    no error code for a malformed host, so none is invented. ``hosts=`` clears the list.
    """
    hosts = _required(params, "hosts")
    folder = _held(ctx, params)
    if folder is None:
        return ApiResult({})
    folder.hosts = [h.strip() for h in hosts.split(",") if h.strip()]
    return ApiResult({"hosts": list(folder.hosts)}, changed=True)


def get_prefs(ctx: ApiContext, params: Params) -> ApiResult:
    """Node preferences with the mixed types real nodes send (docs/sync-api.md, "API v1 quirks")."""
    return ApiResult(dict(ctx.state.prefs))


def set_prefs(ctx: ApiContext, params: Params) -> ApiResult:
    """Update known preferences, keeping each one's JSON type; answer the current set.

    A preference sent as an integer stays an integer (a value that is not one is
    ignored); one sent as a string ("600", "true") stays a string.
    """
    prefs = ctx.state.prefs
    changed = False
    for key in sorted(k for k in prefs if k in params):
        current, value = prefs[key], params[key]
        if isinstance(current, int):
            try:
                prefs[key] = int(value.strip())
            except ValueError:
                continue
        else:
            prefs[key] = value
        changed = True
    return ApiResult(dict(prefs), changed=changed)


def get_os(ctx: ApiContext, params: Params) -> ApiResult:
    """The node's OS name (``win32``, ``mac``, ``linux``)."""
    return ApiResult({"os": ctx.state.os})


def get_version(ctx: ApiContext, params: Params) -> ApiResult:
    """The node's version as a dotted string (API v1 never sent the packed integer)."""
    return ApiResult({"version": ctx.state.version})


def get_speed(ctx: ApiContext, params: Params) -> ApiResult:
    """Current transfer speeds in bytes per second."""
    return ApiResult({"download": ctx.state.download_speed, "upload": ctx.state.upload_speed})


def shutdown(ctx: ApiContext, params: Params) -> ApiResult:
    """Answer ``{"error": 0}``; the node stops after sending it."""
    return ApiResult({"error": 0}, shutdown=True)


#: Method name -> handler: the whole API v1 surface.
METHODS: Mapping[str, Handler] = {
    "get_folders": get_folders,
    "add_folder": add_folder,
    "remove_folder": remove_folder,
    "get_files": get_files,
    "set_file_prefs": set_file_prefs,
    "get_folder_peers": get_folder_peers,
    "get_secrets": get_secrets,
    "get_folder_prefs": get_folder_prefs,
    "set_folder_prefs": set_folder_prefs,
    "get_folder_hosts": get_folder_hosts,
    "set_folder_hosts": set_folder_hosts,
    "get_prefs": get_prefs,
    "set_prefs": set_prefs,
    "get_os": get_os,
    "get_version": get_version,
    "get_speed": get_speed,
    "shutdown": shutdown,
}


def call(ctx: ApiContext, method: str | None, params: Params) -> ApiResult:
    """Dispatch one API call; an unknown or missing method gets error 1."""
    handler = METHODS.get(method or "")
    if handler is None:
        return ApiResult(UNKNOWN_METHOD)
    try:
        return handler(ctx, params)
    except _MissingParameterError:
        return _missing(method or "")
