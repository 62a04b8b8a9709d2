"""Folder problems across the fleet, from the last snapshots: the landing page and ``check``.

The alert rules find these in Prometheus over time; this module finds the same kinds in
what the exporter itself saw, so a user sees them without Prometheus: on the landing page
(with the time each was first seen) and in ``sync-exporter check``. One look at a fleet
(``find_problems``) tells folders in error, without peers, and copies behind the largest
copy of the same folder; a second look at the same node tells whether a behind copy is
moving data (out of sync, catching up) or not (stalled), and whether an indexing folder made
progress. :class:`ProblemTracker` keeps those previous snapshots and the first-seen times.

Which copies are compared follows the alert rules' defaults: encrypted copies (they hold
ciphertext) and selective-sync copies (a chosen subset) never count as behind, and a copy
that is indexing is left out of the comparison until it is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sync_exporter.alerting.rules import FOLDER_ERRORS
from sync_exporter.model import FolderSnapshot, NodeSnapshot, PeerSnapshot

__all__ = ["Kind", "Problem", "ProblemTracker", "connected", "find_problems"]


class Kind(StrEnum):
    """The kinds of folder problem, worst first (the order of the listing)."""

    ERROR = "error"
    STALLED = "stalled"
    OUT_OF_SYNC = "out of sync"
    PAUSED = "paused"
    NO_PEERS = "no peers"
    INDEXING = "indexing stuck"


_ORDER = {kind: i for i, kind in enumerate(Kind)}


@dataclass(frozen=True, slots=True)
class Problem:
    """One folder copy's problem; ``since`` is when it was first seen (Unix seconds)."""

    node: str
    folder: str
    kind: Kind
    detail: str
    since: float

    @property
    def key(self) -> tuple[str, str, Kind]:
        """What identifies the problem from one look to the next."""
        return (self.node, self.folder, self.kind)


def _comparable(folder: FolderSnapshot) -> bool:
    return folder.type != "encrypted" and folder.selective is not True and not folder.indexing


def connected(folder: FolderSnapshot) -> tuple[PeerSnapshot, ...]:
    """The folder's peers that are connected (the GUI API also lists offline ones)."""
    return tuple(p for p in folder.peers or () if p.online is not False)


def _motion(folder: FolderSnapshot) -> tuple[object, ...]:
    """What changes while a folder moves data: byte counters (API v1), queues (GUI API)."""
    moved = [
        p.download_bytes + p.upload_bytes
        for p in folder.peers or ()
        if p.download_bytes is not None and p.upload_bytes is not None
    ]
    queues = (
        None
        if folder.gui is None
        else (
            folder.gui.pending_download_bytes,
            folder.gui.pending_upload_bytes,
            folder.gui.pending_download_files,
            folder.gui.pending_upload_files,
        )
    )
    return (sum(moved), queues)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _largest(snapshots: Iterable[NodeSnapshot]) -> dict[str, tuple[int, int]]:
    """The largest size and file count among the comparable copies of each folder_id."""
    largest: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}
    for snap in snapshots:
        for folder in snap.folders:
            if _comparable(folder):
                size, files = largest.get(folder.folder_id, (0, 0))
                largest[folder.folder_id] = (max(size, folder.size_bytes), max(files, folder.files))
                counts[folder.folder_id] = counts.get(folder.folder_id, 0) + 1
    return {fid: big for fid, big in largest.items() if counts[fid] > 1}


def _folder_problems(
    folder: FolderSnapshot,
    largest: Mapping[str, tuple[int, int]],
    before: FolderSnapshot | None,
) -> Iterable[tuple[Kind, str]]:
    if folder.error_code:
        meaning = FOLDER_ERRORS.get(folder.error_code, "the node's Sync web UI shows the message")
        yield Kind.ERROR, f"error {folder.error_code}: {meaning}"
    if folder.peers is not None and not connected(folder):
        yield Kind.NO_PEERS, "no peer connected: changes made here exist nowhere else"
    if (
        folder.indexing
        and before is not None
        and before.indexing
        and (before.files, before.size_bytes) == (folder.files, folder.size_bytes)
    ):
        yield Kind.INDEXING, f"indexing, no progress ({folder.files} files)"
    paused = folder.gui is not None and folder.gui.paused
    if paused:
        yield Kind.PAUSED, "paused on the node: nothing syncs until it is resumed"
    if folder.folder_id in largest and _comparable(folder) and not folder.error_code and not paused:
        size, files = largest[folder.folder_id]
        if folder.size_bytes < size or folder.files < files:
            behind = (
                f"holds {_size(folder.size_bytes)} of {_size(size)}, "
                f"{folder.files} of {files} files"
            )
            moving = before is not None and _motion(before) != _motion(folder)
            if before is not None and not moving and connected(folder):
                yield Kind.STALLED, f"{behind}; peers connected, nothing moves"
            else:
                yield Kind.OUT_OF_SYNC, behind + ("; catching up" if moving else "")


def find_problems(
    snapshots: Mapping[str, NodeSnapshot],
    previous: Mapping[str, NodeSnapshot] | None = None,
    *,
    since: Mapping[tuple[str, str, Kind], float] | None = None,
) -> list[Problem]:
    """Every folder problem in ``snapshots`` (the last one per node), worst first.

    ``previous`` (the look before, per node) tells stalled from out of sync and finds
    indexing without progress; without it those two need a second look and are not
    reported. ``since`` gives first-seen times; a problem without one is dated by its
    node's snapshot.
    """
    before = previous or {}
    first_seen = since or {}
    up = [snap for snap in snapshots.values() if snap.up]
    largest = _largest(up)
    found: list[Problem] = []
    for snap in up:
        earlier = before.get(snap.node)
        old = {f.folder: f for f in earlier.folders} if earlier is not None and earlier.up else {}
        for folder in snap.folders:
            for kind, detail in _folder_problems(folder, largest, old.get(folder.folder)):
                when = first_seen.get((snap.node, folder.folder, kind), snap.timestamp)
                found.append(Problem(snap.node, folder.folder, kind, detail, when))
    return sorted(found, key=lambda p: (_ORDER[p.kind], p.node, p.folder))


class ProblemTracker:
    """The last two snapshots of every node and when each current problem was first seen.

    The exporter feeds it every scrape's snapshots; a problem that is gone at one look and
    back at the next starts a new "since". Nodes that leave the configuration are forgotten.
    """

    def __init__(self) -> None:
        self._last: dict[str, NodeSnapshot] = {}
        self._previous: dict[str, NodeSnapshot] = {}
        self._since: dict[tuple[str, str, Kind], float] = {}

    def observe(self, snapshots: Sequence[NodeSnapshot]) -> None:
        """Take in one scrape's snapshots (every node, or the one a /probe asked for)."""
        for snap in snapshots:
            if snap.node in self._last:
                self._previous[snap.node] = self._last[snap.node]
            self._last[snap.node] = snap
        current = find_problems(self._last, self._previous, since=self._since)
        self._since = {p.key: p.since for p in current}

    def forget(self, keep: Iterable[str]) -> None:
        """Drop every node not in ``keep`` (after a reload)."""
        names = set(keep)
        for table in (self._last, self._previous):
            for name in [n for n in table if n not in names]:
                del table[name]
        self._since = {k: v for k, v in self._since.items() if k[0] in names}

    def problems(self) -> list[Problem]:
        """The current problems, worst first, each with its first-seen time."""
        return find_problems(self._last, self._previous, since=self._since)
