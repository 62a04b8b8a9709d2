"""The lenient parse_* functions against bodies shaped like real nodes' (docs/sync-api.md)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest

from sync_exporter.folder_id import FOLDER_ID_LENGTH, cache_key, folder_id
from sync_exporter.model import (
    APIErrorBody,
    PeerSnapshot,
    ShapeError,
    SharedSecrets,
    Speed,
    new_v1_peer,
    parse_api_error,
    parse_folders,
    parse_os,
    parse_peers,
    parse_secrets,
    parse_speed,
    parse_version,
)
from sync_exporter.simulator import secrets

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    """Decode a fixture the way the client does: UTF-8 bytes, whatever the content."""
    return json.loads((FIXTURES / name).read_bytes().decode("utf-8"))


def test_speed_as_documented_and_as_strings() -> None:
    assert parse_speed(load("get_speed.json")) == Speed(download=61007, upload=0)
    assert parse_speed(load("get_speed_strings.json")) == Speed(download=56200, upload=230)


def test_speed_missing_direction_reads_zero_but_garbage_is_refused() -> None:
    assert parse_speed({"download": 5}) == Speed(download=5, upload=0)
    with pytest.raises(ShapeError, match="get_speed"):
        parse_speed({"download": "fast", "upload": 0})
    with pytest.raises(ShapeError, match="expected a JSON object, got an array"):
        parse_speed([])


def test_folders_real_shapes_keep_every_field() -> None:
    parsed = parse_folders(load("get_folders_synology.json"))
    assert parsed.skipped == 0
    backup, documents = parsed.items
    assert (backup.dir, backup.type, backup.size_bytes, backup.files) == (
        "/volume1/Backup",
        "read_only",
        9309894543,
        216934,
    )
    assert (backup.error_code, backup.indexing) == (0, False)
    assert backup.secret == "BU7GNEE6V96IL3HBR8CK89K5UD9YBPBKI"
    assert (documents.dir, documents.type, documents.size_bytes) == (
        "/volume1/Documents",
        "read_write",
        1869899,
    )


def test_folders_windows_long_path_is_kept_as_opaque_text() -> None:
    (share,) = parse_folders(load("get_folders_windows.json")).items
    assert share.dir == "\\\\?\\D:\\share"
    assert share.size_bytes == 23762511569  # beyond 32 bits


def test_folders_drift_is_read_leniently_and_malformed_entries_are_counted() -> None:
    parsed = parse_folders(load("get_folders_drift.json"))
    by_dir = {f.dir: f for f in parsed.items}
    assert list(by_dir) == ["/srv/Fotos 2026 Ölmühle ☀", "/srv/minimal", "/srv/flagged"]
    fotos = by_dir["/srv/Fotos 2026 Ölmühle ☀"]
    assert (fotos.size_bytes, fotos.files, fotos.error_code, fotos.indexing) == (1024, 7, 0, True)
    minimal = by_dir["/srv/minimal"]
    assert (minimal.type, minimal.size_bytes, minimal.files, minimal.indexing) == (
        "unknown",
        0,
        0,
        False,
    )
    flagged = by_dir["/srv/flagged"]
    assert (flagged.type, flagged.size_bytes, flagged.error_code) == ("encrypted", 5, 101)
    # no secret, size "lots", size -5, indexing "maybe", a string, a null
    assert parsed.skipped == 6


def test_folders_top_level_must_be_an_array() -> None:
    with pytest.raises(ShapeError, match="get_folders: expected a JSON array, got an object"):
        parse_folders({"dir": "/x"})
    assert parse_folders([]).items == ()


def test_folder_entry_repr_hides_the_secret() -> None:
    (entry,) = parse_folders(load("get_folders_windows.json")).items
    assert "A54HDDMPN4T4BTBT7SPBWXDB7JVYZ2K6D" not in repr(entry)


def test_peers_real_shapes() -> None:
    parsed = parse_peers(load("get_folder_peers.json"))
    assert parsed.items == (
        PeerSnapshot("ARRdk5XANMb7RmQqEDfEZE-k5aI=", "GT-I9500", "direct", 0.0, 0, 22455367417),
        PeerSnapshot("YUfgCVGHHcli4mL5DvgoCT4siaH=", "HomePc", "relay", 1384470525.0, 4096, 0),
    )
    assert parsed.skipped == 0


def test_peers_drift_defaults_and_skips() -> None:
    parsed = parse_peers(load("get_folder_peers_drift.json"))
    assert parsed.items == (
        PeerSnapshot("ARRdk5XANMb7RmQqEDfEZE-k5aI=", "Küche-Tablet", "unknown", 0.0, 0, 0),
        PeerSnapshot("BRRdk5XANMb7RmQqEDfEZE-k5aI=", "odd", "lan-magic", 1384470525.0, 1, 2),
    )
    assert parsed.skipped == 3  # no id, download "NaN", a bare number


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("get_version.json", "1.2.48"), ("get_version_packed.json", "1.1.15")],
)
def test_version_dotted_or_packed(fixture: str, expected: str) -> None:
    assert parse_version(load(fixture)) == expected


def test_version_and_os_refuse_missing_values() -> None:
    with pytest.raises(ShapeError, match="get_version"):
        parse_version({})
    with pytest.raises(ShapeError, match="get_os"):
        parse_os({"os": ""})
    assert parse_os(load("get_os.json")) == "win32"


def test_secrets_every_key_or_only_some() -> None:
    full = parse_secrets(load("get_secrets_encryption.json"))
    assert full == SharedSecrets(
        read_write="DPFABC4IZX33WBDRXRPPCVYA353WSC3Q6",
        read_only="ECK2S6MDDD7EOKKJZOQNOWDTJBEEUKGME",
        encryption="G3PNU7KTYM63VNQZFPP3Q3GAMTPRWDEZ",
    )
    assert "G3PNU7KTYM63VNQZFPP3Q3GAMTPRWDEZ" not in repr(full)
    ro = parse_secrets(load("get_secrets_read_only.json"))
    assert (ro.read_write, ro.read_only, ro.encryption) == (
        None,
        "BU7GNEE6V96IL3HBR8CK89K5UD9YBPBKI",
        None,
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("error_invalid_secret.json", APIErrorBody(3, "Invalid secret.")),
        ("error_unknown_method.json", APIErrorBody(1, "Invalid API method name or format.")),
        ("error_result_add_folder.json", APIErrorBody(100, "Can't open the destination folder.")),
        ("error_bare.json", APIErrorBody(1, "")),
        ("success_error_zero.json", None),
        ("success_result_zero.json", None),
        ("get_speed.json", None),
        ("get_folders_synology.json", None),  # entries carry "error" too, inside an array
    ],
)
def test_api_error_bodies(fixture: str, expected: APIErrorBody | None) -> None:
    assert parse_api_error(load(fixture)) == expected


def _shared(held: str) -> SharedSecrets:
    """What a node holding ``held`` answers to get_secrets (the simulator's derivation)."""
    derived = secrets.derive(held)
    return SharedSecrets(derived.read_write, derived.read_only, derived.encryption)


@pytest.mark.parametrize("encryption", [False, True], ids=["plain", "encryption-capable"])
def test_folder_id_is_equal_for_every_holder_of_a_folder(encryption: bool) -> None:
    rw = secrets.generate(random.Random(7), encryption=encryption)
    holders = [s for s in (rw.read_write, rw.read_only, rw.encryption) if s is not None]
    assert len(holders) == (3 if encryption else 2)
    ids = {folder_id(held, _shared(held)) for held in holders}
    assert len(ids) == 1
    (only,) = ids
    assert len(only) == FOLDER_ID_LENGTH
    assert set(only) <= set("0123456789abcdef")
    assert all(only not in held for held in holders)


def test_folder_id_differs_between_folders_and_falls_back_to_the_held_secret() -> None:
    rng = random.Random(8)
    one, two = secrets.generate(rng), secrets.generate(rng)
    assert one.read_write is not None
    assert two.read_write is not None
    assert folder_id(one.read_write, _shared(one.read_write)) != folder_id(
        two.read_write, _shared(two.read_write)
    )
    # get_secrets failed: stable for this node, but not the fleet-wide id
    fallback = folder_id(one.read_write, None)
    assert fallback == folder_id(one.read_write, None)
    assert fallback != folder_id(one.read_write, _shared(one.read_write))


def test_cache_key_is_not_the_secret_nor_the_label() -> None:
    held = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    key = cache_key(held)
    assert held not in key
    assert key != folder_id(held, None)
    assert not key.startswith(folder_id(held, None))


def test_the_fast_peer_constructor_builds_the_same_frozen_snapshot() -> None:
    fast = new_v1_peer("id1", "laptop", "relay", 1_700_000_000.0, 5, 7)
    slow = PeerSnapshot("id1", "laptop", "relay", 1_700_000_000.0, 5, 7)
    assert type(fast) is PeerSnapshot
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert (fast.online, fast.last_seen) == (None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "changed"  # type: ignore[misc]
