"""The fast renderer (sync_exporter.exposition) against prometheus_client, parse for parse.

The reference is :func:`sync_exporter.metrics.render` encoded by prometheus_client's own
``generate_latest`` (text 0.0.4) and OpenMetrics encoder: both outputs are parsed and the
sample sets compared, and the bytes too, on a large fleet and on awkward values (quotes,
backslashes, newlines and non-ASCII in labels, NaN, infinities, large integers, -0.0,
duplicate folders and peers, GUI and v1 nodes, nodes down, ``peers: false``).
"""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from sync_exporter.exposition import Deflated, Format, SeriesCache, gzip_body, value_text
from sync_exporter.metrics import render
from sync_exporter.model import (
    FolderSnapshot,
    GuiFolderState,
    NodeSnapshot,
    Outcome,
    PeerSnapshot,
)
from tests.server.conftest import parse_openmetrics

AWKWARD = [
    'say "hi"',
    "C:\\Users\\Åsa\\Bilder",
    "line\nbreak",
    "tab\there",
    '\\"\n',
    "Fotos Ölandsresa 日本語 🎞",
    "",
    "{curly}=,",
]

#: Typed Any: the model's int fields get floats (NaN, inf) on purpose here.
NUMBERS: list[Any] = [
    0,
    1,
    -1,
    999_999,
    1_000_000,
    1_234_567,
    2**53 - 1,
    2**53 + 1,
    2**63 - 1,
    10**20,
    -(2**60),
    0.5,
    -0.0,
    1.7e9,
    1764547200.123,
    1e-7,
    math.nan,
    math.inf,
    -math.inf,
]

#: Counter values: OpenMetrics refuses negative ones (and the model never makes them).
COUNTS = [n for n in NUMBERS[:12] if n >= 0]


class _Collector:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _reference(snapshots: Sequence[NodeSnapshot], fmt: Format, peers_off: set[str]) -> str:
    """metrics.render (``peers: false`` for ``peers_off``), encoded by prometheus_client."""
    families = render(snapshots, dict.fromkeys(peers_off, False))
    if fmt == "text":
        return generate_latest(_Collector(families)).decode()
    text: bytes = generate_openmetrics(_Collector(families))  # type: ignore[no-untyped-call]
    return text.decode()


def _fast(snapshots: Sequence[NodeSnapshot], fmt: Format, peers_off: set[str]) -> str:
    rendered = SeriesCache().render(snapshots, lambda node: node not in peers_off)
    body = b"".join(rendered.chunks(fmt)).decode()
    return body + ("# EOF\n" if fmt == "openmetrics" else "")


def _peer(rng: random.Random, i: int, *, gui: bool) -> PeerSnapshot:
    counters = None if gui else rng.choice(COUNTS)
    return PeerSnapshot(
        peer_id=f"PEER{i:04d}" + rng.choice(["", "x"]),
        name=rng.choice([*AWKWARD, f"host-{i}"]),
        connection=rng.choice(["direct", "relay", "relay", "local"]),
        synced=rng.choice([0.0, 1.7e9, 1.7e9 + i, -0.0, 1764547200.123]),
        download_bytes=counters,
        upload_bytes=None if gui else rng.choice(COUNTS),
        online=rng.choice([True, False]) if gui else None,
        last_seen=rng.choice([None, 1.7e9 + i]) if gui else None,
    )


def _folder(rng: random.Random, n: int, *, gui: bool) -> FolderSnapshot:
    peers = tuple(_peer(rng, rng.randrange(12), gui=gui) for _ in range(rng.randrange(8)))
    state = None
    if gui:
        state = GuiFolderState(
            pending_download_bytes=rng.choice(NUMBERS[:10]),
            pending_download_files=rng.randrange(100),
            pending_upload_bytes=rng.randrange(10**12),
            pending_upload_files=rng.randrange(3),
            paused=rng.choice([True, False]),
            disk_free_bytes=rng.choice([None, 10**12, 0]),
        )
    return FolderSnapshot(
        folder=rng.choice([*AWKWARD, f"/srv/sync/folder-{n}", f"/srv/sync/folder-{n}"]),
        dir=f"/srv/sync/folder-{n}",
        folder_id=f"{n:012x}",
        type=rng.choice(["read_write", "read_only", "encrypted"]),
        size_bytes=rng.choice(NUMBERS[:10]),
        files=rng.randrange(10**7),
        error_code=rng.choice([0, 0, 0, 103]),
        indexing=rng.choice([True, False]),
        peers=None if rng.random() < 0.1 else peers,
        selective=rng.choice([None, True, False]),
        gui=state,
    )


