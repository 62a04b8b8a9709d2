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
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.utils import floatToGoString

from sync_exporter.metrics import BY_NAME, CONNECTIONS, SNAPSHOT_METRICS, MetricDef
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


def escape(value: str) -> str:
    """A label value escaped for both text formats: backslash, newline, double quote."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def series_prefix(metric: MetricDef, *values: str) -> str:
    """``name{label="value",...} `` for ``values`` in the table's label order, names sorted."""
    pairs = sorted(zip(metric.labels, values, strict=True))
    labels = ",".join(f'{name}="{escape(value)}"' for name, value in pairs)
    return f"{metric.name}{{{labels}}} "


def _prefixer(name: str) -> Callable[..., str]:
    metric = BY_NAME[name]

    def prefix(*values: str) -> str:
        return series_prefix(metric, *values)

    return prefix


_UP = _prefixer("btsync_up")
_DURATION = _prefixer("btsync_scrape_duration_seconds")
_NODE_INFO = _prefixer("btsync_node_info")
_DOWNLOAD = _prefixer("btsync_download_speed_bytes_per_second")
_UPLOAD = _prefixer("btsync_upload_speed_bytes_per_second")
_FOLDER_INFO = _prefixer("btsync_folder_info")
_SIZE = _prefixer("btsync_folder_size_bytes")
_FILES = _prefixer("btsync_folder_files")
_ERROR = _prefixer("btsync_folder_error_code")
_INDEXING = _prefixer("btsync_folder_indexing")
_PEERS = _prefixer("btsync_folder_peers")
_PENDING_BYTES = _prefixer("btsync_folder_pending_bytes")
_PENDING_FILES = _prefixer("btsync_folder_pending_files")
_PAUSED = _prefixer("btsync_folder_paused")
_DISK_FREE = _prefixer("btsync_folder_disk_free_bytes")
_PEER_INFO = _prefixer("btsync_peer_info")
_PEER_DOWNLOAD = _prefixer("btsync_peer_download_bytes_total")
_PEER_UPLOAD = _prefixer("btsync_peer_upload_bytes_total")
_PEER_SYNCED = _prefixer("btsync_peer_last_synced_timestamp_seconds")
_PEER_ONLINE = _prefixer("btsync_peer_online")
_PEER_SEEN = _prefixer("btsync_peer_last_seen_timestamp_seconds")


class _PeerLines:
    """The prefixes of one peer's series in one folder of one node."""

    __slots__ = ("download", "info", "online", "seen", "synced", "upload")

    def __init__(self, node: str, folder: str, peer_id: str) -> None:
        key = (node, folder, peer_id)
        self.download = _PEER_DOWNLOAD(*key)
        self.upload = _PEER_UPLOAD(*key)
        self.synced = _PEER_SYNCED(*key)
        self.online = _PEER_ONLINE(*key)
        self.seen = _PEER_SEEN(*key)
        #: (name, connection) and the info series' whole line for them, swapped as one value.
        self.info: tuple[tuple[str, str], str] | None = None


class _FolderLines:
    """The prefixes of one folder's series on one node, and of its peers' series."""

    __slots__ = (
        "connections",
        "disk_free",
        "error",
        "files",
        "folder",
        "indexing",
        "info",
        "node",
        "paused",
        "peers",
        "pending",
        "size",
    )

    def __init__(self, node: str, folder: str) -> None:
        self.node = node
        self.folder = folder
        self.size = _SIZE(node, folder)
        self.files = _FILES(node, folder)
        self.error = _ERROR(node, folder)
        self.indexing = _INDEXING(node, folder)
        self.paused = _PAUSED(node, folder)
        self.disk_free = _DISK_FREE(node, folder)
        self.pending = tuple(
            (_PENDING_BYTES(node, folder, d), _PENDING_FILES(node, folder, d))
            for d in ("download", "upload")
        )
        self.connections: dict[str, str] = {}
        #: (folder_id, type, selective) and the info series' whole line, swapped as one value.
        self.info: tuple[tuple[str, str, str], str] | None = None
        self.peers: dict[str, _PeerLines] = {}

    def connection(self, connection: str) -> str:
        prefix = self.connections.get(connection)
        if prefix is None:
            prefix = self.connections[connection] = _PEERS(self.node, self.folder, connection)
        return prefix


