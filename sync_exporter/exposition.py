"""The node, folder and peer series as exposition text, fast, without prometheus_client.

Why not ``generate_latest``: it rebuilds every sample's label set, validates and escapes
every label value and formats every value on every scrape, about 20 us a sample; a fleet
of 100,000 series then spends seconds of CPU per scrape on text that barely changes.
Here each series' ``name{labels} `` prefix is escaped once and kept while the series
exists (:class:`SeriesCache`); a scrape only formats the values and joins strings.

The output is the same as prometheus_client's for the same snapshots, byte for byte:
family order and ``# HELP``/``# TYPE`` lines (taken from prometheus_client's own
encoders, once), labels sorted by name, values formatted as ``floatToGoString`` does.
Which series exist when follows :func:`sync_exporter.metrics.render`, the reference the
tests compare this module with on large and awkward scenarios.

Sample lines are identical in text 0.0.4 and OpenMetrics 1.0 for these names (legacy
metric and label names, no timestamps); only the headers differ, and OpenMetrics ends
with ``# EOF``, which the caller's last encoder (the self-metrics) writes.

Nothing in the cache outlives the series it describes: each render keeps only the
entries it used, so a folder or peer that is gone is dropped from the cache and, since
rendering reads only this scrape's snapshots, from the exposition at once.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.utils import floatToGoString

from sync_exporter.metrics import (
    BY_NAME,
    CONNECTIONS,
    SNAPSHOT_METRICS,
    UNEXPORTABLE,
    MetricDef,
    unexportable,
)
from sync_exporter.model import FolderSnapshot, NodeSnapshot, PeerSnapshot

Format = Literal["text", "openmetrics"]

#: Integers within +-2**53 are exact as floats, so ``repr(float(v))`` is ``f"{v}.0"``
#: (below 1e16); from 1e6 on ``floatToGoString`` turns that into Go's exponent form.
_EXACT_MIN = -(2**53)
_EXACT_MAX = 2**53
_PLAIN_MAX = 1_000_000

#: Index of each family in the output, in the table's order (the reference's order).
_INDEX: dict[str, int] = {d.name: i for i, d in enumerate(SNAPSHOT_METRICS)}


def value_text(value: float) -> str:
    """A sample value as prometheus_client writes it (``floatToGoString``), fast for ints."""
    if type(value) is int and _EXACT_MIN < value < _EXACT_MAX:
        if value < _PLAIN_MAX:
            return f"{value}.0"
        # What floatToGoString makes of repr(float(value)) == f"{value}.0": Go's exponent
        # form, mantissa without trailing zeros (1234567 -> 1.234567e+06).
        digits = str(value)
        mantissa = f"{digits[0]}.{digits[1:]}0".rstrip("0.")
        return f"{mantissa}e+{len(digits) - 1:02d}"
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _value(value: float) -> bytes:
    """A space, the value and a newline: what follows a series' name and labels."""
    if type(value) is int and _EXACT_MIN < value < _PLAIN_MAX:
        return b" %d.0\n" % value
    return f" {value_text(value)}\n".encode()


