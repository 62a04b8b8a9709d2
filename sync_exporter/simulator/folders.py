"""Real directories behind simulated folders: checks, incremental indexing, file listings.

A folder added with ``add_folder`` points at a real directory (``FolderState.path``).
Indexing walks it in chunks in a worker thread, so ``size`` and ``files`` grow while
``indexing`` is 1, as on a real node (docs/sync-api.md, "API v1 methods"), and the
event loop keeps answering other requests meanwhile. Synthetic folders (``path`` None,
used by fleets and benchmarks) are never walked and list no files.

Every path a client sends is resolved inside the folder's directory; anything that
escapes it (``..``, a symlink pointing outside) lists nothing, exactly like a path
that does not exist, so no file outside a folder is ever disclosed.
"""

from __future__ import annotations

import asyncio
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from sync_exporter.simulator.state import FolderState

#: Choice: the piece size behind ``total_pieces`` (no source records one; samples of
#: files up to a few KB all show one piece).
PIECE_SIZE = 1 << 20

#: Entries examined per worker-thread step while indexing.
DEFAULT_CHUNK = 512

#: Folder error code a real node reports when it cannot open the folder (docs/sync-api.md,
#: "API v1 errors").
ERROR_CANT_OPEN = 100

DirectoryProblem = Literal["ok", "missing", "not_writable"]


def check_directory(raw: str) -> DirectoryProblem:
    """Say whether ``raw`` names a directory the node could sync (add_folder 100 / 101)."""
    try:
        if not os.path.isdir(raw):
            return "missing"
        if not os.access(raw, os.W_OK | os.X_OK):
            return "not_writable"
    except (OSError, ValueError):  # ValueError: an embedded NUL byte
        return "missing"
    return "ok"


def _parts(relative: str) -> list[str] | None:
    """Split a client path into components; None if it tries to leave the folder."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." or "\x00" in p for p in parts):
        return None
    return parts


def _inside(folder: FolderState, relative: str) -> tuple[Path, list[str]] | None:
    """Resolve ``relative`` inside the folder's directory, or None if it is not inside."""
    if folder.path is None:
        return None
    parts = _parts(relative)
    if parts is None:
        return None
    target = folder.path.joinpath(*parts)
    root = os.path.realpath(folder.path)
    real = os.path.realpath(target)
    if real != root and not real.startswith(root + os.sep):
        return None
    return target, parts


def _entry(folder: FolderState, key: str, name: str, st: os.stat_result) -> dict[str, Any]:
    """Return the JSON object get_files sends for one entry (``key``: its relative path)."""
    out: dict[str, Any]
    if stat.S_ISDIR(st.st_mode):
        out = {"name": name, "state": "created", "type": "folder"}
    else:
        pieces = max(1, math.ceil(st.st_size / PIECE_SIZE))
        out = {
            "have_pieces": pieces,
            "name": name,
            "size": st.st_size,
            "state": "created",
            "total_pieces": pieces,
            "type": "file",
        }
    if folder.selective_sync:
        out["download"] = folder.file_prefs.get(key, 0)
    return out


def _listable(st: os.stat_result) -> bool:
    """Regular files and directories only: symlinks and special files are not synced."""
    return stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)


def list_entries(folder: FolderState, relative: str) -> list[dict[str, Any]]:
    """Return get_files' answer for ``relative`` (the root when empty); ``[]`` if none."""
    resolved = _inside(folder, relative)
    if resolved is None:
        return []
    target, parts = resolved
    out: list[dict[str, Any]] = []
    try:
        with os.scandir(target) as it:
            found = sorted(it, key=lambda e: e.name)
        for entry in found:
            st = entry.stat(follow_symlinks=False)
            if _listable(st):
                out.append(_entry(folder, "/".join([*parts, entry.name]), entry.name, st))
    except (OSError, ValueError):
        return []
    return out


def set_download(folder: FolderState, relative: str, download: int) -> list[dict[str, Any]]:
    """Record the download flag of one entry; return ``[entry]``, or ``[]`` if not found."""
    resolved = _inside(folder, relative)
    if resolved is None or not resolved[1]:
        return []
    target, parts = resolved
    try:
        st = target.lstat()
    except (OSError, ValueError):
        return []
    if not _listable(st):
        return []
    key = "/".join(parts)
    folder.file_prefs[key] = download
    return [_entry(folder, key, parts[-1], st)]


def _scan(root: Path, chunk: int) -> Iterator[tuple[int, int]]:
    """Yield (files, bytes) found per ``chunk`` entries; raise OSError if root is unreadable."""
    stack = [str(root)]
    files = size = seen = 0
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # vanished while we looked: a real node skips it too
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif stat.S_ISREG(st.st_mode):
                        files += 1
                        size += st.st_size
                    seen += 1
                    if seen >= chunk:
                        yield files, size
                        files = size = seen = 0
        except OSError:
            if directory == str(root):
                raise
    yield files, size


async def index(folder: FolderState, *, chunk: int = DEFAULT_CHUNK) -> None:
    """Walk the folder's directory, growing ``size``/``files`` while ``indexing`` is set.

    Each chunk runs in a worker thread; between chunks the loop serves requests, so a
    client polling get_folders sees the counts grow. A directory that cannot be opened
    sets the folder's ``error`` to 100, as a real node reports it.
    """
    if folder.path is None:
        return
    folder.indexing = True
    folder.size = folder.files = 0
    scan = _scan(folder.path, max(1, chunk))
    try:
        while True:
            step = await asyncio.to_thread(next, scan, None)
            if step is None:
                break
            folder.files += step[0]
            folder.size += step[1]
        folder.error = 0
    except OSError:
        folder.error = ERROR_CANT_OPEN
    finally:
        folder.indexing = False