class _NodeLines:
    """The prefixes of one node's own series, and its folders' lines by folder label."""

    __slots__ = ("download", "duration", "folders", "info", "up", "upload")

    def __init__(self, node: str) -> None:
        self.up = _UP(node)
        self.duration = _DURATION(node)
        self.download = _DOWNLOAD(node)
        self.upload = _UPLOAD(node)
        #: (version, os, api) and the info series' whole line, swapped as one value.
        self.info: tuple[tuple[str, str, str], str] | None = None
        self.folders: dict[str, _FolderLines] = {}


@dataclass(frozen=True, slots=True)
class Rendered:
    """The node part of one exposition: each non-empty family's sample lines, in order.

    Encoded bodies are cached per format (and compressed ones per format and level), so
    scrapes that share one set of snapshots share one rendering and one compression.
    """

    families: tuple[tuple[MetricDef, str], ...]
    samples: int
    _encoded: dict[object, object] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, compare=False, repr=False)

    def chunks(self, fmt: Format) -> list[bytes]:
        """The families as UTF-8 chunks (one per family) in ``fmt``, without ``# EOF``."""
        with self._lock:
            cached = self._encoded.get(fmt)
            if cached is None:
                headers = _HEADERS[fmt]
                cached = [(headers[d.name] + lines).encode() for d, lines in self.families]
                self._encoded[fmt] = cached
        assert isinstance(cached, list)
        return cached

    def deflated(self, fmt: Format, level: int) -> Deflated:
        """:meth:`chunks` compressed as the first part of a gzip stream (see :func:`gzip_body`)."""
        key = (fmt, level)
        with self._lock:
            cached = self._encoded.get(key)
            if cached is None:
                cached = self._encoded[key] = Deflated.of(self.chunks(fmt), level)
        assert isinstance(cached, Deflated)
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
    def of(chunks: Iterable[bytes], level: int) -> Deflated:
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


def _headers(fmt: Format) -> dict[str, str]:
    """``# HELP``/``# TYPE`` lines of every snapshot family, as prometheus_client writes them."""
    headers = {}
    for metric in SNAPSHOT_METRICS:
        if fmt == "text":
            text = generate_latest(_EmptyFamily(metric)).decode()
        else:
            text = generate_openmetrics(_EmptyFamily(metric)).decode()  # type: ignore[no-untyped-call]
            text = text.removesuffix("# EOF\n")
        headers[metric.name] = text
    return headers


_HEADERS: dict[Format, dict[str, str]] = {fmt: _headers(fmt) for fmt in ("text", "openmetrics")}


