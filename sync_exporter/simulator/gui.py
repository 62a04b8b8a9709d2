"""The web GUI API of one simulated node: ``/gui/token.html`` and ``/gui/?action=...``.

This is the API the Resilio Sync 2.x/3.x Web UI itself uses, and the only one a node
without ``webui.api_key`` answers. Facts behind each behaviour (public sources in
``docs/simulator-node.md``):

- ``GET /gui/token.html`` with basic auth answers ``text/html`` holding the token in
  ``<div id='token' style='display:none;'>TOKEN</div>`` and sets a ``GUID`` cookie.
- Every action is ``GET /gui/?token=T&action=A`` with basic auth and that cookie. The
  token is bound to its cookie: a token without its cookie, with another session's
  cookie, or one the node does not know (stale, or minted before a restart) answers
  HTTP 400 with the body ``invalid request``.
- Envelope ``{"status": 200, "value": ...}``; ``getsyncfolders`` alone answers
  ``{"folders": [...], "status": 200}``. ``POST /gui/`` answers the HTML UI.

Choices where no source says (also listed in ``docs/simulator-node.md``):

- Sessions are held in memory by the node's HTTP side and bounded to
  :data:`MAX_SESSIONS` (the oldest is forgotten). Minting with a known ``GUID`` cookie
  keeps the cookie and replaces that session's token (the old one goes stale).
- An expired session (:meth:`GuiSessions.expire`, the ``/_sim`` route or a scenario
  event) answers its next action once with HTTP 200 ``{"status": 401}``, as clients
  that re-mint on it expect, and is then forgotten: later uses answer 400.
- An unknown action answers HTTP 200 ``{"error": "unknown function", "status": 400}``.
- JSON goes out as ``application/json; charset=utf-8`` (recorded from a 1.x GUI).
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import secrets as entropy
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sync_exporter.simulator import secrets
from sync_exporter.simulator.http import (
    INVALID_BODY,
    FaultGate,
    encode_json,
    truncated,
)
from sync_exporter.simulator.state import FaultMode, FolderState, NodeState, PeerState

#: Content type of GUI JSON answers (the 1.x GUI's recorded header; 2.x/3.x unrecorded).
CONTENT_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html"

#: The body of every 400 a GUI request gets for a bad token or cookie (recorded).
INVALID_REQUEST = "invalid request"

#: Sessions one node keeps before forgetting the oldest.
MAX_SESSIONS = 64

#: Build appended to a 3.1.2 node's version: the pair recorded from a live node.
RECORDED_BUILDS: Mapping[str, int] = {"3.1.2": 1076}
#: Version of a node without an API key when nothing else says (single-node mode).
GUI_ONLY_VERSION = "3.1.2"
#: Choice: build of any other version when the scenario names none.
DEFAULT_BUILD = 1000

#: Choice: ``available_space`` of a folder whose volume is not modelled (the recorded value).
DEFAULT_AVAILABLE_SPACE = 759980777472

#: Choice: ``secrettype`` per folder type (the capture shows 1 for a read-write folder).
#: ``has_key`` (true in the capture) is read as "holds the folder's key": false only for
#: an encrypted copy, which can never decrypt the data.
SECRET_TYPES: Mapping[str, int] = {"read_write": 1, "read_only": 2, "encrypted": 3}

#: Folder ``status`` values of the Web UI's SyncConstants.
STATUS_PAUSED, STATUS_RECEIVING, STATUS_SENDING, STATUS_SYNCING = 1, 3, 4, 5
STATUS_SYNCED, STATUS_NOPEERS = 7, 8

#: What ``POST /gui/`` (and ``GET /gui/`` without an action) serves: the Web UI page.
UI_PAGE = (
    b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Resilio Sync</title></head>"
    b"<body><div id='app'></div><script src='/gui/app.js'></script></body></html>\n"
)


def gui_version(state: NodeState) -> str:
    """Return the ``version`` answer of a 2.x/3.x node: ``"3.1.2 (1076)"``."""
    build = state.build
    if build is None:
        build = RECORDED_BUILDS.get(state.version, DEFAULT_BUILD)
    return f"{state.version} ({build})"


@dataclass(slots=True)
class _Session:
    token: str
    expired: bool = False


class GuiSessions:
    """The node's GUI sessions: ``GUID`` cookie -> its one valid token.

    Held by the HTTP side of a node, so a restart (the node going down and up, or a new
    process) forgets them, as a real daemon does.
    """

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._limit = limit
        self._by_cookie: OrderedDict[str, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_cookie)

    def mint(self, cookie: str | None) -> tuple[str, str]:
        """Return (cookie, token) of a fresh token; a known cookie keeps its session."""
        if cookie is None or cookie not in self._by_cookie:
            cookie = entropy.token_urlsafe(15)  # 20 characters, like the recorded GUID
        token = base64.b64encode(entropy.token_bytes(60)).decode("ascii").replace("/", "A")
        self._by_cookie[cookie] = _Session(token.replace("+", "A"))
        self._by_cookie.move_to_end(cookie)
        while len(self._by_cookie) > self._limit:
            self._by_cookie.popitem(last=False)
        return cookie, self._by_cookie[cookie].token

    def check(self, cookie: str | None, token: str | None) -> int:
        """Return 200 (valid), 401 (expired: answered once, then forgotten) or 400."""
        session = self._by_cookie.get(cookie or "")
        if session is None or not token or not _same(session.token, token):
            return 400
        if session.expired:
            del self._by_cookie[cookie or ""]
            return 401
        return 200

    def expire(self) -> int:
        """Expire every session (next action: ``{"status": 401}``); return how many."""
        for session in self._by_cookie.values():
            session.expired = True
        return len(self._by_cookie)

    def forget(self) -> None:
        """Drop every session, as a restart does: old tokens answer 400."""
        self._by_cookie.clear()


def _same(a: str, b: str) -> bool:
    return entropy.compare_digest(a.encode(), b.encode())


# ---------------------------------------------------------------------- answers


def _percent(have: int, pending: int) -> int:
    """Return the ``down_status``/``up_status`` percent: 100 once nothing is pending."""
    if pending <= 0:
        return 100
    return min(99, 100 * have // (have + pending))


def _status(folder: FolderState, online: int) -> int:
    if folder.paused:
        return STATUS_PAUSED
    down, up = folder.pending_down_bytes > 0, folder.pending_up_bytes > 0
    if down and up:
        return STATUS_SYNCING
    if down:
        return STATUS_RECEIVING
    if up:
        return STATUS_SENDING
    return STATUS_SYNCED if online else STATUS_NOPEERS


def _ids(folder: FolderState) -> tuple[str, str]:
    """Return (folderid, share_id): 19 digits local to the node, 40 hex shared by all peers.

    Choice: both derive from the folder's weakest derivable secret, so one shared folder
    has the same ``share_id`` on every node (nothing records how real ids are made).
    """
    base = folder.secret
    if secrets.is_valid(base):
        kin = secrets.derive(base)
        base = kin.encryption or kin.read_only or base
    share = hashlib.sha1(b"share:" + base.encode(), usedforsecurity=False).hexdigest()
    local = int.from_bytes(hashlib.sha256(b"folder:" + folder.secret.encode()).digest()[:8])
    return str(10**18 + local % (9 * 10**18)), share


def _readonly_secret(folder: FolderState) -> str | None:
    if not secrets.is_valid(folder.secret):
        return None
    return secrets.derive(folder.secret).read_only


def peer_object(peer: PeerState) -> dict[str, Any]:
    """Return a peer of a ``getsyncfolders`` folder, with the captured keys and types."""
    out: dict[str, Any] = {
        "direct": peer.connection == "direct",
        "downdiff": 0,
        "downfiles": 0,
        "has_files": 0,
        "has_files_size": 0,
        "id": peer.id,
        "isonline": peer.online,
        "lastreceivedtime": 0,
        "lastsenttime": 0,
        "lastsynctime": peer.synced,
        "name": peer.name,
        "updiff": 0,
        "upfiles": 0,
        "userid": "",
    }
    if not peer.online and peer.last_seen > 0:
        out["lastseentime"] = peer.last_seen
    return out


def folder_object(folder: FolderState) -> dict[str, Any]:
    """Return one folder of ``getsyncfolders``: every captured key, or the sparse object."""
    folderid, share_id = _ids(folder)
    writable = folder.type == "read_write"
    readonly = _readonly_secret(folder)
    name = posixpath.basename(folder.dir.replace("\\", "/").rstrip("/")) or folder.dir
    if folder.synclevel == 0:
        sparse: dict[str, Any] = {
            "canencrypt": False,
            "date_added": folder.date_added,
            "folderid": folderid,
            "has_key": folder.type != "encrypted",
            "ismanaged": False,
            "iswritable": writable,
            "name": name,
            "secret": folder.secret,
            "secrettype": SECRET_TYPES.get(folder.type, 1),
            "share_id": share_id,
            "synclevel": 0,
        }
        if readonly is not None and readonly != folder.secret:
            sparse["readonlysecret"] = readonly
        return dict(sorted(sparse.items()))
    peers = [peer_object(p) for p in folder.peers.values()]
    online = sum(1 for p in folder.peers.values() if p.online)
    synced = max((p.synced for p in folder.peers.values()), default=0)
    space = folder.available_space
    out: dict[str, Any] = {
        "archive": folder.dir.rstrip("/\\") + "/.sync/Archive",
        "archive_files": 0,
        "archive_size": 0,
        "available_space": DEFAULT_AVAILABLE_SPACE if space is None else max(0, space),
        "canencrypt": False,
        "date_added": folder.date_added,
        "down_eta": _eta(folder.pending_down_bytes, folder.down_speed),
        "down_speed": folder.down_speed,
        "down_status": _percent(folder.size, folder.pending_down_bytes),
        "error": folder.error,
        "errors": [],
        "files": folder.files,
        "firstsynccompleted": 1 if synced else 0,
        "folderid": folderid,
        "has_key": folder.type != "encrypted",
        "id": folderid,
        "indexing": folder.indexing,
        "is_local": False,
        "is_owner": writable,
        "ismanaged": False,
        "iswritable": writable,
        "last_modified": folder.date_added,
        "loading": False,
        "local_files": folder.files,
        "local_size": folder.size,
        "locked_files": 0,
        "name": name,
        "ondisk_files": folder.files,
        "ondisk_size": folder.size,
        "onlinepeerscount": online,
        "path": folder.dir,
        "paused": folder.paused,
        "peers": peers,
        "queue_download_files": folder.pending_down_files,
        "queue_download_size": folder.pending_down_bytes,
        "queue_upload_files": folder.pending_up_files,
        "queue_upload_size": folder.pending_up_bytes,
        "readonlysecret": readonly or "",
        "remoteindexing": False,
        "rescanning": False,
        "secret": folder.secret,
        "secrettype": SECRET_TYPES.get(folder.type, 1),
        "share_id": share_id,
        "size": folder.size,
        "status": _status(folder, online),
        "stopped": False,
        "synclevel": folder.synclevel,
        "totallastsynccompleted": synced,
        "tree_files": folder.files,
        "tree_size": folder.size,
        "up_eta": _eta(folder.pending_up_bytes, folder.up_speed),
        "up_speed": folder.up_speed,
        "up_status": _percent(folder.size, folder.pending_up_bytes),
        "warnings": [],
    }
    return out


def _eta(pending: int, speed: int) -> int:
    """Seconds left at the current speed; 0 when nothing is pending or nothing moves."""
    return -(-pending // speed) if pending > 0 and speed > 0 else 0


@dataclass(frozen=True, slots=True)
class GuiRequest:
    """What an action handler may read: the node, the query and the port it was asked on."""

    state: NodeState
    params: Mapping[str, str]
    port: int


def getsyncfolders(req: GuiRequest) -> dict[str, Any]:
    """Every folder with its peers (``discovery=1`` is accepted and changes nothing)."""
    return {"folders": [folder_object(f) for f in req.state.folders.values()], "status": 200}


def getstatuses(req: GuiRequest) -> dict[str, Any]:
    """Global state with the current speed in bytes per second."""
    state = req.state
    value = {
        "cpu": 0,
        "disk": 0,
        "errors": [],
        "loading": False,
        "speed": {"downspeed": state.download_speed, "upspeed": state.upload_speed},
        "warnings": [],
    }
    return {"status": 200, "value": value}


def version(req: GuiRequest) -> dict[str, Any]:
    """The version string with its build, ``"3.1.2 (1076)"``."""
    return {"status": 200, "value": gui_version(req.state)}


def getsysteminfo(req: GuiRequest) -> dict[str, Any]:
    """Host facts; ``os`` carries the same OS name API v1's ``get_os`` does (choice)."""
    state = req.state
    value = {
        "hostname": str(state.prefs.get("device_name", state.name)),
        "os": state.os,
        "username": "rslsync",
    }
    return {"status": 200, "value": value}


