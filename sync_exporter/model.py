"""Immutable snapshots of what one scrape learned about a node.

The flow is one way: ``client`` fetches raw JSON, the ``parse_*`` functions here turn it
into these frozen values (leniently: numbers as strings, booleans as "true"/0/1), the
scraper assembles a :class:`NodeSnapshot` per node and scrape, and ``metrics`` renders
snapshots into families. Because a snapshot is rebuilt on every scrape, a node, folder
or peer that is gone simply produces no series: no stale state to clean up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    """One peer of one folder (``get_folder_peers``)."""

    peer_id: str
    name: str
    connection: str  # "direct" or "relay" (anything else is kept as sent)
    synced: float  # Unix seconds of the last completed sync; 0 = never
    download_bytes: int  # cumulative
    upload_bytes: int  # cumulative


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
