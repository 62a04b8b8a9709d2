"""``/probe?target=NAME&debug=true``: one scrape of one node, explained as plain text.

When a node shows ``btsync_up 0`` or a folder is missing, the first question is "what did
the exporter ask, what came back, how long did it take". Like blackbox_exporter's debug
output, this answers it for one fresh scrape: every API request with its outcome and
duration, the node's outcome, the log lines the scrape wrote, and the series Prometheus
would get.

The scrape uses a scraper of its own, with empty caches, so every request a first scrape
makes is shown (version, OS, folder secrets, preferences); the requests still count in the
exporter's own metrics, since the node really answered them. Secrets never reach the text:
requests are listed by API method and outcome only (never their query, which carries a
folder secret), the node URL is reduced to its origin, and a last pass replaces the node's
password and any ``secret=``, ``token=``, ``password=`` or cookie value with ``<secret>``,
in case a log line carried one.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry
from yarl import URL

from sync_exporter.client import RequestObserver
from sync_exporter.config import NodeConfig
from sync_exporter.logs import LogfmtFormatter
from sync_exporter.metrics import render
from sync_exporter.model import NodeSnapshot, Outcome
from sync_exporter.problems import connected

__all__ = ["debug_probe", "redact"]

#: Query parameters, headers and fields whose values are secret wherever they appear.
_SECRET_VALUES = re.compile(
    r"(?i)\b(secret|token|password|passwd|api_key|cookie|set-cookie|authorization|guid)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
)


def redact(text: str, *secrets: str) -> str:
    """Replace every known secret value, and every ``secret=...``-like value, with <secret>.

    A known value is replaced where it stands as a word of its own, so a password that is
    also an ordinary word ("secret") does not mangle ``get_secrets``.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", "<secret>", text)
    return _SECRET_VALUES.sub(lambda m: f"{m.group(1)}{m.group(2)}<secret>", text)


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity, as a registry needs
class _Fixed:
    """This scrape's families as a collector, for prometheus_client's text encoder."""

    families: tuple[Metric, ...]

    def collect(self) -> tuple[Metric, ...]:
        return self.families


@dataclass(frozen=True, slots=True)
class _Request:
    started: float
    seconds: float
    method: str
    outcome: str


class _Recorder:
    """A RequestObserver that keeps the target's requests and passes every one on."""

    def __init__(self, node: str, forward: RequestObserver | None, began: float) -> None:
        self.node = node
        self.forward = forward
        self.began = began
        self.requests: list[_Request] = []

    def observe(self, node: str, method: str, outcome: Outcome, seconds: float) -> None:
        if node == self.node:
            started = time.perf_counter() - seconds - self.began
            self.requests.append(_Request(started, seconds, method, str(outcome)))
        if self.forward is not None:
            self.forward.observe(node, method, outcome, seconds)


class _Capture(logging.Handler):
    """Keeps the log records about one node while the debug scrape runs."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node
        self.lines: list[str] = []
        self.setFormatter(LogfmtFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "node", None) == self.node:
            self.lines.append(self.format(record))


@contextmanager
def _captured(node: str) -> Iterator[_Capture]:
    capture = _Capture(node)
    logger = logging.getLogger("sync_exporter")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


def _origin(url: str) -> str:
    try:
        return str(URL(url).origin())
    except ValueError:
        return "(invalid URL)"


def _summary(snap: NodeSnapshot) -> list[str]:
    if not snap.up:
        reason = snap.outcome.value if snap.outcome is not None else "unknown"
        return [f"Outcome: DOWN (btsync_up 0), reason {reason}: {snap.error or ''}"]
    peers = {p.peer_id for f in snap.folders for p in connected(f)}
    lines = [
        "Outcome: up (btsync_up 1)"
        + (f", read through API {snap.api}" if snap.api else "")
        + (f" ({snap.api_reason})" if snap.api_reason else ""),
        f"Node: Sync {snap.version or 'version unknown'} on {snap.os or 'an unknown OS'}; "
        f"{len(snap.folders)} folders, {len(peers)} distinct peers connected",
    ]
    failed = [f.folder for f in snap.folders if f.peers is None]
    if failed:
        lines.append(f"Peers could not be read for: {', '.join(failed)}")
    return lines


async def debug_probe(
    node: NodeConfig,
    timeout: float,  # noqa: ASYNC109 - the scrape deadline, passed on to the scraper
    observer: RequestObserver | None,
) -> str:
    """Scrape ``node`` once with a fresh scraper and return the text/plain debug report."""
    from sync_exporter.scrape import Scraper

    began = time.perf_counter()
    recorder = _Recorder(node.name, observer, began)
    scraper = Scraper(observer=recorder)
    try:
        with _captured(node.name) as capture:
            (snap,) = await scraper.scrape([node], timeout=timeout)
    finally:
        await scraper.close()
    lines = [
        f"Probe of node {node.name!r} at {_origin(node.url)} as user {node.username!r}",
        f"Deadline {timeout:.3f} s; scrape took {snap.duration_seconds:.3f} s",
        *_summary(snap),
        "",
        f"Requests ({len(recorder.requests)}; start and duration in seconds from the probe's "
        "start; queries not shown, they carry folder secrets):",
    ]
    for r in sorted(recorder.requests, key=lambda r: r.started):
        lines.append(f"  {r.started:8.3f}  {r.seconds:8.3f}  {r.method:<20} {r.outcome}")
    lines += ["", f"Log lines ({len(capture.lines)}):", *(f"  {line}" for line in capture.lines)]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(tuple(render([snap], {node.name: node.peers}))))
    lines += ["", "Metrics (what /probe serves for this node):"]
    lines += generate_latest(registry).decode().splitlines()
    try:
        password = node.password.reveal()
    except Exception:  # an unreadable password file: nothing to redact, nothing to leak
        password = ""
    # Our own HELP and TYPE lines hold no secret; redacting them would mangle the words
    # of a password that is a common one.
    return "\n".join(ln if ln.startswith("# ") else redact(ln, password) for ln in lines) + "\n"