def getsessionstats(req: GuiRequest) -> dict[str, Any]:
    """Bytes moved since start (sum of the per-peer counters); no current speed here."""
    down = up = 0
    for folder in req.state.folders.values():
        for peer in folder.peers.values():
            down += peer.download
            up += peer.upload
    state = req.state
    value = {
        "max_speed": {"down": state.download_speed, "up": state.upload_speed},
        "total_transferred": {"down": down, "up": up},
        "transferred": {"down": down, "up": up},
    }
    return {"status": 200, "value": value}


def settings(req: GuiRequest) -> dict[str, Any]:
    """Node settings; rates in KB/s with -1 for unlimited (API v1 says 0)."""
    prefs = req.state.prefs

    def rate(key: str) -> int:
        raw = prefs.get(key, 0)
        value = int(raw) if isinstance(raw, int) or str(raw).isdigit() else 0
        return value if value > 0 else -1

    value = {
        "devicename": str(prefs.get("device_name", req.state.name)),
        "dlrate": rate("download_limit"),
        "listeningport": int(prefs.get("listening_port", 0)),
        "ulrate": rate("upload_limit"),
        "webui_port": req.port,
    }
    return {"status": 200, "value": value}


Action = Callable[[GuiRequest], dict[str, Any]]

#: Action name -> handler: the monitoring part of the GUI API.
ACTIONS: Mapping[str, Action] = {
    "getsyncfolders": getsyncfolders,
    "getstatuses": getstatuses,
    "version": version,
    "getsysteminfo": getsysteminfo,
    "getsessionstats": getsessionstats,
    "settings": settings,
}

