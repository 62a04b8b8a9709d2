"""The web GUI API parsers over answers recorded from live Resilio Sync nodes.

The bodies are the captures of docs/sync-api.md ("The web GUI API"): a Resilio Sync
docker node's getsyncfolders with a connected peer, the same after the peer went offline,
an empty folder list, a 3.x version string, a disconnected folder's sparse entry.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync_exporter.gui_model import (
    envelope_error,
    envelope_status,
    parse_gui_version,
    parse_statuses,
    parse_sync_folders,
    parse_system_info,
    parse_token,
)
from sync_exporter.model import GuiFolderState, PeerSnapshot, ShapeError, Speed

#: getsyncfolders&discovery=1 from a resilio/sync docker node, one peer connected
#: (lowlysre/ha-backup-resilio tests/fixtures/resilio_gui/peer_connected.json).
PEER_CONNECTED = (
    '{"folders":[{"archive":"/mnt/sync/folders/capture/.sync/Archive","archive_files":0,'
    '"archive_size":0,"available_space":759980777472,"canencrypt":false,'
    '"date_added":1788188731,"down_eta":0,"down_speed":0,"down_status":100,"error":0,'
    '"errors":[],"files":0,"firstsynccompleted":0,"folderid":"1234567890123456789",'
    '"has_key":true,"id":"1234567890123456789","indexing":false,"is_local":false,'
    '"is_owner":true,"ismanaged":false,"iswritable":true,"last_modified":1788188731,'
    '"loading":false,"local_files":0,"local_size":0,"locked_files":0,"name":"capture",'
    '"ondisk_files":0,"ondisk_size":0,"onlinepeerscount":1,"path":"/mnt/sync/folders/capture",'
    '"paused":false,"peers":[{"direct":true,"downdiff":0,"downfiles":0,"has_files":0,'
    '"has_files_size":0,"id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","isonline":true,'
    '"lastreceivedtime":0,"lastsenttime":0,"lastsynctime":0,"name":"peer-b","updiff":0,'
    '"upfiles":0,"userid":""}],"queue_download_files":0,"queue_download_size":0,'
    '"queue_upload_files":0,"queue_upload_size":0,"readonlysecret":"FAKE\u2026",'
    '"remoteindexing":false,"rescanning":false,"secret":"FAKE\u2026","secrettype":1,'
    '"share_id":"0000000000000000000000000000000000000000","size":0,"status":7,'
    '"stopped":false,"synclevel":2,"totallastsynccompleted":0,"tree_files":0,"tree_size":0,'
    '"up_eta":0,"up_speed":0,"up_status":100,"warnings":[]}],"status":200}'
)


def _peer_removed() -> str:
    """The same node after the peer went offline (peer_removed.json): isonline false and
    a lastseentime appear, onlinepeerscount drops to 0."""
    raw = json.loads(PEER_CONNECTED)
    folder = raw["folders"][0]
    folder["onlinepeerscount"] = 0
    folder["peers"][0]["isonline"] = False
    folder["peers"][0]["lastseentime"] = 1788188734
    return json.dumps(raw)


def test_connected_peer_capture() -> None:
    parsed = parse_sync_folders(json.loads(PEER_CONNECTED))
    assert parsed.skipped == 0
    assert parsed.disconnected == 0
    [folder] = parsed.items
    assert folder.dir == "/mnt/sync/folders/capture"
    assert folder.type == "read_write"
    assert (folder.size_bytes, folder.files, folder.error_code) == (0, 0, 0)
    assert folder.indexing is False
    assert folder.selective is False  # synclevel 2: full sync
    assert folder.state == GuiFolderState(
        pending_download_bytes=0,
        pending_download_files=0,
        pending_upload_bytes=0,
        pending_upload_files=0,
        paused=False,
        disk_free_bytes=759980777472,
    )
    assert folder.peers == (
        PeerSnapshot(
            peer_id="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            name="peer-b",
            connection="direct",
            synced=0.0,
            download_bytes=None,
            upload_bytes=None,
            online=True,
            last_seen=None,
        ),
    )


def test_offline_peer_capture_keeps_the_peer_with_its_last_seen_time() -> None:
    [folder] = parse_sync_folders(json.loads(_peer_removed())).items
    [peer] = folder.peers
    assert peer.online is False
    assert peer.last_seen == 1788188734.0


def test_empty_folder_list_capture() -> None:
    parsed = parse_sync_folders(json.loads('{"folders":[],"status":200}'))
    assert (parsed.items, parsed.skipped, parsed.disconnected) == ((), 0, 0)


def test_disconnected_folder_is_counted_not_exported() -> None:
    """synclevel 0: a sparse entry with no path and no peers (nothing held here)."""
    body = {
        "folders": [
            {"folderid": "42", "name": "old", "secret": "AXXXX", "synclevel": 0},
            json.loads(PEER_CONNECTED)["folders"][0],
        ],
        "status": 200,
    }
    parsed = parse_sync_folders(body)
    assert parsed.disconnected == 1
    assert parsed.skipped == 0
    assert [f.dir for f in parsed.items] == ["/mnt/sync/folders/capture"]


def _folder(**changes: Any) -> dict[str, Any]:
    folder: dict[str, Any] = json.loads(PEER_CONNECTED)["folders"][0]
    folder.update(changes)
    return folder


def test_type_drift_is_read_leniently() -> None:
    """Booleans as 0/1 or strings, numbers as strings: older nodes send both."""
    folder = _folder(
        iswritable=0,
        paused="true",
        indexing=1,
        queue_download_size="1048576",
        queue_download_files="3",
        queue_upload_size=7,
        available_space="4096",
        size="2048",
        error="101",
        synclevel="1",
    )
    folder["peers"][0].update(direct=0, isonline="0", lastsynctime="1700000000")
    [parsed] = parse_sync_folders({"folders": [folder], "status": 200}).items
    assert parsed.type == "read_only"
    assert parsed.selective is True
    assert parsed.indexing is True
    assert parsed.error_code == 101
    assert parsed.size_bytes == 2048
    assert parsed.state.paused is True
    assert parsed.state.pending_download_bytes == 1048576
    assert parsed.state.pending_download_files == 3
    assert parsed.state.pending_upload_bytes == 7
    assert parsed.state.disk_free_bytes == 4096
    [peer] = parsed.peers
    assert (peer.connection, peer.online, peer.synced) == ("relay", False, 1700000000.0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"iswritable": True}, "read_write"),
        ({"iswritable": False}, "read_only"),
        ({"iswritable": False, "has_key": False}, "read_only"),
        ({"iswritable": False, "secret": "F" + "X" * 32, "readonlysecret": ""}, "encrypted"),
    ],
)
def test_folder_type(changes: dict[str, Any], expected: str) -> None:
    [parsed] = parse_sync_folders({"folders": [_folder(**changes)], "status": 200}).items
    assert parsed.type == expected


def test_available_space_missing_is_unknown_not_zero() -> None:
    folder = _folder()
    del folder["available_space"]
    [parsed] = parse_sync_folders({"folders": [folder], "status": 200}).items
    assert parsed.state.disk_free_bytes is None


def test_malformed_entries_are_skipped_and_counted() -> None:
    bad_peer = _folder()
    bad_peer["peers"].append({"name": "no id"})
    body = {
        "folders": [
            "not an object",
            _folder(path=None, synclevel=2),  # a connected folder without a path
            _folder(size="many"),
            bad_peer,
        ],
        "status": 200,
    }
    parsed = parse_sync_folders(body)
    assert parsed.skipped == 4  # three folders and one peer
    [kept] = parsed.items
    assert len(kept.peers) == 1


@pytest.mark.parametrize(
    "body",
    [[], {"status": 200}, {"folders": {}, "status": 200}, "folders"],
)
def test_wrong_top_level_is_a_shape_error(body: object) -> None:
    with pytest.raises(ShapeError):
        parse_sync_folders(body)


def test_secrets_are_not_in_the_repr() -> None:
    folder = _folder(secret="ASECRETSECRETSECRETSECRETSECRETS", readonlysecret="BREADONLYSECRET")
    [parsed] = parse_sync_folders({"folders": [folder], "status": 200}).items
    assert "SECRET" not in repr(parsed)
    assert parsed.held_secret.startswith("ASECRET")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.1.2 (1076)", "3.1.2"),
        ("2.7.3 (1381)", "2.7.3"),
        ("3.1.2", "3.1.2"),
        (" 2.0.82 ", "2.0.82"),
        (0x0104006F, "1.4.111"),  # 1.4 GUI: packed integer
    ],
)
def test_version(value: object, expected: str) -> None:
    assert parse_gui_version({"status": 200, "value": value}) == expected


def test_statuses_and_system_info() -> None:
    statuses = {
        "status": 200,
        "value": {
            "cpu": 1,
            "disk": 0,
            "errors": [],
            "loading": False,
            "warnings": [],
            "speed": {"downspeed": 1024, "upspeed": "2048"},
        },
    }
    assert parse_statuses(statuses) == Speed(download=1024, upload=2048)
    info = {"status": 200, "value": {"hostname": "nas", "os": "Linux", "username": "rslsync"}}
    assert parse_system_info(info) == "Linux"
    with pytest.raises(ShapeError):
        parse_statuses({"status": 200, "value": {"speed": {"downspeed": -1}}})
    with pytest.raises(ShapeError):
        parse_system_info({"status": 200, "value": {}})


def test_envelope() -> None:
    assert envelope_status({"folders": [], "status": 200}, "getsyncfolders") == 200
    assert envelope_status({"status": 401}, "version") == 401
    assert envelope_status({"status": "500", "error": "invalid link"}, "x") == 500
    assert envelope_error({"error": "invalid link", "status": 500}) == "invalid link"
    with pytest.raises(ShapeError):
        envelope_status([], "version")


def test_token_page() -> None:
    page = b"<html><div id='token' style='display:none;'>5AAiXYZ-token_0AAAAA</div></html>"
    assert parse_token(page) == "5AAiXYZ-token_0AAAAA"
    assert parse_token(page.replace(b"'", b'"')) == "5AAiXYZ-token_0AAAAA"
    for bad in (b"<html></html>", b"<div id='token'></div>", b"invalid request"):
        with pytest.raises(ShapeError) as info:
            parse_token(bad)
        assert "token_0" not in str(info.value)
