"""Property tests: whatever a node sends, the parsers give a value or a typed error, and
whatever snapshot results, it renders and encodes.

Hypothesis draws JSON values shaped like the API's answers (the right keys with any
values: huge and negative integers, floats with NaN and infinities, long and non-ASCII
text, wrong types) as well as arbitrary JSON and arbitrary bytes. The invariants are the
exporter's promise to the other nodes: a parser either returns or raises ShapeError (the
client's SyncProtocolError), decoding raises only SyncError, and ``render`` plus both
encoders never raise, dropping at most the offending node.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from sync_exporter.client import _decode, _Translated
from sync_exporter.errors import SyncError
from sync_exporter.exposition import SeriesCache
from sync_exporter.gui_model import (
    envelope_status,
    parse_gui_version,
    parse_statuses,
    parse_sync_folders,
    parse_system_info,
)
from sync_exporter.metrics import render
from sync_exporter.model import (
    FolderSnapshot,
    NodeSnapshot,
    PeerSnapshot,
    ShapeError,
    parse_api_error,
    parse_folder_prefs,
    parse_folders,
    parse_os,
    parse_peers,
    parse_secrets,
    parse_speed,
    parse_version,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Integers a node could send: ordinary, at the 64-bit edges, and far beyond float64.
integers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**64 - 1, 2**64, -(2**63), int("9" * 400), -int("9" * 400)]),
)
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "600", "1e3", "-5", "true", "x" * 5000, "9" * 400, "\ud800"]),
)
scalars = st.one_of(st.none(), st.booleans(), integers, st.floats(), texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


def shaped(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with (some of) the keys a method answers with, holding any values."""
    return st.dictionaries(st.sampled_from(keys), scalars | json_values, max_size=len(keys))


FOLDER_KEYS = ["dir", "secret", "type", "size", "files", "error", "indexing"]
PEER_KEYS = ["id", "name", "connection", "synced", "download", "upload"]

#: parser -> strategy of bodies shaped for it (plus arbitrary JSON, in the test).
PARSERS: dict[str, tuple[Callable[[object], object], st.SearchStrategy[Any]]] = {
    "get_speed": (parse_speed, shaped(["download", "upload", "error"])),
    "get_folders": (parse_folders, st.lists(shaped(FOLDER_KEYS), max_size=5)),
    "get_folder_peers": (parse_peers, st.lists(shaped(PEER_KEYS), max_size=5)),
    "get_secrets": (parse_secrets, shaped(["read_write", "read_only", "encryption"])),
    "get_folder_prefs": (parse_folder_prefs, shaped(["selective_sync"])),
    "get_version": (parse_version, shaped(["version"])),
    "get_os": (parse_os, shaped(["os"])),
    "error": (parse_api_error, shaped(["error", "result", "message"])),
    "gui status": (lambda raw: envelope_status(raw, "x"), shaped(["status", "value"])),
    "gui getstatuses": (parse_statuses, shaped(["value"])),
    "gui version": (parse_gui_version, shaped(["value"])),
    "gui getsysteminfo": (parse_system_info, shaped(["value"])),
    "gui getsyncfolders": (parse_sync_folders, shaped(["folders", "value", "status"])),
}


@pytest.mark.parametrize("method", list(PARSERS))
@PROPERTY
@given(data=st.data())
def test_every_parser_gives_a_value_or_shape_error(method: str, data: st.DataObject) -> None:
    parse, bodies = PARSERS[method]
    raw = data.draw(bodies | json_values)
    message = ""
    try:
        parse(raw)
    except ShapeError as exc:
        message = str(exc)
    assert len(message) < 300


@PROPERTY
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_decoding_any_body_gives_json_or_a_sync_error(body: bytes) -> None:
    message = ""
    try:
        with _Translated(1.0):
            _decode(body, {"secret": "AFOLDERSECRETFOLDERSECRET"}, max_items=1000)
    except SyncError as exc:
        message = str(exc)
    assert len(message) <= 300
    assert "AFOLDERSECRETFOLDERSECRET" not in message


@PROPERTY
@given(st.lists(shaped(FOLDER_KEYS), max_size=4), st.lists(shaped(PEER_KEYS), max_size=4))
def test_whatever_parses_renders(folders: list[Any], peers: list[Any]) -> None:
    entries = parse_folders(folders).items
    parsed_peers = parse_peers(peers).items
    snapshot = NodeSnapshot(
        node="n",
        up=True,
        duration_seconds=0.1,
        version="1",
        os="linux",
        folders=tuple(
            FolderSnapshot(
                folder=e.dir,
                dir=e.dir,
                folder_id="id",
                type=e.type,
                size_bytes=e.size_bytes,
                files=e.files,
                error_code=e.error_code,
                indexing=e.indexing,
                peers=parsed_peers,
            )
            for e in entries
        ),
    )
    _encode_both([snapshot])


def _encode_both(snapshots: list[NodeSnapshot]) -> str:
    """prometheus_client's text of ``snapshots``; the fast renderer must write the same."""

    class Families:
        def collect(self) -> Any:
            return render(snapshots)

    openmetrics: bytes = generate_openmetrics(Families())  # type: ignore[no-untyped-call]
    text = generate_latest(Families())
    fast = SeriesCache().render(snapshots, lambda node: True)
    assert b"".join(fast.chunks("text")) == text
    assert b"".join(fast.chunks("openmetrics")) + b"# EOF\n" == openmetrics
    return text.decode()


peer_snapshots = st.builds(
    PeerSnapshot,
    peer_id=texts,
    name=texts,
    connection=st.sampled_from(["direct", "relay"]) | texts,
    synced=st.floats() | integers.map(lambda i: i),
    download_bytes=integers,
    upload_bytes=integers,
)
folder_snapshots = st.builds(
    FolderSnapshot,
    folder=texts,
    dir=texts,
    folder_id=texts,
    type=texts,
    size_bytes=integers,
    files=integers,
    error_code=integers,
    indexing=st.booleans(),
    peers=st.none() | st.lists(peer_snapshots, max_size=3).map(tuple),
    selective=st.none() | st.booleans(),
)


@PROPERTY
@given(st.lists(st.lists(folder_snapshots, max_size=3), min_size=1, max_size=3))
def test_any_snapshot_renders_and_only_a_bad_node_is_dropped(folders: list[Any]) -> None:
    snapshots = [
        NodeSnapshot(
            node=f"node{i}",
            up=True,
            duration_seconds=0.5,
            download_speed=1,
            upload_speed=2,
            folders=tuple(node_folders),
        )
        for i, node_folders in enumerate(folders)
    ]
    healthy = NodeSnapshot(node="healthy", up=True, duration_seconds=0.1, download_speed=7)
    text = _encode_both([*snapshots, healthy])
    assert 'btsync_up{node="healthy"} 1.0' in text
    assert 'btsync_download_speed_bytes_per_second{node="healthy"} 7.0' in text
    for i in range(len(folders)):
        assert f'btsync_up{{node="node{i}"}}' in text
