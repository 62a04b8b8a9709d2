"""The web GUI API of a simulated node, over real HTTP, against the recorded captures."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from sync_exporter.simulator import secrets
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FaultMode, FolderState, NodeState, PeerState
from tests.simulator.conftest import GuiClient

# A getsyncfolders answer recorded from a resilio/sync container (public capture in
# lowlysre/ha-backup-resilio: tests/fixtures/resilio_gui/peer_connected.json), with the
# placeholder secrets shortened. The simulator must send the same keys with the same types.
CAPTURE = json.loads(
    """{"folders":[{"archive":"/mnt/sync/folders/capture/.sync/Archive","archive_files":0,
 "archive_size":0,"available_space":759980777472,"canencrypt":false,"date_added":1788188731,
 "down_eta":0,"down_speed":0,"down_status":100,"error":0,"errors":[],"files":0,
 "firstsynccompleted":0,"folderid":"1234567890123456789","has_key":true,
 "id":"1234567890123456789","indexing":false,"is_local":false,"is_owner":true,
 "ismanaged":false,"iswritable":true,"last_modified":1788188731,"loading":false,
 "local_files":0,"local_size":0,"locked_files":0,"name":"capture","ondisk_files":0,
 "ondisk_size":0,"onlinepeerscount":1,"path":"/mnt/sync/folders/capture","paused":false,
 "peers":[{"direct":true,"downdiff":0,"downfiles":0,"has_files":0,"has_files_size":0,
 "id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","isonline":true,"lastreceivedtime":0,
 "lastsenttime":0,"lastsynctime":0,"name":"peer-b","updiff":0,"upfiles":0,"userid":""}],
 "queue_download_files":0,"queue_download_size":0,"queue_upload_files":0,
 "queue_upload_size":0,"readonlysecret":"FAKE1","remoteindexing":false,"rescanning":false,
 "secret":"FAKE2","secrettype":1,"share_id":"0000000000000000000000000000000000000000",
 "size":0,"status":7,"stopped":false,"synclevel":2,"totallastsynccompleted":0,
 "tree_files":0,"tree_size":0,"up_eta":0,"up_speed":0,"up_status":100,"warnings":[]}],
 "status":200}"""
)

RW = secrets.derive("A" + "C" * 32).read_write or ""
RO = secrets.derive(RW).read_only or ""


def _types(value: dict[str, Any]) -> dict[str, type]:
    """Map each key to its JSON type; bool and int are told apart (bool is an int in Python)."""
    return {k: type(v) for k, v in value.items()}


def _node() -> NodeState:
    """A 3.1.2 node with a read-write folder, one peer online and one gone offline."""
    state = NodeState("gui-node", version="3.1.2", os="linux")
    folder = FolderState(
        secret=RW,
        dir="/mnt/sync/folders/Phötos",
        type="read_write",
        size=1000,
        files=10,
        pending_down_bytes=300,
        pending_down_files=3,
        available_space=5_000_000,
        date_added=1788188731,
    )
    folder.peers["P1"] = PeerState(id="P1", name="peer-b", synced=1788188800)
    folder.peers["P2"] = PeerState(
        id="P2", name="laptop", connection="relay", online=False, last_seen=1788188734
    )
    state.folders[RW] = folder
    state.folders["sparse"] = FolderState(secret=RO, dir="/x/ro", type="read_only", synclevel=0)
    state.download_speed, state.upload_speed = 1234, 56
    return state


@pytest.fixture
async def gui_node(make_node: Callable[..., Any]) -> SimNode:
    node: SimNode = await make_node(_node())
    return node


@pytest.fixture
async def gui(gui_node: SimNode, gui_for: Callable[..., GuiClient]) -> GuiClient:
    client = gui_for(gui_node)
    reply = await client.mint()
    assert reply.status == 200
    return client


# --- token and sessions ------------------------------------------------------------


async def test_token_page_and_cookie_as_recorded(gui_node: SimNode, gui_for: Any) -> None:
    client = gui_for(gui_node)
    reply = await client.mint()
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html"
    assert client.token
    assert len(client.token) >= 40
    assert client.cookie
    assert len(client.cookie) == 20


async def test_token_page_needs_basic_auth(gui_node: SimNode, gui_for: Any) -> None:
    client = gui_for(gui_node, password="wrong")
    reply = await client.mint()
    assert (reply.status, reply.body) == (401, b"")
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="Resilio Sync"'
    assert "Set-Cookie" not in reply.headers


async def test_action_needs_basic_auth_too(gui: GuiClient, gui_node: SimNode, gui_for: Any) -> None:
    other = gui_for(gui_node, password="wrong")
    reply = await other.action("version", token=gui.token, cookie=gui.cookie)
    assert reply.status == 401


async def test_token_without_its_cookie_is_invalid_request(gui: GuiClient) -> None:
    reply = await gui.action("version", cookie="")
    assert (reply.status, reply.body) == (400, b"invalid request")
    reply = await gui.action("version", token="NOTATOKEN")
    assert (reply.status, reply.body) == (400, b"invalid request")
    assert (await gui.ok("version"))["status"] == 200  # the right pair still works


async def test_several_sessions_each_bound_to_its_cookie(
    gui: GuiClient, gui_node: SimNode, gui_for: Any
) -> None:
    second = gui_for(gui_node)
    await second.mint()
    assert second.cookie != gui.cookie
    assert second.token != gui.token
    assert (await gui.ok("version"))["status"] == 200
    assert (await second.ok("version"))["status"] == 200
    crossed = await gui.action("version", token=second.token)
    assert (crossed.status, crossed.body) == (400, b"invalid request")


async def test_reminting_with_the_cookie_keeps_it_and_replaces_the_token(gui: GuiClient) -> None:
    old_token, cookie = gui.token, gui.cookie
    await gui.mint(keep_cookie=True)
    assert gui.cookie == cookie
    assert gui.token != old_token
    assert (await gui.action("version", token=old_token)).status == 400
    assert (await gui.ok("version"))["status"] == 200


async def test_expired_session_answers_401_once_then_400(gui: GuiClient, gui_node: SimNode) -> None:
    assert gui_node.expire_gui_sessions() == 1
    reply = await gui.action("getsyncfolders")
    assert reply.status == 200
    assert reply.json() == {"status": 401}
    again = await gui.action("getsyncfolders")
    assert (again.status, again.body) == (400, b"invalid request")
    await gui.mint()
    assert (await gui.ok("getsyncfolders"))["status"] == 200


async def test_epoch_in_state_expires_sessions(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.gui_epoch += 1  # what a scenario event does
    assert (await gui.ok("version")) == {"status": 401}
    fresh_after = await gui.mint()
    assert fresh_after.status == 200
    assert (await gui.ok("version"))["status"] == 200


async def test_restart_forgets_sessions(gui: GuiClient, gui_node: SimNode) -> None:
    await gui_node.set_down(True)
    await gui_node.set_down(False)
    reply = await gui.action("version")
    assert (reply.status, reply.body) == (400, b"invalid request")
    await gui.mint()
    assert (await gui.ok("version"))["status"] == 200


async def test_post_gui_is_the_html_ui_not_json(gui: GuiClient, gui_node: SimNode) -> None:
    url = f"{gui_node.url}/gui/?token={gui.token}&action=version"
    headers = {"Authorization": gui.auth, "Cookie": f"GUID={gui.cookie}"}
    async with gui.session.post(url, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html"
        assert (await response.read()).startswith(b"<!DOCTYPE html>")


async def test_unknown_action(gui: GuiClient) -> None:
    assert await gui.ok("nosuchaction") == {"error": "unknown function", "status": 400}


# --- answers -----------------------------------------------------------------------


async def test_getsyncfolders_has_the_captured_keys_and_types(gui: GuiClient) -> None:
    answer = await gui.ok("getsyncfolders", discovery="1")
    assert set(answer) == set(CAPTURE)
    assert answer["status"] == 200
    full = answer["folders"][0]
    recorded = CAPTURE["folders"][0]
    assert _types(full) == _types(recorded)
    online, offline = full["peers"]
    recorded_peer = recorded["peers"][0]
    assert _types(online) == _types(recorded_peer)
    assert _types(offline) == {**_types(recorded_peer), "lastseentime": int}


async def test_getsyncfolders_values_follow_the_state(gui: GuiClient) -> None:
    full, _sparse = (await gui.ok("getsyncfolders"))["folders"]
    assert full["path"] == "/mnt/sync/folders/Phötos"
    assert full["name"] == "Phötos"
    assert (full["size"], full["files"]) == (1000, 10)
    assert (full["queue_download_size"], full["queue_download_files"]) == (300, 3)
    assert (full["queue_upload_size"], full["queue_upload_files"]) == (0, 0)
    assert full["available_space"] == 5_000_000
    assert full["down_status"] == 76
    assert full["up_status"] == 100
    assert full["status"] == 3  # RECEIVING
    assert full["secret"] == RW
    assert full["readonlysecret"] == RO
    assert full["iswritable"] is True
    assert full["secrettype"] == 1
    assert full["onlinepeerscount"] == 1
    online, offline = full["peers"]
    assert online == {**online, "id": "P1", "direct": True, "isonline": True}
    assert online["lastsynctime"] == 1788188800
    assert "lastseentime" not in online
    assert offline["direct"] is False
    assert offline["isonline"] is False
    assert offline["lastseentime"] == 1788188734
    assert full["folderid"] == full["id"]
    assert len(full["folderid"]) == 19
    assert len(full["share_id"]) == 40


async def test_synclevel_zero_is_the_sparse_object(gui: GuiClient) -> None:
    _, sparse = (await gui.ok("getsyncfolders"))["folders"]
    assert sparse["synclevel"] == 0
    assert {"folderid", "name", "secret", "synclevel"} <= set(sparse)
    assert not {"id", "path", "peers", "status"} & set(sparse)
    assert sparse["iswritable"] is False
    assert sparse["name"] == "ro"


async def test_share_id_is_the_same_on_every_node_holding_the_folder(
    make_node: Callable[..., Any], gui_for: Any
) -> None:
    ids = []
    for held, kind in ((RW, "read_write"), (RO, "read_only")):
        state = NodeState("n" + kind)
        state.folders[held] = FolderState(secret=held, dir="/d", type=kind)  # type: ignore[arg-type]
        client = gui_for(await make_node(state))
        await client.mint()
        (folder,) = (await client.ok("getsyncfolders"))["folders"]
        ids.append((folder["share_id"], folder["folderid"], folder["readonlysecret"]))
    assert ids[0][0] == ids[1][0]  # one shared folder
    assert ids[0][1] != ids[1][1]  # folderid is the node's own
    assert ids[0][2] == RO
    assert ids[1][2] == RO


async def test_paused_folder(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.folders[RW].paused = True
    full, _ = (await gui.ok("getsyncfolders"))["folders"]
    assert full["paused"] is True
    assert full["status"] == 1


async def test_no_folders_is_an_empty_list(make_node: Callable[..., Any], gui_for: Any) -> None:
    client = gui_for(await make_node(NodeState("empty", version="3.1.2")))
    await client.mint()
    assert await client.ok("getsyncfolders") == {"folders": [], "status": 200}


async def test_version_statuses_systeminfo_session_stats_settings(
    gui: GuiClient, gui_node: SimNode
) -> None:
    assert await gui.ok("version") == {"status": 200, "value": "3.1.2 (1076)"}
    gui_node.state.version, gui_node.state.build = "2.7.3", 1381
    assert await gui.ok("version") == {"status": 200, "value": "2.7.3 (1381)"}
    statuses = await gui.ok("getstatuses")
    assert statuses["status"] == 200
    assert statuses["value"]["speed"] == {"downspeed": 1234, "upspeed": 56}
    info = await gui.ok("getsysteminfo")
    assert info["value"]["os"] == "linux"
    stats = await gui.ok("getsessionstats")
    assert set(stats["value"]) == {"max_speed", "total_transferred", "transferred"}
    settings = await gui.ok("settings")
    assert settings["value"]["dlrate"] == -1
    assert settings["value"]["webui_port"] == gui_node.port


async def test_json_is_raw_utf8_with_escaped_slashes(gui: GuiClient) -> None:
    reply = await gui.action("getsyncfolders")
    assert "\\/mnt\\/sync\\/folders\\/Phötos".encode() in reply.body


async def test_api_key_none_means_api_400_and_gui_working(
    make_node: Callable[..., Any], gui_for: Any, client_for: Any
) -> None:
    node = await make_node(_node(), api_key=None)
    reply = await client_for(node).call("get_version")
    assert (reply.status, reply.body) == (400, b"invalid request")
    client = gui_for(node)
    assert (await client.mint()).status == 200
    assert (await client.ok("version"))["value"] == "3.1.2 (1076)"


# --- faults ------------------------------------------------------------------------


async def test_server_error_and_unauthorized_faults(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.faults.mode = FaultMode.SERVER_ERROR
    assert (await gui.action("getsyncfolders")).status == 500
    assert (await gui.mint()).status == 500
    gui_node.state.faults.mode = FaultMode.UNAUTHORIZED
    assert (await gui.action("getsyncfolders")).status == 401


async def test_fault_restricted_to_gui_actions(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.faults.mode = FaultMode.SERVER_ERROR
    gui_node.state.faults.methods = frozenset({"getstatuses", "token"})
    assert (await gui.action("getstatuses")).status == 500
    assert (await gui.mint()).status == 500
    assert (await gui.ok("getsyncfolders"))["status"] == 200


async def test_invalid_json_fault(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.faults.mode = FaultMode.INVALID_JSON
    reply = await gui.action("getsyncfolders")
    assert reply.status == 200
    with pytest.raises(ValueError, match="Expecting value"):
        reply.json()
    token = await gui.get("/gui/token.html")
    assert token.status == 200
    assert b"id='token'" not in token.body


async def test_truncated_fault(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.faults.mode = FaultMode.TRUNCATED
    with pytest.raises(aiohttp.ClientPayloadError):
        await gui.action("getsyncfolders")


async def test_down_and_hang_and_delay(gui: GuiClient, gui_node: SimNode) -> None:
    gui_node.state.faults.mode = FaultMode.DOWN
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await gui.action("version")
    gui_node.state.faults.mode = FaultMode.HANG
    pending = asyncio.create_task(gui.action("version"))
    done, _ = await asyncio.wait({pending}, timeout=0.3)
    assert not done
    gui_node.state.faults.mode = FaultMode.NONE
    assert (await asyncio.wait_for(pending, 5)).json()["status"] == 200
    gui_node.state.faults.delay = 0.2
    started = time.monotonic()
    assert (await gui.action("version")).status == 200
    assert time.monotonic() - started >= 0.2


async def test_tokens_cookies_and_secrets_never_logged(
    gui: GuiClient, gui_node: SimNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await gui.ok("getsyncfolders")
    await gui.action("version", token=gui.token, cookie="WRONGCOOKIE")
    await gui.get(f"/gui/?token={gui.token}&action=getsyncfolders&x=" + "a" * 30_000)
    gui_node.expire_gui_sessions()
    await gui.action("getsyncfolders")
    await gui.get("/gui/?token=bad%zz&action=%ff", cookie=gui.cookie)
    assert gui.token is not None
    assert gui.cookie is not None
    for secret in (gui.token, gui.cookie, RW, RO):
        assert secret not in caplog.text


async def test_huge_query_is_414(gui: GuiClient) -> None:
    reply = await gui.get(f"/gui/?token={gui.token}&action=version&x=" + "a" * 20_000)
    assert (reply.status, reply.body) == (414, b"")