def _fleet(seed: int, nodes: int, folders: int) -> list[NodeSnapshot]:
    rng = random.Random(seed)
    fleet = []
    for n in range(nodes):
        gui = n % 3 == 1
        if n % 7 == 6:
            fleet.append(
                NodeSnapshot(f"down-{n}", False, 0.25, outcome=Outcome.TIMEOUT, error="timed out")
            )
            continue
        fleet.append(
            NodeSnapshot(
                node=f"node-{n}" + ('"q"' if n == 2 else ""),
                up=True,
                duration_seconds=rng.choice([0.0123456, 1e-5, math.nan, 3.0]),
                version=rng.choice([None, "1.4.111", "2.7.3 (é)"]),
                os=rng.choice([None, "linux", "win\\32"]),
                download_speed=rng.choice(NUMBERS[:12]),
                upload_speed=rng.choice(NUMBERS[:12]),
                folders=tuple(_folder(rng, f, gui=gui) for f in range(folders)),
                api="gui" if gui else "v1",
            )
        )
    return fleet


def _samples(text: str, fmt: Format) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    """Every sample as (name, sorted labels, value as text: NaN compares equal to NaN)."""
    if fmt == "openmetrics":
        families = parse_openmetrics(text)
    else:
        families = list(text_string_to_metric_families(text))
    return [
        (s.name, tuple(sorted(s.labels.items())), repr(float(s.value)))
        for family in families
        for s in family.samples
    ]


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_a_large_awkward_fleet_parses_like_prometheus_client(fmt: Format) -> None:
    fleet = _fleet(seed=1, nodes=24, folders=60)
    expected = _reference(fleet, fmt, set())
    actual = _fast(fleet, fmt, set())
    assert len(_samples(expected, fmt)) > 5000
    assert _samples(actual, fmt) == _samples(expected, fmt)
    assert actual == expected  # and byte for byte


def test_values_are_formatted_as_floatToGoString_does() -> None:
    for number in [*NUMBERS, 2**53, -(2**53), -(2**53) - 1, 10**6 - 1, 10**15, -5, True]:
        assert value_text(number) == floatToGoString(number), number  # type: ignore[no-untyped-call]


def test_peers_false_keeps_counts_and_drops_per_peer_series() -> None:
    fleet = _fleet(seed=2, nodes=3, folders=5)
    text = _fast(fleet, "text", {fleet[0].node})
    assert text == _reference(fleet, "text", {fleet[0].node})
    peer_lines = [line for line in text.splitlines() if line.startswith("btsync_peer_")]
    assert peer_lines
    assert not [line for line in peer_lines if f'node="{fleet[0].node}"' in line]
    assert 'btsync_folder_peers{connection="direct",folder=' in text


def test_a_series_gone_from_a_node_is_gone_from_the_next_exposition() -> None:
    cache = SeriesCache()
    fleet = _fleet(seed=3, nodes=2, folders=4)
    first = b"".join(cache.render(fleet, lambda node: True).chunks("text")).decode()
    node = fleet[0]
    kept = node.folders[1:]
    gone = node.folders[0]
    assert gone.folder not in {f.folder for f in kept}
    trimmed = NodeSnapshot(
        node=node.node,
        up=True,
        duration_seconds=0.1,
        version=node.version,
        os=node.os,
        folders=tuple(replace(f, peers=(f.peers or ())[1:]) for f in kept),
        api=node.api,
    )
    second = b"".join(cache.render([trimmed, *fleet[1:]], lambda node: True).chunks("text"))
    assert f'folder="{_escaped(gone.folder)}"' in first
    for line in second.decode().splitlines():
        assert not (
            f'node="{node.node}"' in line and f'folder="{_escaped(gone.folder)}",' in line
        ), line
    dropped = [f.peers[0].peer_id for f in kept if f.peers]
    assert _reference([trimmed, *fleet[1:]], "text", set()).encode() == second
    assert dropped  # the comparison above covered vanished peers too


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@pytest.mark.parametrize("level", [1, 6, 9])
def test_the_cached_compressed_part_and_a_fresh_tail_make_one_gzip_stream(level: int) -> None:
    head = [b"first family\n" * 1000, "ünïcode\n".encode() * 50]
    tail = b"# EOF\n"
    body = b"".join(gzip_body(Deflated.of(head, level), tail, level))
    assert gzip.decompress(body) == b"".join(head) + tail
    import zlib

    one = zlib.decompressobj(16 + zlib.MAX_WBITS)  # a single-member reader (as aiohttp's)
    assert one.decompress(body) == b"".join(head) + tail
    assert one.eof