#: Answer of an action the node does not have (choice, see the module docstring).
UNKNOWN_ACTION: dict[str, Any] = {"error": "unknown function", "status": 400}

#: ``Faults.methods`` name for ``token.html`` requests.
TOKEN_METHOD = "token"  # noqa: S105 - a method name, not a secret


# ---------------------------------------------------------------------- HTTP


class GuiEndpoint:
    """Answers ``/gui/token.html`` and ``/gui/`` for one node."""

    def __init__(self, state: NodeState, gate: FaultGate, sessions: GuiSessions) -> None:
        self._state = state
        self._gate = gate
        self.sessions = sessions
        self._epoch = state.gui_epoch

    def routes(self) -> list[web.RouteDef]:
        """The routes to add to the node's application."""
        return [
            web.get("/gui/token.html", self.token),
            web.post("/gui/token.html", self.token),
            web.get("/gui/", self.action),
            web.post("/gui/", self.page),
        ]

    async def token(self, request: web.Request) -> web.StreamResponse:
        """Mint a token bound to the request's ``GUID`` cookie (a new cookie if unknown)."""
        early, mode = await self._gate.check(request, TOKEN_METHOD)
        if early is not None:
            return early
        self._sync_epoch()
        if mode is FaultMode.INVALID_JSON:  # a page without the token in it
            return web.Response(body=INVALID_BODY, headers={"Content-Type": HTML_TYPE})
        cookie, token = self.sessions.mint(request.cookies.get("GUID"))
        body = f"<html><div id='token' style='display:none;'>{token}</div></html>".encode()
        headers = {"Content-Type": HTML_TYPE, "Set-Cookie": f"GUID={cookie}; path=/"}
        if mode is FaultMode.TRUNCATED:
            response = await truncated(request, body, HTML_TYPE)
            return response
        return web.Response(body=body, headers=headers)

    async def page(self, request: web.Request) -> web.StreamResponse:
        """``POST /gui/``: the Web UI page, never JSON (actions are GET only)."""
        early, _ = await self._gate.check(request, "")
        if early is not None:
            return early
        return web.Response(body=UI_PAGE, headers={"Content-Type": HTML_TYPE})

    async def action(self, request: web.Request) -> web.StreamResponse:
        """Check the session, then answer the action inside its envelope."""
        name = request.query.get("action")
        early, mode = await self._gate.admit(request, name or "")
        if early is not None:
            return early
        if name is None and "token" not in request.query:
            return web.Response(body=UI_PAGE, headers={"Content-Type": HTML_TYPE})
        self._sync_epoch()
        verdict = self.sessions.check(request.cookies.get("GUID"), request.query.get("token"))
        if verdict == 400:
            return web.Response(status=400, text=INVALID_REQUEST)
        if mode is FaultMode.INVALID_JSON:
            return web.Response(body=INVALID_BODY, headers={"Content-Type": CONTENT_TYPE})
        if verdict == 401:
            answer: dict[str, Any] = {"status": 401}
        else:
            handler = ACTIONS.get(name or "")
            port = request.url.port or 0
            answer = (
                handler(GuiRequest(self._state, request.query, port))
                if handler
                else dict(UNKNOWN_ACTION)
            )
        body = encode_json(answer)
        if mode is FaultMode.TRUNCATED:
            return await truncated(request, body, CONTENT_TYPE)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def _sync_epoch(self) -> None:
        """Expire the sessions when the world moved the node's session epoch on."""
        if self._state.gui_epoch != self._epoch:
            self._epoch = self._state.gui_epoch
            self.sessions.expire()
