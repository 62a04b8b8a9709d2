"""The HTTP side of a node: auth, API key, encoding, bad input and every fault.

Each test talks to a real node on a loopback port; raw-socket tests send bytes that
an HTTP client library would refuse or fix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FaultMode, FolderState, NodeState, PeerState
from tests.waiting import until

RW = "A" + "B" * 32
AUTH = aiohttp.encode_basic_auth("api", "secret")


async def raw_exchange(node: SimNode, request: bytes) -> bytes:
    """Send raw bytes to the node and return everything it answers before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def get_request(target: bytes, *, auth: bool = True) -> bytes:
    headers = b"Host: sim\r\nConnection: close\r\n"
    if auth:
        headers += b"Authorization: " + AUTH.encode() + b"\r\n"
    return b"GET " + target + b" HTTP/1.1\r\n" + headers + b"\r\n"


@pytest.mark.parametrize(
    "auth",
    [
        None,
        aiohttp.encode_basic_auth("api", "wrong"),
        aiohttp.encode_basic_auth("x", "secret"),
        "Basic !!!notbase64",
        "Bearer abc",
        "Basic " + "YXBp",
    ],  # "api" without ":"
)
async def test_bad_basic_auth_is_401_with_empty_body(sim_api: Any, auth: str | None) -> None:
    reply = await sim_api.call("get_version", auth=auth if auth is not None else None)
    assert reply.status == 401
    assert reply.body == b""
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="Resilio Sync"'


