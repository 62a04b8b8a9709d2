"""Every API v1 method over real HTTP: shapes, types and error bodies as real nodes send them.

Expected bodies come from docs/sync-api.md ("API v1 methods" and "API v1 errors").
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.simulator import secrets
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FolderState, NodeState, PeerState

RW = "A" + "B" * 32  # a well-formed read-write secret
RO_OF_RW = secrets.derive(RW).read_only
FOLDER_KEYS = {"dir", "error", "files", "indexing", "secret", "size", "type"}


def synthetic_state() -> NodeState:
    """A node holding one synthetic folder with two peers, and speeds, as the world sets them."""
    state = NodeState("nas", download_speed=61007, upload_speed=230)
    folder = FolderState(
        secret=RW, dir="/volume1/Backup", type="read_write", size=9309894543, files=216934
    )
    folder.peers["p1"] = PeerState(
        id="ARRdk5XANMb7RmQqEDfEZE-k5aI=", name="GT-I9500", synced=1384470525, upload=22455367417
    )
    folder.peers["p2"] = PeerState(
        id="YUfgCVGHHcli4mL5DvgoCT4siaH=", name="HomePc", connection="relay"
    )
    state.folders[RW] = folder
    return state


@pytest.fixture
async def nas(make_node: Callable[..., Any], client_for: Callable[..., Any]) -> Any:
    """A client for a node holding the synthetic folder."""
    node: SimNode = await make_node(synthetic_state())
    return client_for(node)


async def test_get_version_os_speed(nas: Any) -> None:
    assert await nas.ok("get_version") == {"version": "1.4.111"}
    assert await nas.ok("get_os") == {"os": "linux"}
    assert await nas.ok("get_speed") == {"download": 61007, "upload": 230}


async def test_get_folders_all_filtered_and_unknown(nas: Any) -> None:
    everything = await nas.ok("get_folders")
    assert everything == [
        {
            "dir": "/volume1/Backup",
            "error": 0,
            "files": 216934,
            "indexing": 0,
            "secret": RW,
            "size": 9309894543,
            "type": "read_write",
        }
    ]
    assert set(everything[0]) == FOLDER_KEYS
    assert await nas.ok("get_folders", secret=RW) == everything  # still an array
    assert await nas.ok("get_folders", secret="A" + "C" * 32) == []


async def test_get_folder_peers(
    nas: Any, make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    peers = await nas.ok("get_folder_peers", secret=RW)
    assert peers == [
        {
            "connection": "direct",
            "download": 0,
            "id": "ARRdk5XANMb7RmQqEDfEZE-k5aI=",
            "name": "GT-I9500",
            "synced": 1384470525,
            "upload": 22455367417,
        },
        {
            "connection": "relay",
            "download": 0,
            "id": "YUfgCVGHHcli4mL5DvgoCT4siaH=",
            "name": "HomePc",
            "synced": 0,
            "upload": 0,
        },
    ]
    assert await nas.ok("get_folder_peers", secret="B" + "C" * 32) == []


async def test_add_folder_generates_secret_and_indexes(sim_api: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello")
    assert await sim_api.ok("add_folder", dir=str(tmp_path)) == {"result": 0}
    (folder,) = await sim_api.ok("get_folders")
    assert folder["dir"] == str(tmp_path)
    assert folder["type"] == "read_write"
    assert secrets.is_valid(folder["secret"])
    assert folder["secret"].startswith("A")
    done = await sim_api.wait_indexed(folder["secret"])
    assert (done["size"], done["files"], done["error"]) == (5, 1, 0)


async def test_add_folder_same_seed_same_secret(
    make_node: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    """Generated secrets come from the injected rng only: the same seed, the same secret."""
    found = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        api = client_for(await make_node(rng=random.Random(42)))
        await api.ok("add_folder", dir=str(tmp_path / name))
        found.append((await api.ok("get_folders"))[0]["secret"])
    assert found[0] == found[1]


@pytest.mark.parametrize(
    ("secret", "kind"),
    [(RO_OF_RW, "read_only"), ("D" + "Q" * 32, "read_write"), ("F" + "Q" * 32, "encrypted")],
)
async def test_add_folder_with_secret_sets_type(
    sim_api: Any, tmp_path: Path, secret: str, kind: str
) -> None:
    assert await sim_api.ok("add_folder", dir=str(tmp_path), secret=secret) == {"result": 0}
    (folder,) = await sim_api.ok("get_folders", secret=secret)
    assert folder["type"] == kind


async def test_add_folder_errors(sim_api: Any, tmp_path: Path) -> None:
    assert await sim_api.ok("add_folder", dir=str(tmp_path / "nope")) == {
        "message": "Can't open the destination folder.",
        "result": 100,
    }
    (tmp_path / "file").write_text("x")
    assert (await sim_api.ok("add_folder", dir=str(tmp_path / "file")))["result"] == 100
    assert await sim_api.ok("add_folder", dir=str(tmp_path), secret="NOPE") == {
        "message": "This secret is invalid.\nPlease generate a new secret or enter your "
        "shared folder secret.",
        "result": 201,
    }
    assert await sim_api.ok("add_folder", dir=str(tmp_path), secret=RW) == {"result": 0}
    already = {"message": "Selected folder is already added to BitTorrent Sync.", "result": 200}
    assert await sim_api.ok("add_folder", dir=str(tmp_path)) == already
    assert await sim_api.ok("add_folder", dir=str(tmp_path) + "/") == already
    (tmp_path / "other").mkdir()
    assert await sim_api.ok("add_folder", dir=str(tmp_path / "other"), secret=RW) == already
    assert len(await sim_api.ok("get_folders")) == 1


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write to (root writes anywhere but procfs)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked
    candidate = Path("/proc/1")
    if not candidate.is_dir() or os.access(candidate, os.W_OK):
        pytest.skip("no directory that root cannot write to")
    return candidate


async def test_add_folder_not_writable(sim_api: Any, unwritable_dir: Path) -> None:
    assert await sim_api.ok("add_folder", dir=str(unwritable_dir)) == {
        "message": "Don't have permissions to write to the selected folder.",
        "result": 101,
    }
    assert await sim_api.ok("get_folders") == []


async def test_add_folder_selective(sim_api: Any, tmp_path: Path) -> None:
    await sim_api.ok("add_folder", dir=str(tmp_path), secret=RW, selective_sync="1")
    assert (await sim_api.ok("get_folder_prefs", secret=RW))["selective_sync"] == 1


async def test_remove_folder_keeps_files(sim_api: Any, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    await sim_api.ok("add_folder", dir=str(tmp_path), secret=RW)
    assert await sim_api.ok("remove_folder", secret=RW) == {"error": 0}
    assert await sim_api.ok("get_folders") == []
    assert (tmp_path / "keep.txt").read_text() == "x"
    assert await sim_api.ok("remove_folder", secret=RW) == {"error": 1}


async def test_get_secrets_generate(sim_api: Any) -> None:
    plain = await sim_api.ok("get_secrets")
    assert set(plain) == {"read_only", "read_write"}
    assert plain["read_write"][0] == "A"
    assert plain["read_only"][0] == "B"
    enc = await sim_api.ok("get_secrets", type="encryption")
    assert (enc["read_write"][0], enc["read_only"][0], enc["encryption"][0]) == ("D", "E", "F")
    assert (len(enc["read_write"]), len(enc["read_only"]), len(enc["encryption"])) == (33, 59, 33)
    assert all(secrets.is_valid(s) for s in [*plain.values(), *enc.values()])


async def test_get_secrets_derive(sim_api: Any) -> None:
    """The read-only secret can be learned from a read-write or a read-only holder."""
    from_rw = await sim_api.ok("get_secrets", secret=RW)
    assert from_rw == {"read_only": RO_OF_RW, "read_write": RW}
    assert await sim_api.ok("get_secrets", secret=RO_OF_RW) == {"read_only": RO_OF_RW}
    enc = await sim_api.ok("get_secrets", type="encryption")
    from_ro = await sim_api.ok("get_secrets", secret=enc["read_only"])
    assert from_ro == {"read_only": enc["read_only"], "encryption": enc["encryption"]}
    assert await sim_api.ok("get_secrets", secret=enc["encryption"]) == {
        "encryption": enc["encryption"]
    }
    assert await sim_api.ok("get_secrets", secret="XYZ") == {
        "error": 3,
        "message": "Invalid secret.",
    }


async def test_folder_prefs(nas: Any) -> None:
    defaults = {
        "search_lan": 1,
        "selective_sync": 0,
        "use_dht": 0,
        "use_hosts": 0,
        "use_relay_server": 1,
        "use_sync_trash": 1,
        "use_tracker": 1,
    }
    assert await nas.ok("get_folder_prefs", secret=RW) == defaults
    changed = await nas.ok(
        "set_folder_prefs",
        secret=RW,
        use_dht="1",
        use_tracker="0",
        search_lan="2",
        use_hosts="yes",
        bogus="1",
    )
    assert changed == {**defaults, "use_dht": 1, "use_tracker": 0}
    assert await nas.ok("get_folder_prefs", secret=RW) == changed
    assert await nas.ok("get_folder_prefs", secret=RO_OF_RW) == {}
    assert await nas.ok("set_folder_prefs", secret=RO_OF_RW, use_dht="1") == {}


async def test_folder_hosts(nas: Any) -> None:
    assert await nas.ok("get_folder_hosts", secret=RW) == {"hosts": []}
    hosts = "192.168.1.1:4567, example.com:8975"
    expected = {"hosts": ["192.168.1.1:4567", "example.com:8975"]}
    assert await nas.ok("set_folder_hosts", secret=RW, hosts=hosts) == expected
    assert await nas.ok("get_folder_hosts", secret=RW) == expected
    assert await nas.ok("set_folder_hosts", secret=RW, hosts="") == {"hosts": []}
    assert await nas.ok("get_folder_hosts", secret=RO_OF_RW) == {}


async def test_prefs_types_and_set(nas: Any) -> None:
    prefs = await nas.ok("get_prefs")
    assert len(prefs) == 17
    assert prefs["device_name"] == "nas"
    assert prefs["disk_low_priority"] == "true"
    assert prefs["folder_rescan_interval"] == "600"
    assert prefs["listening_port"] == 11589
    assert prefs["use_upnp"] == 0
    updated = await nas.ok(
        "set_prefs",
        device_name="Büro",
        download_limit="100",
        folder_rescan_interval="300",
        lang="en",
        unknown="1",
    )
    assert updated == {
        **prefs,
        "device_name": "Büro",
        "download_limit": 100,
        "folder_rescan_interval": "300",
    }
    assert await nas.ok("get_prefs") == updated
    assert await nas.ok("set_prefs") == updated  # no arguments: reads the current set


async def test_shutdown_answers_then_calls_back(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    called: list[bool] = []

    async def on_shutdown() -> None:
        called.append(True)

    api = client_for(await make_node(on_shutdown=on_shutdown))
    assert await api.ok("shutdown") == {"error": 0}
    for _ in range(100):
        if called:
            break
        await asyncio.sleep(0.01)
    assert called == [True]


async def test_unknown_and_missing_method(sim_api: Any) -> None:
    unknown = {"error": 1, "message": "Invalid API method name or format."}
    assert await sim_api.ok("get_everything") == unknown
    reply = await sim_api.get("/api")
    assert (reply.status, reply.json()) == (200, unknown)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("add_folder", {}),
        ("remove_folder", {}),
        ("get_files", {}),
        ("set_file_prefs", {"secret": RW, "path": "a"}),
        ("set_file_prefs", {"secret": RW, "download": "1"}),
        ("get_folder_peers", {}),
        ("get_folder_prefs", {}),
        ("set_folder_prefs", {}),
        ("get_folder_hosts", {}),
        ("set_folder_hosts", {"secret": RW}),
    ],
)
async def test_missing_parameters(sim_api: Any, method: str, params: dict[str, str]) -> None:
    assert await sim_api.ok(method, **params) == {
        "error": 2,
        "message": f"Specify all the required parameters for {method}.",
    }
