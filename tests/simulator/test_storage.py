"""Persistence under storage_path: what survives a restart, and corrupt files refused loudly."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.simulator.state import FolderState, NodeState
from sync_exporter.simulator.storage import FILENAME, NodeStorage, StorageError

RW = "A" + "B" * 32


async def test_restart_brings_everything_back(
    make_node: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    storage_dir = tmp_path / "storage"
    storage_dir.mkdir()
    share = tmp_path / "share"
    (share / "docs").mkdir(parents=True)
    (share / "docs" / "a.txt").write_text("abc")

    first = await make_node(storage=NodeStorage(storage_dir))
    api = client_for(first)
    await api.ok("add_folder", dir=str(share), secret=RW, selective_sync="1")
    await api.ok("set_folder_prefs", secret=RW, use_dht="1")
    await api.ok("set_folder_hosts", secret=RW, hosts="10.0.0.1:4000,nas:5000")
    await api.ok("set_file_prefs", secret=RW, path="docs/a.txt", download="1")
    await api.ok("set_prefs", device_name="renamed", download_limit="50")
    before = await api.wait_indexed(RW)
    prefs = await api.ok("get_prefs")
    folder_prefs = await api.ok("get_folder_prefs", secret=RW)
    await first.stop()

    again = client_for(await make_node(NodeState("fresh"), storage=NodeStorage(storage_dir)))
    assert await again.wait_indexed(RW) == before  # indexed again from the real directory
    assert await again.ok("get_prefs") == prefs
    assert await again.ok("get_folder_prefs", secret=RW) == folder_prefs
    assert await again.ok("get_folder_hosts", secret=RW) == {"hosts": ["10.0.0.1:4000", "nas:5000"]}
    assert (await again.ok("get_files", secret=RW, path="docs"))[0]["download"] == 1


async def test_removed_folder_stays_removed(
    make_node: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    api = client_for(await make_node(storage=NodeStorage(tmp_path)))
    await api.ok("add_folder", dir=str(tmp_path), secret=RW)
    await api.ok("remove_folder", secret=RW)
    stored = json.loads((tmp_path / FILENAME).read_text())
    assert stored["folders"] == []


def test_save_is_atomic_and_private(tmp_path: Path) -> None:
    state = NodeState("n")
    state.folders[RW] = FolderState(secret=RW, dir="/volume1/x", type="read_write", size=5, files=1)
    storage = NodeStorage(tmp_path)
    storage.save(state)
    storage.save(state)
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]  # no temporary file left
    assert stat.S_IMODE((tmp_path / FILENAME).stat().st_mode) == 0o600  # it holds secrets
    loaded = storage.load()
    assert loaded is not None
    (folder,) = loaded.folders
    assert (folder.secret, folder.dir, folder.path) == (RW, "/volume1/x", None)


def test_no_file_yet_is_an_empty_node(tmp_path: Path) -> None:
    assert NodeStorage(tmp_path).load() is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[]", r"top level: unexpected value list"),
        ('{"format": 99}', "format: expected 1, got 99"),
        (
            '{"format": 1, "folders": [{"secret": "' + RW + '"}]}',
            r"folders\[0\].dir: unexpected value NoneType",
        ),
        (
            '{"format": 1, "folders": [{"secret": "' + RW + 'X", "dir": "/x"}]}',
            r"folders\[0\].secret: not a folder secret",
        ),
        (
            '{"format": 1, "folders": [{"secret": "'
            + RW
            + '", "dir": "/x", "prefs": {"a": "1"}}]}',
            r"folders\[0\].prefs.a: unexpected value str",
        ),
        (
            '{"format": 1, "prefs": {"device_name": {"a": 1}}}',
            "prefs.device_name: unexpected value dict",
        ),
        ('{"format": 1, "prefs": {"use_upnp": true}}', "prefs.use_upnp: unexpected value bool"),
    ],
)
async def test_corrupt_file_is_a_clear_error_and_left_alone(
    make_node: Callable[..., Any], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / FILENAME
    path.write_text(content)
    with pytest.raises(StorageError, match=rf"^{path}: corrupt simulator state \({message}"):
        await make_node(storage=NodeStorage(tmp_path))
    assert path.read_text() == content
    with pytest.raises(StorageError) as caught:
        NodeStorage(tmp_path).load()
    assert RW + "X" not in str(caught.value)


def test_unwritable_storage_is_reported(tmp_path: Path) -> None:
    storage = NodeStorage(tmp_path / "gone")
    with pytest.raises(StorageError, match=r"gone/simulator-state\.json: cannot save"):
        storage.save(NodeState("n"))


async def test_stored_folder_whose_directory_vanished_reports_error_100(
    make_node: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    first = await make_node(storage=NodeStorage(tmp_path))
    await client_for(first).ok("add_folder", dir=str(share), secret=RW)
    await first.stop()
    share.rmdir()
    again = client_for(await make_node(storage=NodeStorage(tmp_path)))
    folder = await again.wait_indexed(RW)
    assert (folder["dir"], folder["error"], folder["files"]) == (str(share), 100, 0)