class SeriesCache:
    """Escaped series prefixes by node, folder and peer, kept while the series exist.

    :meth:`render` may run in worker threads, several at once: a render reads the cache
    and swaps in each node's new entries with single assignments, so the worst a race
    costs is a prefix computed twice. Every cached string is a pure function of its key.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, _NodeLines] = {}

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
        lines: list[list[str]] = [[] for _ in SNAPSHOT_METRICS]
        memo: dict[float, str] = {}
        for snap in snapshots:
            node = self._nodes.get(snap.node)
            if node is None:
                node = self._nodes[snap.node] = _NodeLines(snap.node)
            _render_node(lines, node, snap, memo, peers_enabled(snap.node))
        families = tuple(
            (metric, "".join(family))
            for metric, family in zip(SNAPSHOT_METRICS, lines, strict=True)
            if family
        )
        return Rendered(families, sum(len(family) for family in lines))


def _float_text(value: float, memo: dict[float, str]) -> str:
    """``value_text`` remembered per render: timestamps repeat across a node's peers.

    Zero is not remembered: ``0.0`` and ``-0.0`` are equal keys but print differently.
    """
    if not value:
        return value_text(value)
    text = memo.get(value)
    if text is None:
        text = memo[value] = value_text(value)
    return text


_I_UP = _INDEX["btsync_up"]
_I_DURATION = _INDEX["btsync_scrape_duration_seconds"]
_I_NODE_INFO = _INDEX["btsync_node_info"]
_I_DOWNLOAD = _INDEX["btsync_download_speed_bytes_per_second"]
_I_UPLOAD = _INDEX["btsync_upload_speed_bytes_per_second"]


def _render_node(
    lines: list[list[str]],
    cached: _NodeLines,
    snap: NodeSnapshot,
    memo: dict[float, str],
    peers_enabled: bool,
) -> None:
    lines[_I_UP].append(f"{cached.up}{'1.0' if snap.up else '0.0'}\n")
    lines[_I_DURATION].append(f"{cached.duration}{value_text(snap.duration_seconds)}\n")
    if not snap.up:
        return  # a down node keeps its cached folders: it is likely back next scrape
    info_key = (snap.version or "", snap.os or "", snap.api or "")
    info = cached.info
    if info is None or info[0] != info_key:
        info = cached.info = (info_key, _NODE_INFO(snap.node, *info_key) + "1.0\n")
    lines[_I_NODE_INFO].append(info[1])
    lines[_I_DOWNLOAD].append(f"{cached.download}{value_text(snap.download_speed)}\n")
    lines[_I_UPLOAD].append(f"{cached.upload}{value_text(snap.upload_speed)}\n")
    previous = cached.folders
    current: dict[str, _FolderLines] = {}
    for folder in snap.folders:
        label = folder.folder
        if label in current:
            continue  # two folders aliased alike: the first one is exported
        entry = previous.get(label)
        if entry is None:
            entry = _FolderLines(snap.node, label)
        current[label] = entry
        _render_folder(lines, entry, folder, memo, peers_enabled)
    cached.folders = current


_I_FOLDER_INFO = _INDEX["btsync_folder_info"]
_I_SIZE = _INDEX["btsync_folder_size_bytes"]
_I_FILES = _INDEX["btsync_folder_files"]
_I_ERROR = _INDEX["btsync_folder_error_code"]
_I_INDEXING = _INDEX["btsync_folder_indexing"]
_I_PEERS = _INDEX["btsync_folder_peers"]
_I_PENDING_BYTES = _INDEX["btsync_folder_pending_bytes"]
_I_PENDING_FILES = _INDEX["btsync_folder_pending_files"]
_I_PAUSED = _INDEX["btsync_folder_paused"]
_I_DISK_FREE = _INDEX["btsync_folder_disk_free_bytes"]


def _render_folder(
    lines: list[list[str]],
    cached: _FolderLines,
    folder: FolderSnapshot,
    memo: dict[float, str],
    peers_enabled: bool,
) -> None:
    selective = "unknown" if folder.selective is None else str(folder.selective).lower()
    info_key = (folder.folder_id, folder.type, selective)
    info = cached.info
    if info is None or info[0] != info_key:
        line = _FOLDER_INFO(cached.node, cached.folder, *info_key) + "1.0\n"
        info = cached.info = (info_key, line)
    lines[_I_FOLDER_INFO].append(info[1])
    lines[_I_SIZE].append(f"{cached.size}{value_text(folder.size_bytes)}\n")
    lines[_I_FILES].append(f"{cached.files}{value_text(folder.files)}\n")
    lines[_I_ERROR].append(f"{cached.error}{value_text(folder.error_code)}\n")
    lines[_I_INDEXING].append(cached.indexing + ("1.0\n" if folder.indexing else "0.0\n"))
    gui = folder.gui
    if gui is not None:
        (down_bytes, down_files), (up_bytes, up_files) = cached.pending
        pending_bytes, pending_files = lines[_I_PENDING_BYTES], lines[_I_PENDING_FILES]
        pending_bytes.append(f"{down_bytes}{value_text(gui.pending_download_bytes)}\n")
        pending_files.append(f"{down_files}{value_text(gui.pending_download_files)}\n")
        pending_bytes.append(f"{up_bytes}{value_text(gui.pending_upload_bytes)}\n")
        pending_files.append(f"{up_files}{value_text(gui.pending_upload_files)}\n")
        lines[_I_PAUSED].append(cached.paused + ("1.0\n" if gui.paused else "0.0\n"))
        if gui.disk_free_bytes is not None:
            lines[_I_DISK_FREE].append(f"{cached.disk_free}{value_text(gui.disk_free_bytes)}\n")
    if folder.peers is None:  # get_folder_peers failed: unknown, not zero
        cached.peers = {}
        return
    counts = dict.fromkeys(CONNECTIONS, 0)
    unique = {p.peer_id: p for p in reversed(folder.peers)}  # first occurrence wins
    for peer in unique.values():
        if peer.online is not False:  # API v1 lists connected peers only
            counts[peer.connection] = counts.get(peer.connection, 0) + 1
    peer_counts = lines[_I_PEERS]
    for connection, count in counts.items():
        peer_counts.append(f"{cached.connection(connection)}{value_text(count)}\n")
    if not peers_enabled:
        cached.peers = {}
        return
    cached.peers = _render_peers(lines, cached, folder.peers, unique, memo)


_I_PEER_INFO = _INDEX["btsync_peer_info"]
_I_PEER_DOWNLOAD = _INDEX["btsync_peer_download_bytes_total"]
_I_PEER_UPLOAD = _INDEX["btsync_peer_upload_bytes_total"]
_I_PEER_SYNCED = _INDEX["btsync_peer_last_synced_timestamp_seconds"]
_I_PEER_ONLINE = _INDEX["btsync_peer_online"]
_I_PEER_SEEN = _INDEX["btsync_peer_last_seen_timestamp_seconds"]


def _render_peers(
    lines: list[list[str]],
    cached: _FolderLines,
    peers: Sequence[PeerSnapshot],
    unique: dict[str, PeerSnapshot],
    memo: dict[float, str],
) -> dict[str, _PeerLines]:
    info = lines[_I_PEER_INFO].append
    download = lines[_I_PEER_DOWNLOAD].append
    upload = lines[_I_PEER_UPLOAD].append
    synced = lines[_I_PEER_SYNCED].append
    online = lines[_I_PEER_ONLINE].append
    seen = lines[_I_PEER_SEEN].append
    previous = cached.peers
    current: dict[str, _PeerLines] = {}
    for peer in peers:
        peer_id = peer.peer_id
        if unique.get(peer_id) is not peer:
            continue
        entry = previous.get(peer_id)
        if entry is None:
            entry = _PeerLines(cached.node, cached.folder, peer_id)
        current[peer_id] = entry
        info_key = (peer.name, peer.connection)
        known = entry.info
        if known is None or known[0] != info_key:
            line = _PEER_INFO(cached.node, cached.folder, peer_id, *info_key) + "1.0\n"
            known = entry.info = (info_key, line)
        info(known[1])
        if peer.download_bytes is not None:
            download(f"{entry.download}{value_text(peer.download_bytes)}\n")
        if peer.upload_bytes is not None:
            upload(f"{entry.upload}{value_text(peer.upload_bytes)}\n")
        synced(f"{entry.synced}{_float_text(peer.synced, memo)}\n")
        if peer.online is not None:
            online(entry.online + ("1.0\n" if peer.online else "0.0\n"))
        if peer.last_seen is not None:
            seen(f"{entry.seen}{_float_text(peer.last_seen, memo)}\n")
    return current


class Renderer:
    """Renders snapshots through one :class:`SeriesCache`, once per set of snapshots.

    Scrapes that join one fetch (several Prometheus servers, ``/metrics`` and ``/probe``
    at once) get the very same snapshot objects back, so they also share one rendering,
    and through :class:`Rendered` one encoding per format and one compression per level.
    Only the latest rendering is kept, and dropped before the next one starts, so memory
    holds at most one body beside the one being built.
    """

    def __init__(self, *, thread_above: int = 10_000) -> None:
        #: Renderings of more samples than this (estimated) run in a worker thread.
        self.thread_above = thread_above
        self._series = SeriesCache()
        self._key: tuple[object, ...] | None = None
        self._latest: asyncio.Future[Rendered] | None = None

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
        latest = self._latest
        if latest is not None and self._key is not None and _same(self._key, key):
            return await asyncio.shield(latest)
        self._key = self._latest = None  # let the previous body go before building this one
        enabled = dict(zip((s.node for s in snapshots), flags, strict=True))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Rendered]
        if estimate > self.thread_above:
            future = asyncio.ensure_future(
                asyncio.to_thread(self._series.render, snapshots, enabled.__getitem__)
            )
        else:
            future = loop.create_future()
            try:
                future.set_result(self._series.render(snapshots, enabled.__getitem__))
            except Exception as exc:
                future.set_exception(exc)
        self._key, self._latest = key, future
        return await asyncio.shield(future)


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Same snapshot objects (identity, not equality: equal-looking data may differ)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
