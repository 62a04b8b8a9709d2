"""What a simulated node remembers across restarts, kept under Sync's ``storage_path``.

A real node keeps its folders, their preferences and hosts, and its own preferences
in ``storage_path``; so does the simulator, in one JSON file (:data:`FILENAME`). The
file is replaced atomically (temporary file, fsync, rename), so a crash leaves the old
or the new version, never half of one. A file that cannot be read back is an error
that names it: the node refuses to start rather than start empty and overwrite the
user's folders on the next change.

Runtime state (sizes, peers, speeds, faults) is not stored: sizes come back from
walking the directories again, the rest from the scenario.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_exporter.simulator import secrets
from sync_exporter.simulator.state import FolderState, NodeState

#: The state file's name inside storage_path.
FILENAME = "simulator-state.json"

#: Version of the file layout, checked on load.
FORMAT = 1


class StorageError(Exception):
    """The state file cannot be read or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class StoredFolder:
    """One folder as persisted: enough to add it again after a restart."""

    secret: str
    dir: str
    path: Path | None
    selective_sync: bool = False
    prefs: Mapping[str, int] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()
    file_prefs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredNode:
    """Everything persisted for one node."""

    prefs: Mapping[str, Any]
    folders: tuple[StoredFolder, ...]


def snapshot(state: NodeState) -> StoredNode:
    """Return the persistent part of ``state``."""
    return StoredNode(
        prefs=dict(state.prefs),
        folders=tuple(
            StoredFolder(
                secret=f.secret,
                dir=f.dir,
                path=f.path,
                selective_sync=f.selective_sync,
                prefs=dict(f.prefs),
                hosts=tuple(f.hosts),
                file_prefs=dict(f.file_prefs),
            )
            for f in state.folders.values()
        ),
    )


def restore(state: NodeState, stored: StoredNode) -> list[FolderState]:
    """Put stored prefs and folders into ``state``; return the folders that have a directory."""
    state.prefs.update(stored.prefs)
    restored: list[FolderState] = []
    for s in stored.folders:
        folder = FolderState(
            secret=s.secret,
            dir=s.dir,
            type=secrets.folder_type(s.secret),
            selective_sync=s.selective_sync,
            path=s.path,
            hosts=list(s.hosts),
            file_prefs=dict(s.file_prefs),
        )
        folder.prefs.update(s.prefs)
        state.folders[s.secret] = folder
        if s.path is not None:
            restored.append(folder)
    return restored


def _to_json(stored: StoredNode) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "prefs": dict(stored.prefs),
        "folders": [
            {
                "secret": f.secret,
                "dir": f.dir,
                "path": None if f.path is None else str(f.path),
                "selective_sync": f.selective_sync,
                "prefs": dict(f.prefs),
                "hosts": list(f.hosts),
                "file_prefs": dict(f.file_prefs),
            }
            for f in stored.folders
        ],
    }


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{where}: unexpected value {type(value).__name__}")
    return value


def _int_map(value: Any, where: str) -> dict[str, int]:
    _expect(value, dict, where)
    return {str(k): int(_expect(v, int, f"{where}.{k}")) for k, v in value.items()}


def _folder(raw: Any, where: str) -> StoredFolder:
    _expect(raw, dict, where)
    secret = _expect(raw.get("secret"), str, f"{where}.secret")
    if not secrets.is_valid(secret):
        raise ValueError(f"{where}.secret: not a folder secret")  # never echo it
    path = raw.get("path")
    return StoredFolder(
        secret=secret,
        dir=_expect(raw.get("dir"), str, f"{where}.dir"),
        path=None if path is None else Path(_expect(path, str, f"{where}.path")),
        selective_sync=_expect(raw.get("selective_sync", False), bool, f"{where}.selective_sync"),
        prefs=_int_map(raw.get("prefs", {}), f"{where}.prefs"),
        hosts=tuple(
            _expect(h, str, f"{where}.hosts[{i}]")
            for i, h in enumerate(_expect(raw.get("hosts", []), list, f"{where}.hosts"))
        ),
        file_prefs=_int_map(raw.get("file_prefs", {}), f"{where}.file_prefs"),
    )


def _from_json(raw: Any) -> StoredNode:
    _expect(raw, dict, "top level")
    if raw.get("format") != FORMAT:
        raise ValueError(f"format: expected {FORMAT}, got {raw.get('format')!r}")
    prefs = _expect(raw.get("prefs", {}), dict, "prefs")
    for key, value in prefs.items():  # get_prefs sends them as stored: strings or integers
        _expect(value, (str, int), f"prefs.{key}")
    folders = _expect(raw.get("folders", []), list, "folders")
    return StoredNode(
        prefs=dict(prefs),
        folders=tuple(_folder(f, f"folders[{i}]") for i, f in enumerate(folders)),
    )


class NodeStorage:
    """The state file of one node under ``directory`` (Sync's ``storage_path``)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILENAME

    def load(self) -> StoredNode | None:
        """Read the state file; None if there is none yet.

        Raises StorageError naming the file when it exists but cannot be used.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"{self.path}: cannot read the simulator state: {exc}") from exc
        try:
            return _from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise StorageError(
                f"{self.path}: corrupt simulator state (not JSON: {exc.msg} at line "
                f"{exc.lineno} column {exc.colno}); fix it or move it away to start empty"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise StorageError(
                f"{self.path}: corrupt simulator state ({exc}); fix it or move it away "
                "to start empty"
            ) from exc

    def save(self, state: NodeState) -> None:
        """Write the persistent part of ``state`` atomically (readable by the owner only)."""
        data = json.dumps(_to_json(snapshot(state)), ensure_ascii=False, indent=1)
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{FILENAME}.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot save the simulator state: {exc}") from exc