async def test_no_login_means_no_auth(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    api = client_for(await make_node(login=None, password=None))
    reply = await api.call("get_version", auth=None)
    assert (reply.status, reply.json()) == (200, {"version": "1.4.111"})


async def test_api_disabled_without_api_key(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    api = client_for(await make_node(api_key=None))
    reply = await api.call("get_version")
    assert (reply.status, reply.body) == (400, b"invalid request")
    assert (await api.call("get_version", auth=None)).status == 401


async def test_json_encoding_like_a_real_node(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    state = NodeState("n")
    folder = FolderState(secret=RW, dir="/data/Müsik/日本", type="read_write")
    folder.peers["p"] = PeerState(id="ARRdk5XANMb7RmQqEDfEZE-k5aI=", name="Zoë's phone")
    state.folders[RW] = folder
    api = client_for(await make_node(state))
    reply = await api.call("get_folders")
    assert reply.headers["Content-Type"] == "text/javascript"  # no charset
    assert "\\/data\\/Müsik\\/日本".encode() in reply.body  # raw UTF-8, escaped slashes
    assert b"\\u" not in reply.body
    assert reply.json()[0]["dir"] == "/data/Müsik/日本"
    peers = await api.call("get_folder_peers", secret=RW)
    assert "Zoë's phone".encode() in peers.body


@pytest.mark.parametrize("path", ["/", "/gui/app.js", "/api/v2/folders", "/apii", "/api/x"])
async def test_other_paths_are_404(sim_api: Any, path: str) -> None:
    assert (await sim_api.get(path)).status == 404


async def test_unknown_parameters_are_ignored(sim_api: Any) -> None:
    plain = await sim_api.ok("get_speed")
    assert await sim_api.ok("get_speed", foo="bar", secret="x", download="9") == plain


async def test_broken_percent_encoding_gets_api_answers(sim_api: Any) -> None:
    for target in ["/api?method=get_folders&secret=%zz%", "/api?method=get_folders&secret=%"]:
        reply = await sim_api.get(target)
        assert (reply.status, reply.json()) == (200, [])
    reply = await sim_api.get("/api?method=get%5_version")
    assert reply.json() == {"error": 1, "message": "Invalid API method name or format."}


async def test_non_utf8_percent_bytes_are_a_missing_folder(sim_api: Any) -> None:
    reply = await sim_api.get("/api?method=add_folder&dir=%2Ftmp%2F%FF%FE")
    assert (reply.status, reply.json()["result"]) == (200, 100)


async def test_raw_unencoded_dir_is_accepted(sim_api: Any, tmp_path: Path) -> None:
    """Clients that concatenate URLs send '/', ':', '[', '{' unescaped.

    (docs/sync-api.md, "API v1 quirks".)
    """
    target = tmp_path / "raw[1]{x}:y"
    target.mkdir()
    reply = await sim_api.get(f"/api?method=add_folder&dir={target}&secret={RW}")
    assert reply.json() == {"result": 0}
    assert (await sim_api.ok("get_folders"))[0]["dir"] == str(target)


async def test_raw_bytes_in_request_line_get_400_and_node_survives(
    sim_node: SimNode, sim_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for target in [
        b"/api?method=get_folders&secret=" + RW.encode() + b"\xff\xfe",
        b"/api?method=add_folder&dir=/tmp/\xc3\xa9t\xc3\xa9",
        b"/api?method=add_folder&dir=/tmp/a b",
    ]:
        answer = await raw_exchange(sim_node, get_request(target))
        assert answer.startswith(b"HTTP/1.")
        assert b" 400 " in answer.split(b"\r\n")[0]
    assert (await sim_api.call("get_version")).status == 200
    assert RW not in caplog.text
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize("credentials", [b"\xc3\xa9\xc3\xa9", b"\xff\xfe", "YXBp\u00e9".encode()])
async def test_non_ascii_authorization_is_401_not_500(
    sim_node: SimNode, sim_api: Any, caplog: pytest.LogCaptureFixture, credentials: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    request = (
        b"GET /api?method=get_version HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n"
        b"Authorization: Basic " + credentials + b"\r\n\r\n"
    )
    answer = await raw_exchange(sim_node, request)
    assert answer.split(b"\r\n")[0] == b"HTTP/1.1 401 Unauthorized"
    assert b'WWW-Authenticate: Basic realm="Resilio Sync"' in answer
    assert "Traceback" not in caplog.text
    assert (await sim_api.call("get_version")).status == 200


async def test_huge_query_string_is_414(sim_node: SimNode, sim_api: Any) -> None:
    reply = await sim_api.get("/api?method=get_folders&junk=" + "a" * 100_000)
    assert (reply.status, reply.body) == (414, b"")
    assert (await sim_api.call("get_version")).status == 200


async def test_secrets_never_logged(
    sim_api: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sim_api.ok("add_folder", dir=str(tmp_path), secret=RW)
    await sim_api.ok("get_folders", secret=RW)
    await sim_api.ok("get_secrets", secret=RW)
    await sim_api.wait_indexed(RW)
    await sim_api.get("/api?method=get_folders&secret=" + RW + "&x=" + "a" * 30_000)
    await sim_api.call("get_folders", secret=RW, auth=None)
    assert RW not in caplog.text


# --- faults -------------------------------------------------------------------------


async def test_delay_slows_every_answer(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.delay = 0.2
    started = time.monotonic()
    assert (await sim_api.call("get_version")).status == 200
    assert time.monotonic() - started >= 0.2


async def test_unauthorized_fault(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.UNAUTHORIZED
    reply = await sim_api.call("get_version")
    assert (reply.status, reply.body) == (401, b"")
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="Resilio Sync"'


async def test_server_error_fault(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.SERVER_ERROR
    assert (await sim_api.call("get_version")).status == 500


async def test_invalid_json_fault(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.INVALID_JSON
    reply = await sim_api.call("get_folders")
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/javascript")
    with pytest.raises(ValueError, match="Expecting value"):
        reply.json()


async def test_truncated_fault(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.TRUNCATED
    with pytest.raises(aiohttp.ClientPayloadError):
        await sim_api.call("get_prefs")
    answer = await raw_exchange(sim_node, get_request(b"/api?method=get_prefs"))
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    assert head.startswith(b"HTTP/1.1 200")
    assert 0 < len(body) < length


async def test_fault_restricted_to_methods(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.SERVER_ERROR
    sim_node.state.faults.methods = frozenset({"get_folders"})
    assert (await sim_api.call("get_folders")).status == 500
    assert (await sim_api.call("get_version")).status == 200


async def test_hang_until_cleared(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.HANG
    pending = asyncio.create_task(sim_api.call("get_version"))
    done, _ = await asyncio.wait({pending}, timeout=0.3)
    assert not done
    sim_node.state.faults.mode = FaultMode.NONE
    reply = await asyncio.wait_for(pending, 5)
    assert reply.json() == {"version": "1.4.111"}


async def test_stop_releases_hanging_requests(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    node = await make_node()
    node.state.faults.mode = FaultMode.HANG
    pending = asyncio.create_task(client_for(node).call("get_version"))
    await until(lambda: node.requests_in_flight > 0, "the request hanging at the node")
    started = time.monotonic()
    await node.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(pending, 5)
    await node.stop()  # idempotent


async def test_down_refuses_then_comes_back_on_the_same_port(
    sim_node: SimNode, sim_api: Any
) -> None:
    port = sim_node.port
    assert (await sim_api.call("get_version")).status == 200  # a kept-alive connection
    await sim_node.set_down(True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await sim_api.call("get_version")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await sim_node.set_down(False)
    assert sim_node.port == port
    assert (await sim_api.call("get_version")).status == 200


async def test_down_mode_drops_connections_without_set_down(
    sim_node: SimNode, sim_api: Any
) -> None:
    sim_node.state.faults.mode = FaultMode.DOWN
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sim_api.call("get_version")
    sim_node.state.faults.mode = FaultMode.NONE
    assert (await sim_api.call("get_version")).status == 200


async def test_stop_while_down_and_set_down_twice(make_node: Callable[..., Any]) -> None:
    node = await make_node()
    await node.set_down(True)
    await node.set_down(True)
    await node.stop()
    await node.stop()


async def test_shutdown_without_callback_stops_the_node(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    node = await make_node()
    api = client_for(node)
    assert await api.ok("shutdown") == {"error": 0}
    async with asyncio.timeout(5):
        while True:
            try:
                await asyncio.open_connection("127.0.0.1", node.port)
            except ConnectionRefusedError:
                break
            await asyncio.sleep(0.01)


async def test_shutdown_with_a_truncated_answer_still_stops_the_node(
    make_node: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    node = await make_node()
    node.state.faults.mode = FaultMode.TRUNCATED
    with pytest.raises(aiohttp.ClientPayloadError):
        await client_for(node).call("shutdown")
    async with asyncio.timeout(5):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", node.port)
            except ConnectionRefusedError:
                break
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.01)


@pytest.fixture
def latin1_share(tmp_path: Path) -> Path:
    """A directory holding one file whose name is not UTF-8 (Latin-1 "café.txt")."""
    share = tmp_path / "share"
    share.mkdir()
    Path(os.fsdecode(os.fsencode(share) + b"/caf\xe9.txt")).write_bytes(b"x")
    return share


async def test_file_name_not_utf8_goes_out_raw(sim_api: Any, latin1_share: Path) -> None:
    await sim_api.ok("add_folder", dir=str(latin1_share), secret=RW)
    reply = await sim_api.call("get_files", secret=RW)
    assert reply.status == 200
    assert b'"name": "caf\xe9.txt"' in reply.body  # the bytes on disk, like a real node
    assert (await sim_api.wait_indexed(RW))["files"] == 1


async def test_set_down_cuts_hanging_requests(sim_node: SimNode, sim_api: Any) -> None:
    sim_node.state.faults.mode = FaultMode.HANG
    pending = asyncio.create_task(sim_api.call("get_version"))
    await until(lambda: sim_node.requests_in_flight > 0, "the request hanging at the node")
    await sim_node.set_down(True)
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(pending, 5)
