"""Real directories: incremental indexing, get_files and set_file_prefs on real entries."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.simulator import folders
from sync_exporter.simulator.state import FolderState

RW = "A" + "B" * 32


def make_tree(root: Path, dirs: int = 6, per_dir: int = 50) -> tuple[int, int]:
    """Write a nested tree; return (files, total bytes) a walk must find."""
    files = size = 0
    for d in range(dirs):
        sub = root / f"d{d}" / "inner"
        sub.mkdir(parents=True)
        for i in range(per_dir):
            data = b"x" * (d * 100 + i)
            (sub / f"f{i}.bin").write_bytes(data)
            files, size = files + 1, size + len(data)
    return files, size


async def test_index_grows_in_steps_without_blocking(tmp_path: Path) -> None:
    total_files, total_size = make_tree(tmp_path, dirs=3, per_dir=20)
    folder = FolderState(secret=RW, dir=str(tmp_path), type="read_write", path=tmp_path)
    task = asyncio.create_task(folders.index(folder, chunk=5))
    await asyncio.sleep(0)  # let the walk begin
    seen: list[tuple[bool, int, int]] = []
    while not task.done():  # the loop stays free: this observer runs between steps
        seen.append((folder.indexing, folder.files, folder.size))
        await asyncio.sleep(0)
    await task
    assert (folder.indexing, folder.files, folder.size) == (False, total_files, total_size)
    assert all(indexing for indexing, _, _ in seen)
    counts = [files for _, files, _ in seen]
    assert counts == sorted(counts)
    assert len({c for c in counts if 0 < c < total_files}) >= 5  # visibly incremental


async def test_index_skips_symlinks_and_reports_unopenable_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"y" * 1000)
    root = tmp_path / "root"
    root.mkdir()
    (root / "real").write_bytes(b"abc")
    (root / "link").symlink_to(outside)
    (root / "filelink").symlink_to(outside / "big")
    folder = FolderState(secret=RW, dir=str(root), type="read_write", path=root)
    await folders.index(folder)
    assert (folder.files, folder.size, folder.error) == (1, 3, 0)
    gone = FolderState(secret=RW, dir="/gone", type="read_write", path=tmp_path / "gone")
    await folders.index(gone)
    assert (gone.error, gone.indexing) == (folders.ERROR_CANT_OPEN, False)


async def test_synthetic_folder_is_never_walked() -> None:
    folder = FolderState(secret=RW, dir="/volume1/x", type="read_write", size=123, files=4)
    await folders.index(folder)
    assert (folder.size, folder.files, folder.indexing) == (123, 4, False)
    assert folders.list_entries(folder, "") == []


async def test_indexing_visible_over_http(
    make_node: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    total_files, total_size = make_tree(tmp_path)
    api = client_for(await make_node(walk_chunk=1))
    assert await api.ok("add_folder", dir=str(tmp_path), secret=RW) == {"result": 0}
    (first,) = await api.ok("get_folders", secret=RW)
    assert first["indexing"] == 1
    history = [first["files"]]
    async with asyncio.timeout(10):
        while True:
            (folder,) = await api.ok("get_folders", secret=RW)
            history.append(folder["files"])
            if folder["indexing"] == 0:
                break
    assert history == sorted(history)
    assert (folder["files"], folder["size"]) == (total_files, total_size)


@pytest.fixture
async def tree(sim_api: Any, tmp_path: Path) -> tuple[Any, Path]:
    """A real folder (plain, not selective) added to the node and indexed."""
    root = tmp_path / "share"
    (root / "images").mkdir(parents=True)
    (root / "images" / "cat.jpg").write_bytes(b"c" * 3000)
    (root / "index.html").write_bytes(b"h" * 2726)
    (root / "big.iso").write_bytes(b"\0" * ((1 << 20) + 1))
    (root / "été.txt").write_text("é")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "escape").symlink_to(tmp_path)
    await sim_api.ok("add_folder", dir=str(root), secret=RW)
    await sim_api.wait_indexed(RW)
    return sim_api, root


async def test_get_files_root_and_subdir(tree: tuple[Any, Path]) -> None:
    api, _ = tree
    assert await api.ok("get_files", secret=RW) == [
        {
            "have_pieces": 2,
            "name": "big.iso",
            "size": (1 << 20) + 1,
            "state": "created",
            "total_pieces": 2,
            "type": "file",
        },
        {"name": "images", "state": "created", "type": "folder"},
        {
            "have_pieces": 1,
            "name": "index.html",
            "size": 2726,
            "state": "created",
            "total_pieces": 1,
            "type": "file",
        },
        {
            "have_pieces": 1,
            "name": "été.txt",
            "size": 2,
            "state": "created",
            "total_pieces": 1,
            "type": "file",
        },
    ]
    assert await api.ok("get_files", secret=RW, path="images") == [
        {
            "have_pieces": 1,
            "name": "cat.jpg",
            "size": 3000,
            "state": "created",
            "total_pieces": 1,
            "type": "file",
        }
    ]
    assert await api.ok("get_files", secret=RW, path="/images/") == await api.ok(
        "get_files", secret=RW, path="images"
    )
    assert await api.ok("get_files", secret=RW, path="missing") == []
    assert await api.ok("get_files", secret=RW, path="index.html") == []
    assert await api.ok("get_files", secret="A" + "C" * 32) == []


@pytest.mark.parametrize(
    "path", ["..", "../", "images/../..", "/..", "..\\..", "escape", "escape/..", "/etc"]
)
async def test_get_files_never_leaves_the_folder(tree: tuple[Any, Path], path: str) -> None:
    api, root = tree
    reply = await api.call("get_files", secret=RW, path=path)
    assert reply.status == 200
    assert b"secret.txt" not in reply.body
    assert reply.json() == [] or all(e["name"] in os.listdir(root) for e in reply.json())


async def test_set_file_prefs_selective(sim_api: Any, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("bb")
    await sim_api.ok("add_folder", dir=str(tmp_path), secret=RW, selective_sync="1")
    before = await sim_api.ok("get_files", secret=RW)
    assert [(e["name"], e["download"]) for e in before] == [("b.txt", 0), ("docs", 0)]
    marked = await sim_api.ok("set_file_prefs", secret=RW, path="docs/a.txt", download="1")
    assert marked == [
        {
            "download": 1,
            "have_pieces": 1,
            "name": "a.txt",
            "size": 1,
            "state": "created",
            "total_pieces": 1,
            "type": "file",
        }
    ]
    assert (await sim_api.ok("get_files", secret=RW, path="docs"))[0]["download"] == 1
    folder = await sim_api.ok("set_file_prefs", secret=RW, path="docs", download="1")
    assert folder == [{"download": 1, "name": "docs", "state": "created", "type": "folder"}]
    unmark = await sim_api.ok("set_file_prefs", secret=RW, path="docs/a.txt", download="0")
    assert unmark[0]["download"] == 0
    assert await sim_api.ok("set_file_prefs", secret=RW, path="nope", download="1") == []
    assert await sim_api.ok("set_file_prefs", secret=RW, path="../b.txt", download="1") == []
    assert await sim_api.ok("set_file_prefs", secret=RW, path="b.txt", download="x") == []


async def test_download_key_only_for_selective_folders(tree: tuple[Any, Path]) -> None:
    api, _ = tree
    answer = await api.ok("set_file_prefs", secret=RW, path="index.html", download="1")
    assert answer[0]["name"] == "index.html"
    assert "download" not in answer[0]
    assert all("download" not in e for e in await api.ok("get_files", secret=RW))


async def test_remove_while_indexing_stops_the_walk(
    make_node: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    make_tree(tmp_path)
    api = client_for(await make_node(walk_chunk=1))
    await api.ok("add_folder", dir=str(tmp_path), secret=RW)
    assert (await api.ok("get_folders"))[0]["indexing"] == 1
    assert await api.ok("remove_folder", secret=RW) == {"error": 0}
    assert await api.ok("add_folder", dir=str(tmp_path), secret=RW) == {"result": 0}
    assert (await api.wait_indexed(RW))["files"] == 300
