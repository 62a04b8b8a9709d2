"""The mutable state of one simulated Sync node.

This is the contract between the two halves of the simulator:

- the **API side** (``api.py``, ``http.py``) answers ``/api?method=...`` from a
  :class:`NodeState` and applies :class:`Faults` to the HTTP exchange;
- the **world side** (``world.py``, ``scenario.py``) evolves many ``NodeState`` objects
  over simulated time: transfers, peers joining and leaving, sizes converging,
  indexing, scheduled faults.

State is mutable on purpose (it is the simulated node's memory); everything is touched
from the one event loop, so no locks are needed. Folders are keyed by the secret this
node holds for them, exactly as the API addresses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from sync_exporter.simulator.secrets import FolderType

Connection = Literal["direct", "relay"]

#: Folder preferences a fresh folder has on a real node (recorded live; docs/sync-api.md,
#: "API v1 methods").
DEFAULT_FOLDER_PREFS: dict[str, int] = {
    "search_lan": 1,
    "selective_sync": 0,
    "use_dht": 0,
    "use_hosts": 0,
    "use_relay_server": 1,
    "use_sync_trash": 1,
    "use_tracker": 1,
}


def default_prefs(device_name: str) -> dict[str, Any]:
    """Return node preferences with the 17 keys and the mixed types real nodes send (1.6)."""
    return {
        "device_name": device_name,
        "disk_low_priority": "true",
        "download_limit": 0,
        "folder_rescan_interval": "600",
        "lan_encrypt_data": "true",
        "lan_use_tcp": "false",
        "lang": 28261,
        "listening_port": 11589,
        "max_file_size_diff_for_patching": "1000",
        "max_file_size_for_versioning": "1000",
        "rate_limit_local_peers": "false",
        "recv_buf_size": "5",
        "send_buf_size": "5",
        "sync_max_time_diff": "600",
        "sync_trash_ttl": "30",
        "upload_limit": 0,
        "use_upnp": 0,
    }


@dataclass(slots=True)
class PeerState:
    """One peer connected to one folder, as ``get_folder_peers`` reports it."""

    id: str
    name: str
    connection: Connection = "direct"
    synced: int = 0  # Unix seconds of the last completed sync; 0 = never
    download: int = 0  # cumulative bytes received from this peer
    upload: int = 0  # cumulative bytes sent to this peer
    #: Connected now. API v1 lists only connected peers; the GUI API keeps known peers
    #: in the list with ``isonline`` false (and ``lastseentime``).
    online: bool = True
    last_seen: int = 0  # Unix seconds this peer was last connected; 0 = not known

    def as_api(self) -> dict[str, Any]:
        """Return the JSON object API v1 sends for this peer (only connected peers are listed)."""
        return {
            "connection": self.connection,
            "download": self.download,
            "id": self.id,
            "name": self.name,
            "synced": self.synced,
            "upload": self.upload,
        }


@dataclass(slots=True)
class FolderState:
    """One folder on one node."""

    secret: str  # the secret this node holds (its kind decides ``type``)
    dir: str  # the path as the node reports it (opaque text, may be a Windows path)
    type: FolderType
    size: int = 0
    files: int = 0
    error: int = 0
    indexing: bool = False
    selective_sync: bool = False
    peers: dict[str, PeerState] = field(default_factory=dict)
    prefs: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_FOLDER_PREFS))
    hosts: list[str] = field(default_factory=list)
    #: Real directory behind the folder, or None for a synthetic folder (fleets, benchmarks).
    path: Path | None = None
    #: Selective-sync download flags by relative path ("a/b.txt" -> 0/1).
    file_prefs: dict[str, int] = field(default_factory=dict)
    # What only the GUI API reports (``getsyncfolders``); API v1 has none of it.
    paused: bool = False
    pending_down_bytes: int = 0  # ``queue_download_size``: bytes still to receive
    pending_down_files: int = 0  # ``queue_download_files``
    pending_up_bytes: int = 0  # ``queue_upload_size``: bytes peers still want from us
    pending_up_files: int = 0  # ``queue_upload_files``
    #: Bytes free on the folder's volume; None = not modelled (the GUI then sends a default).
    available_space: int | None = None
    #: 0 = disconnected (the GUI sends a sparse object), 1 = selective, 2 = full sync.
    synclevel: int = 2
    date_added: int = 0  # Unix seconds the folder was added (GUI ``date_added``)
    down_speed: int = 0  # bytes/s this folder received during the last tick
    up_speed: int = 0  # bytes/s this folder sent during the last tick

    def as_api(self) -> dict[str, Any]:
        """Return the JSON object ``get_folders`` sends (exact key set of a real node)."""
        return {
            "dir": self.dir,
            "error": self.error,
            "files": self.files,
            "indexing": 1 if self.indexing else 0,
            "secret": self.secret,
            "size": self.size,
            "type": self.type,
        }


class FaultMode(Enum):
    """How the node's HTTP server misbehaves (``Faults.mode``)."""

    NONE = "none"
    DOWN = "down"  # connection refused: the listener is closed
    HANG = "hang"  # accepts, never answers
    UNAUTHORIZED = "unauthorized"  # 401 whatever the credentials
    SERVER_ERROR = "server_error"  # HTTP 500
    INVALID_JSON = "invalid_json"  # 200 with a body that is not JSON
    TRUNCATED = "truncated"  # 200, Content-Length promises more than is sent


@dataclass(slots=True)
class Faults:
    """HTTP-level faults of one node; the API side applies them to every ``/api`` request."""

    mode: FaultMode = FaultMode.NONE
    #: Extra latency (real seconds) before each answer; also used for benchmark latency.
    delay: float = 0.0
    #: Restrict ``mode`` to these API methods (empty = all methods).
    methods: frozenset[str] = frozenset()

    def applies_to(self, method: str) -> bool:
        """Return True if the fault mode hits a request for ``method``."""
        return self.mode is not FaultMode.NONE and (not self.methods or method in self.methods)


@dataclass(slots=True)
class NodeState:
    """Everything one simulated node knows."""

    name: str
    version: str = "1.4.111"
    #: Build number the GUI ``version`` action appends ("3.1.2 (1076)"); None = default.
    build: int | None = None
    os: str = "linux"
    prefs: dict[str, Any] = field(default_factory=dict)
    folders: dict[str, FolderState] = field(default_factory=dict)  # keyed by held secret
    faults: Faults = field(default_factory=Faults)
    #: Download / upload speed in bytes per second, as ``get_speed`` reports it.
    download_speed: int = 0
    upload_speed: int = 0
    #: Moving this on expires every GUI session of the node (their next action answers
    #: ``{"status": 401}``); the sessions themselves live on the node's HTTP side.
    gui_epoch: int = 0

    def __post_init__(self) -> None:
        if not self.prefs:
            self.prefs = default_prefs(self.name)