def escape(value: str) -> str:
    """A label value escaped for both text formats: backslash, newline, double quote."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_set(names: Sequence[str], values: Sequence[str]) -> bytes:
    """``{name="value",...}`` with the names sorted, as prometheus_client writes them."""
    pairs = sorted(zip(names, values, strict=True))
    return ("{" + ",".join(f'{name}="{escape(value)}"' for name, value in pairs) + "}").encode()


def _labels(metric: str) -> tuple[str, ...]:
    return BY_NAME[metric].labels


#: Label names of the label sets series share (every series of a scope has the same).
_NODE_LABELS = _labels("btsync_up")
_FOLDER_LABELS = _labels("btsync_folder_size_bytes")
_PEER_LABELS = _labels("btsync_peer_last_synced_timestamp_seconds")
_NODE_INFO_LABELS = _labels("btsync_node_info")
_FOLDER_INFO_LABELS = _labels("btsync_folder_info")
_PEER_INFO_LABELS = _labels("btsync_peer_info")
_CONNECTION_LABELS = _labels("btsync_folder_peers")
_DIRECTION_LABELS = _labels("btsync_folder_pending_bytes")

#: Constant value parts.
_ONE = b" 1.0\n"
_ZERO = b" 0.0\n"


#: The peer series' label sets are assembled from parts: a folder's shared text and each
#: peer's escaped id (and name and connection for ``btsync_peer_info``), so the cache
#: holds one short string per peer instead of two label sets. The parts follow the
#: sorted label order prometheus_client writes, checked here against the table.
if sorted(_PEER_LABELS) != ["folder", "node", "peer_id"] or sorted(_PEER_INFO_LABELS) != [
    "connection",
    "folder",
    "name",
    "node",
    "peer_id",
]:
    raise RuntimeError("the peer label layout in exposition.py no longer matches METRICS")
_INFO_HEAD = b'{connection="'
_CLOSE = b'"}'
_INFO_TAIL = b'"} 1.0\n'


class _FolderLabels:
    """One folder's escaped label sets on one node, and its peers' by peer id."""

    __slots__ = (
        "connections",
        "folder",
        "info",
        "info_folder",
        "info_node",
        "labels",
        "node",
        "peer_head",
        "peers",
        "pending",
    )

    def __init__(self, node: str, folder: str) -> None:
        self.node = node
        self.folder = folder
        self.labels = label_set(_FOLDER_LABELS, (node, folder))
        escaped_folder, escaped_node = escape(folder), escape(node)
        #: A peer series' label set is peer_head + escaped peer id + '"}'.
        self.peer_head = f'{{folder="{escaped_folder}",node="{escaped_node}",peer_id="'.encode()
        #: btsync_peer_info's: '{connection="' C info_folder N info_node P '"}'.
        self.info_folder = f'",folder="{escaped_folder}",name="'.encode()
        self.info_node = f'",node="{escaped_node}",peer_id="'.encode()
        self.pending = tuple(
            label_set(_DIRECTION_LABELS, (node, folder, d)) for d in ("download", "upload")
        )
        self.connections: dict[str, bytes] = {}
        #: (folder_id, type, selective) and the info series' labels, swapped as one value.
        self.info: tuple[tuple[str, str, str], bytes] | None = None
        #: Each peer's escaped id, by peer id.
        self.peers: dict[str, bytes] = {}

    def connection(self, connection: str) -> bytes:
        labels = self.connections.get(connection)
        if labels is None:
            labels = label_set(_CONNECTION_LABELS, (self.node, self.folder, connection))
            self.connections[connection] = labels
        return labels


class _NodeLabels:
    """One node's escaped label set, and its folders' by folder label."""

    __slots__ = ("folders", "info", "labels")

    def __init__(self, node: str) -> None:
        self.labels = label_set(_NODE_LABELS, (node,))
        #: (version, os, api) and the info series' labels, swapped as one value.
        self.info: tuple[tuple[str, str, str], bytes] | None = None
        self.folders: dict[str, _FolderLabels] = {}


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Rendered:
    """The node part of one exposition: each non-empty family's sample lines, in order.

    The lines are UTF-8 bytes without the family's header, since only the headers differ
    between the formats: :meth:`chunks` puts them in front without copying the lines.
    Compressed bodies are cached per format and level, so scrapes that share one set of
    snapshots share one rendering and one compression.
    """

    families: tuple[tuple[MetricDef, bytearray], ...]
    samples: int
    #: What it was rendered from (the snapshots and their ``peers`` flags), so that a
    #: rendering and its snapshots are kept exactly as long as a response uses them.
    source: tuple[object, ...] = field(default=(), compare=False, repr=False)
    _deflated: dict[tuple[Format, int], Deflated] = field(
        default_factory=dict, compare=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def chunks(self, fmt: Format) -> list[bytes | bytearray]:
        """The families in ``fmt``: header, lines, header, lines... (no ``# EOF``)."""
        headers = _HEADERS[fmt]
        chunks: list[bytes | bytearray] = []
        for metric, lines in self.families:
            chunks += (headers[metric.name], lines)
        return chunks

    def deflated(self, fmt: Format, level: int) -> Deflated:
        """:meth:`chunks` compressed as the first part of a gzip stream (see :func:`gzip_body`)."""
        with self._lock:
            cached = self._deflated.get((fmt, level))
            if cached is None:
                cached = self._deflated[fmt, level] = Deflated.of(self.chunks(fmt), level)
        return cached


@dataclass(frozen=True, slots=True)
class Deflated:
    """Raw deflate data ending on a full flush, with the CRC and size of what it holds.

    A full flush ends on a byte boundary and forgets the window, so another compressor's
    raw deflate stream can follow it in the same gzip member: the cached node part is
    compressed once and each scrape compresses only its own self-metrics behind it.
    """

    data: bytes
    crc: int
    size: int

    @staticmethod
    def of(chunks: Iterable[bytes | bytearray], level: int) -> Deflated:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        parts: list[bytes] = []
        crc = size = 0
        for chunk in chunks:
            parts.append(compressor.compress(chunk))
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
        parts.append(compressor.flush(zlib.Z_FULL_FLUSH))
        return Deflated(b"".join(parts), crc, size)


#: gzip member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzip_body(head: Deflated, tail: bytes, level: int) -> list[bytes]:
    """One gzip member: ``head`` (already deflated) then ``tail``, as chunks to send."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    rest = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(tail, head.crc)
    size = (head.size + len(tail)) & 0xFFFFFFFF
    trailer = crc.to_bytes(4, "little") + size.to_bytes(4, "little")
    return [_GZIP_HEADER, head.data, rest + trailer]


class _EmptyFamily:
    """One family with no samples, posing as a collector, to take its header from an encoder."""

    def __init__(self, metric: MetricDef) -> None:
        self._family = metric.family()

    def collect(self) -> Iterable[Metric]:
        return [self._family]


def _headers(fmt: Format) -> dict[str, bytes]:
    """``# HELP``/``# TYPE`` lines of every snapshot family, as prometheus_client writes them."""
    headers = {}
    for metric in SNAPSHOT_METRICS:
        if fmt == "text":
            text = generate_latest(_EmptyFamily(metric))
        else:
            text = generate_openmetrics(_EmptyFamily(metric))  # type: ignore[no-untyped-call]
            text = text.removesuffix(b"# EOF\n")
        headers[metric.name] = text
    return headers


_HEADERS: dict[Format, dict[str, bytes]] = {fmt: _headers(fmt) for fmt in ("text", "openmetrics")}


class SeriesCache:
    """Escaped label sets by node, folder and peer, kept while their series exist.

    A line is written as three parts, none of them built for it: the metric name (a
    constant), the cached label set, and the value. Series of one scope share one label
    set (a folder's size, files and error series). A peer, the bulk of a large fleet,
    keeps only its escaped id: its label sets are assembled from that and its folder's
    shared text at each render (one short concatenation), which halves the cache.

    :meth:`render` may run in worker threads, several at once: a render reads the cache
    and swaps in each node's new entries with single assignments, so the worst a race
    costs is a label set escaped twice. Every cached string is a pure function of its key.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, _NodeLabels] = {}

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the nodes not named in ``keep`` (after a reload removed them)."""
        names = set(keep)
        for name in [n for n in self._nodes if n not in names]:
            self._nodes.pop(name, None)

    def render(
        self, snapshots: Sequence[NodeSnapshot], peers_enabled: Callable[[str], bool]
    ) -> Rendered:
        """The node part of the exposition of ``snapshots``.

        ``peers_enabled(node)`` says whether the node's per-peer series are wanted (the
        node's ``peers`` setting); the folder peer counts are kept either way.
        """
        parts = [bytearray() for _ in SNAPSHOT_METRICS]
        memo: dict[float | str, bytes] = {}
        for snap in snapshots:
            node = self._nodes.get(snap.node)
            if node is None:
                node = self._nodes[snap.node] = _NodeLabels(snap.node)
            ends = [len(family) for family in parts]
            try:
                _render_node(parts, node, snap, memo, peers_enabled(snap.node))
            except UNEXPORTABLE as exc:  # as metrics.render does: only this node is lost
                for family, end in zip(parts, ends, strict=True):
                    del family[end:]
                _render_node(parts, node, unexportable(snap, exc), memo, False)
        families = tuple(
            (metric, family)
            for metric, family in zip(SNAPSHOT_METRICS, parts, strict=True)
            if family
        )
        # One line per sample: a newline inside a label value is written as backslash-n.
        samples = sum(family.count(b"\n") for _, family in families)
        return Rendered(families, samples)


def _float_value(value: float, memo: dict[float | str, bytes]) -> bytes:
    """``_value`` remembered per render: timestamps repeat across a node's peers.

    The same memo holds escaped peer names and connections, by their text.

    Zero is not remembered: ``0.0`` and ``-0.0`` are equal keys but print differently.
    """
    if not value:
        return _value(value)
    text = memo.get(value)
    if text is None:
        text = memo[value] = _value(value)
    return text


def _add(family: bytearray, name: bytes, labels: bytes, value: bytes) -> None:
    """Append one sample line (name, label set, value) to its family."""
    family += name
    family += labels
    family += value


def _name(metric: str) -> tuple[int, bytes]:
    return _INDEX[metric], metric.encode()


_I_UP, _N_UP = _name("btsync_up")
_I_DURATION, _N_DURATION = _name("btsync_scrape_duration_seconds")
_I_NODE_INFO, _N_NODE_INFO = _name("btsync_node_info")
_I_DOWNLOAD, _N_DOWNLOAD = _name("btsync_download_speed_bytes_per_second")
_I_UPLOAD, _N_UPLOAD = _name("btsync_upload_speed_bytes_per_second")


def _render_node(
    parts: list[bytearray],
    cached: _NodeLabels,
    snap: NodeSnapshot,
    memo: dict[float | str, bytes],
    peers_enabled: bool,
) -> None:
    labels = cached.labels
    _add(parts[_I_UP], _N_UP, labels, _ONE if snap.up else _ZERO)
    _add(parts[_I_DURATION], _N_DURATION, labels, _value(snap.duration_seconds))
    if not snap.up:
        return  # a down node keeps its cached folders: it is likely back next scrape
    info_key = (snap.version or "", snap.os or "", snap.api or "")
    info = cached.info
    if info is None or info[0] != info_key:
        info_labels = label_set(_NODE_INFO_LABELS, (snap.node, *info_key))
        info = cached.info = (info_key, info_labels)
    _add(parts[_I_NODE_INFO], _N_NODE_INFO, info[1], _ONE)
    _add(parts[_I_DOWNLOAD], _N_DOWNLOAD, labels, _value(snap.download_speed))
    _add(parts[_I_UPLOAD], _N_UPLOAD, labels, _value(snap.upload_speed))
    previous = cached.folders
    current: dict[str, _FolderLabels] = {}
    for folder in snap.folders:
        label = folder.folder
        if label in current:
            continue  # two folders aliased alike: the first one is exported
        entry = previous.get(label)
        if entry is None:
            entry = _FolderLabels(snap.node, label)
        current[label] = entry
        _render_folder(parts, entry, folder, memo, peers_enabled)
    cached.folders = current


_I_FOLDER_INFO, _N_FOLDER_INFO = _name("btsync_folder_info")
_I_SIZE, _N_SIZE = _name("btsync_folder_size_bytes")
_I_FILES, _N_FILES = _name("btsync_folder_files")
_I_ERROR, _N_ERROR = _name("btsync_folder_error_code")
_I_INDEXING, _N_INDEXING = _name("btsync_folder_indexing")
_I_PEERS, _N_PEERS = _name("btsync_folder_peers")
_I_PENDING_BYTES, _N_PENDING_BYTES = _name("btsync_folder_pending_bytes")
_I_PENDING_FILES, _N_PENDING_FILES = _name("btsync_folder_pending_files")
_I_PAUSED, _N_PAUSED = _name("btsync_folder_paused")
_I_DISK_FREE, _N_DISK_FREE = _name("btsync_folder_disk_free_bytes")


def _render_folder(
    parts: list[bytearray],
    cached: _FolderLabels,
    folder: FolderSnapshot,
    memo: dict[float | str, bytes],
    peers_enabled: bool,
) -> None:
    selective = "unknown" if folder.selective is None else str(folder.selective).lower()
    info_key = (folder.folder_id, folder.type, selective)
    info = cached.info
    if info is None or info[0] != info_key:
        info_labels = label_set(_FOLDER_INFO_LABELS, (cached.node, cached.folder, *info_key))
        info = cached.info = (info_key, info_labels)
    labels = cached.labels
    _add(parts[_I_FOLDER_INFO], _N_FOLDER_INFO, info[1], _ONE)
    _add(parts[_I_SIZE], _N_SIZE, labels, _value(folder.size_bytes))
    _add(parts[_I_FILES], _N_FILES, labels, _value(folder.files))
    _add(parts[_I_ERROR], _N_ERROR, labels, _value(folder.error_code))
    _add(parts[_I_INDEXING], _N_INDEXING, labels, _ONE if folder.indexing else _ZERO)
    gui = folder.gui
    if gui is not None:
        down, up = cached.pending
        pending_bytes, pending_files = parts[_I_PENDING_BYTES], parts[_I_PENDING_FILES]
        _add(pending_bytes, _N_PENDING_BYTES, down, _value(gui.pending_download_bytes))
        _add(pending_files, _N_PENDING_FILES, down, _value(gui.pending_download_files))
        _add(pending_bytes, _N_PENDING_BYTES, up, _value(gui.pending_upload_bytes))
        _add(pending_files, _N_PENDING_FILES, up, _value(gui.pending_upload_files))
        _add(parts[_I_PAUSED], _N_PAUSED, labels, _ONE if gui.paused else _ZERO)
        if gui.disk_free_bytes is not None:
            _add(parts[_I_DISK_FREE], _N_DISK_FREE, labels, _value(gui.disk_free_bytes))
    if folder.peers is None:  # get_folder_peers failed: unknown, not zero
        cached.peers = {}
        return
    counts = dict.fromkeys(CONNECTIONS, 0)
    unique = {p.peer_id: p for p in reversed(folder.peers)}  # first occurrence wins
    for peer in unique.values():
        if peer.online is not False:  # API v1 lists connected peers only
            counts[peer.connection] = counts.get(peer.connection, 0) + 1
    peer_counts = parts[_I_PEERS]
    for connection, count in counts.items():
        _add(peer_counts, _N_PEERS, cached.connection(connection), _value(count))
    if not peers_enabled:
        cached.peers = {}
        return
    cached.peers = _render_peers(parts, cached, folder.peers, unique, memo)


_I_PEER_INFO, _N_PEER_INFO = _name("btsync_peer_info")
_I_PEER_DOWNLOAD, _N_PEER_DOWNLOAD = _name("btsync_peer_download_bytes_total")
_I_PEER_UPLOAD, _N_PEER_UPLOAD = _name("btsync_peer_upload_bytes_total")
_I_PEER_SYNCED, _N_PEER_SYNCED = _name("btsync_peer_last_synced_timestamp_seconds")
_I_PEER_ONLINE, _N_PEER_ONLINE = _name("btsync_peer_online")
_I_PEER_SEEN, _N_PEER_SEEN = _name("btsync_peer_last_seen_timestamp_seconds")


def _render_peers(
    parts: list[bytearray],
    cached: _FolderLabels,
    peers: Sequence[PeerSnapshot],
    unique: dict[str, PeerSnapshot],
    memo: dict[float | str, bytes],
) -> dict[str, bytes]:
    info = parts[_I_PEER_INFO]
    download = parts[_I_PEER_DOWNLOAD]
    upload = parts[_I_PEER_UPLOAD]
    synced = parts[_I_PEER_SYNCED]
    online = parts[_I_PEER_ONLINE]
    seen = parts[_I_PEER_SEEN]
    head, info_folder, info_node = cached.peer_head, cached.info_folder, cached.info_node
    previous = cached.peers
    current: dict[str, bytes] = {}
    # The hot loop of a large fleet (a few lines per peer): the appends are written out
    # rather than calling _add, and values go through the per-render memo inline.
    for peer in peers:
        peer_id = peer.peer_id
        if unique.get(peer_id) is not peer:
            continue
        escaped_id = previous.get(peer_id)
        if escaped_id is None:
            escaped_id = escape(peer_id).encode()
        current[peer_id] = escaped_id
        name = memo.get(peer.name)
        if name is None:
            name = memo[peer.name] = escape(peer.name).encode()
        connection = memo.get(peer.connection)
        if connection is None:
            connection = memo[peer.connection] = escape(peer.connection).encode()
        info += _N_PEER_INFO
        info += _INFO_HEAD
        info += connection
        info += info_folder
        info += name
        info += info_node
        info += escaped_id
        info += _INFO_TAIL
        labels = head + escaped_id + _CLOSE
        value = peer.download_bytes
        if value is not None:
            download += _N_PEER_DOWNLOAD
            download += labels
            download += _value(value)
        value = peer.upload_bytes
        if value is not None:
            upload += _N_PEER_UPLOAD
            upload += labels
            upload += _value(value)
        when = peer.synced
        text = memo.get(when) if when else None
        if text is None:
            text = _float_value(when, memo)
        synced += _N_PEER_SYNCED
        synced += labels
        synced += text
        if peer.online is not None:
            _add(online, _N_PEER_ONLINE, labels, _ONE if peer.online else _ZERO)
        if peer.last_seen is not None:
            _add(seen, _N_PEER_SEEN, labels, _float_value(peer.last_seen, memo))
    return current


class Renderer:
    """Renders snapshots through one :class:`SeriesCache`, once per set of snapshots.

    Scrapes that join one fetch (several Prometheus servers, ``/metrics`` and ``/probe``
    at once) get the very same snapshot objects back, so they also share one rendering,
    and through :class:`Rendered` one compression per format and level. The renderer
    holds a rendering only while it is being built; once built, only weakly: the body
    lives as long as a response still uses it, and is not kept between scrapes.
    """

    def __init__(self, *, thread_above: int = 10_000) -> None:
        #: Renderings of more samples than this (estimated) run in a worker thread.
        self.thread_above = thread_above
        self._series = SeriesCache()
        #: The rendering in progress and what it is rendered from (held only meanwhile).
        self._building: tuple[tuple[object, ...], asyncio.Future[Rendered]] | None = None
        self._built: weakref.ref[Rendered] | None = None

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the cached series of nodes not named in ``keep`` (after a reload)."""
        self._series.forget(keep)

    async def render(
        self, snapshots: Sequence[NodeSnapshot], peers: Mapping[str, bool], estimate: int
    ) -> Rendered:
        """The node part for ``snapshots``; ``peers`` maps node name to its ``peers`` setting.

        ``estimate`` is about how many samples it holds, to choose loop or thread.
        """
        flags = tuple(peers.get(s.node, True) for s in snapshots)
        key = (*snapshots, *flags)
        building = self._building
        if building is not None and _same(building[0], key):
            return await asyncio.shield(building[1])
        built = self._built() if self._built is not None else None
        if built is not None and _same(built.source, key):
            return built
        del built  # not ours: let it go as soon as its responses are sent
        enabled = dict(zip((s.node for s in snapshots), flags, strict=True)).__getitem__

        def build() -> Rendered:
            return replace(self._series.render(snapshots, enabled), source=key)

        if estimate <= self.thread_above:
            rendered = build()
            self._built = weakref.ref(rendered)
            return rendered
        future = asyncio.ensure_future(asyncio.to_thread(build))
        self._building = (key, future)
        try:
            rendered = await asyncio.shield(future)
        finally:
            if self._building is not None and self._building[1] is future:
                self._building = None
        self._built = weakref.ref(rendered)
        return rendered


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Same snapshot objects (identity, not equality: equal-looking data may differ)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
