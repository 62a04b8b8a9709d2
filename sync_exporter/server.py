"""The exporter's HTTP side: routes, content negotiation, deadlines and config reload.

Handlers are thin: parse the request, ask the scraper for snapshots, render them with
the fast renderer (``exposition``) in the format the client asked for, the exporter's
own metrics behind them through prometheus_client. All
state lives in one :class:`Exporter` object stored on the application (no module-level
state), and the resources that need closing (the scraper's HTTP sessions, the SIGHUP
handler) are opened and closed in a ``cleanup_ctx``.

Endpoints (README.md, "Endpoints"): ``/metrics``, ``/probe?target=NAME``, ``/-/healthy``,
``/-/ready``, ``POST /-/reload`` and ``/``; ``/sd`` lists the ``/probe`` targets for
Prometheus' HTTP service discovery.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import signal
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import payload, web
from aiohttp.abc import AbstractStreamWriter
from prometheus_client.metrics_core import Metric

from sync_exporter import __version__
from sync_exporter.config import Config, ConfigError, NodeConfig, load_config
from sync_exporter.discovery import BadHostError, target_address, target_groups
from sync_exporter.exposition import Format, Rendered, Renderer, gzip_body
from sync_exporter.landing import ReloadStatus, render_landing
from sync_exporter.metrics import render
from sync_exporter.model import NodeSnapshot
from sync_exporter.negotiation import Encoder, accepts_gzip, negotiate
from sync_exporter.probe_debug import debug_probe
from sync_exporter.problems import ProblemTracker
from sync_exporter.runbook import runbook_page
from sync_exporter.scrape import Scraper
from sync_exporter.selfmetrics import SelfMetrics, exporter_registry
from sync_exporter.webauth import BasicAuth, Handler, guard
from sync_exporter.webconfig import ServerTLS, WebConfig, prepare_reload

log = logging.getLogger(__name__)

#: Header Prometheus sends with its scrape timeout in seconds.
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"

#: Above this many samples, rendering, encoding and compression run in a worker thread,
#: so one big scrape does not stall the event loop (and every other request).
EXECUTOR_SAMPLES = 2000

#: gzip level of /metrics and /probe bodies, chosen by measurement (docs/benchmarks.md).
GZIP_LEVEL = 1

#: Bodies above this size are streamed chunk by chunk instead of joined into one copy.
STREAM_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Settings:
    """How to run the exporter; the CLI builds this from its flags.

    ``config`` is the already validated configuration; ``config_file`` is where reloads
    read the next one from.
    """

    config: Config
    config_file: Path
    #: Subtracted from Prometheus' scrape timeout, so the answer arrives before it gives up.
    timeout_offset: float = 0.5
    #: Scrape time budget in seconds when the request carries no timeout header (curl, a
    #: browser).
    default_timeout: float = 10.0
    #: Install a SIGHUP handler that reloads the config (the CLI does; tests do not).
    handle_sighup: bool = False
    #: Whether ``/metrics`` scrapes the nodes. Off (``--no-metrics.nodes``) in multi-target
    #: setups: ``/probe`` serves the nodes, ``/metrics`` only the exporter's own metrics,
    #: so no node is asked twice and no alert fires twice.
    metrics_nodes: bool = True
    #: ``--web.config.file``: TLS, basic auth and headers; reloaded with the config.
    web_config_file: Path | None = None
    web_config: WebConfig = field(default_factory=WebConfig)
    #: The listening socket's TLS (when the web config has ``tls_server_config``).
    tls: ServerTLS | None = None
    version: str = __version__
    clock: Callable[[], float] = time.time


class Exporter:
    """The running exporter's state: current config, scraper, self-metrics, reload status.

    The config is replaced whole (one assignment) by :meth:`reload`, so a request sees
    either the old or the new config, never a mix; reloads are serialised by a lock.
    """

    def __init__(self, settings: Settings, scraper: Scraper, self_metrics: SelfMetrics) -> None:
        self.settings = settings
        self.config = settings.config
        self.scraper = scraper
        self.self_metrics = self_metrics
        self.registry = exporter_registry(self_metrics)
        self.web_config = settings.web_config
        self.auth = BasicAuth()
        self.renderer = Renderer(thread_above=EXECUTOR_SAMPLES)
        self.ready = False
        #: Folder problems across the fleet, from what the scrapes saw (landing page).
        self.problems = ProblemTracker()
        self.reload_error: str | None = None
        self.reload_success_time = settings.clock()
        self._reload_lock = asyncio.Lock()
        self_metrics.set_nodes({n.name: n.api for n in self.config.nodes})
        self_metrics.reloaded(success=True, when=self.reload_success_time)

    async def scrape(self, nodes: Sequence[NodeConfig], timeout: float) -> list[NodeSnapshot]:  # noqa: ASYNC109
        """Scrape ``nodes`` within ``timeout`` seconds; log and count each node that is down."""
        snapshots = await self.scraper.scrape(nodes, timeout=timeout)
        self.problems.observe(snapshots)
        for snap in snapshots:
            if snap.api is not None:
                self.self_metrics.read_through(snap.node, snap.api)
            if not snap.up:
                reason = snap.outcome.value if snap.outcome is not None else "unknown"
                self.self_metrics.node_failed(snap.node, reason)
                log.warning(
                    "scrape of node failed",
                    extra={"node": snap.node, "reason": reason, "err": snap.error or ""},
                )
        return snapshots

    async def reload(self) -> str | None:
        """Load, validate and swap in the config file; return None, or the error text.

        The web config file (``--web.config.file``) is reloaded with it, and the two are
        taken together or not at all. On any error the current ones stay in force. The
        text is what the loaders report (key paths and problems, never a secret value).
        """
        async with self._reload_lock:
            path = self.settings.config_file
            now = self.settings.clock()
            error: str | None = None
            try:
                config = await asyncio.to_thread(load_config, path)
            except ConfigError as exc:
                error = str(exc)
            except OSError as exc:
                error = f"{path}: cannot read the file: {exc.strerror or type(exc).__name__}"
            except Exception as exc:  # a loader bug must not take the exporter down
                # No traceback: its text could quote a line of the file, password included.
                error = f"{path}: unexpected {type(exc).__name__} while loading"
            web, web_error = await self._load_web_config()
            if web_error is not None:
                error = web_error if error is None else f"{error}\n{web_error}"
            if error is None:
                self._install_web_config(web)
                self.config = config
                self.reload_error = None
                self.reload_success_time = now
                names = {n.name for n in config.nodes}
                self.self_metrics.set_nodes({n.name: n.api for n in config.nodes})
                self.self_metrics.reloaded(success=True, when=now)
                await self.scraper.forget(names)
                self.scraper.reconsider_apis()
                self.problems.forget(names)
                self.renderer.forget(names)
                log.info(
                    "configuration reloaded", extra={"file": str(path), "nodes": len(config.nodes)}
                )
                return None
            self.reload_error = error
            self.self_metrics.reloaded(success=False, when=now)
            log.error(
                "configuration reload failed, keeping the previous one",
                extra={"file": str(path), "err": error},
            )
            return error

    async def _load_web_config(self) -> tuple[tuple[WebConfig, ssl.SSLContext | None], str | None]:
        """Load the web config file for a reload: ``((config, TLS context), error)``."""
        current = (self.web_config, None)
        file = self.settings.web_config_file
        if file is None:
            return current, None
        try:
            loaded = await asyncio.to_thread(prepare_reload, file, self.settings.tls is not None)
        except ConfigError as exc:
            return current, str(exc)
        except Exception as exc:  # a loader bug must not take the exporter down
            return current, f"{file}: unexpected {type(exc).__name__} while loading"
        return loaded, None

    def _install_web_config(self, loaded: tuple[WebConfig, ssl.SSLContext | None]) -> None:
        web, context = loaded
        if self.settings.tls is not None and web.tls is not None and context is not None:
            self.settings.tls.install(web.tls, context)
        self.web_config = web

    def reload_status(self) -> ReloadStatus:
        """Return the last reload's outcome for the landing page."""
        return ReloadStatus(
            config_file=str(self.settings.config_file),
            successful=self.reload_error is None,
            success_time=self.reload_success_time,
            error=self.reload_error,
        )


EXPORTER = web.AppKey("exporter", Exporter)


class _Families:
    """A prebuilt list of families posing as a collector, for prometheus_client's encoders."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _estimate_samples(snapshots: Sequence[NodeSnapshot]) -> int:
    """Roughly how many samples ``render`` will produce (to pick loop or thread)."""
    total = 0
    for snap in snapshots:
        total += 5
        for folder in snap.folders:
            total += 7 + 4 * len(folder.peers or ())
    return total


def _build(
    snapshots: Sequence[NodeSnapshot],
    peers: Mapping[str, bool],
    extra: Sequence[Metric],
    encoder: Encoder,
    gzip_ok: bool,
) -> bytes:
    """prometheus_client's own rendering, for the formats the fast path does not write."""
    families = [*render(snapshots, peers), *extra]
    body = encoder(_Families(families))
    if gzip_ok:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
    return body


def _fast_format(content_type: str) -> Format | None:
    """The format the fast renderer writes for ``content_type``, None when it cannot.

    Our metric and label names are legacy Prometheus names, which every name escaping
    leaves as they are, except ``dots`` (it doubles underscores): that one, rarely asked
    for, goes through prometheus_client.
    """
    if "escaping=dots" in content_type:
        return None
    return "openmetrics" if content_type.startswith("application/openmetrics-text") else "text"


def _encode_fast(
    rendered: Rendered, fmt: Format, tail: bytes, gzip_ok: bool
) -> list[bytes | bytearray]:
    """The node part (encoded and compressed once per format and level) and this tail."""
    if gzip_ok:
        return [*gzip_body(rendered.deflated(fmt, GZIP_LEVEL), tail, GZIP_LEVEL)]
    return [*rendered.chunks(fmt), tail]


async def _respond(
    request: web.Request,
    snapshots: Sequence[NodeSnapshot],
    peers: Mapping[str, bool],
    extra: Sequence[Metric] = (),
) -> web.StreamResponse:
    """Answer with the exposition of ``snapshots`` (plus ``extra`` families).

    ``peers`` maps node names to their ``peers`` setting (``Config.peers()``).

    The format follows ``Accept`` (text 0.0.4 by default, OpenMetrics when asked), gzip'd
    when ``Accept-Encoding`` allows; 406 when the client refuses both formats (never a
    500, whatever the headers). The node series come from the fast renderer
    (sync_exporter.exposition), shared by the scrapes that share the snapshots; ``extra``
    (self-metrics, process metrics) is encoded by prometheus_client behind them. A large
    scrape is rendered, encoded and compressed in a worker thread, so the loop keeps
    serving other requests meanwhile, and its body is streamed without being joined.
    """
    chosen = negotiate(",".join(request.headers.getall("Accept", [])))
    gzip_ok = accepts_gzip(",".join(request.headers.getall("Accept-Encoding", [])))
    if chosen is None:
        raise web.HTTPNotAcceptable(
            text="406 Not Acceptable: this endpoint serves text/plain (version 0.0.4) "
            "or application/openmetrics-text\n"
        )
    encoder, content_type = chosen
    fmt = _fast_format(content_type)
    estimate = _estimate_samples(snapshots)
    large = estimate > EXECUTOR_SAMPLES
    chunks: list[bytes | bytearray]
    if fmt is None:
        args = (snapshots, peers, extra, encoder, gzip_ok)
        chunks = [await asyncio.to_thread(_build, *args) if large else _build(*args)]
    else:
        renderer = request.app[EXPORTER].renderer
        rendered = await renderer.render(snapshots, peers, estimate)
        tail = encoder(_Families(extra))
        if large:
            chunks = await asyncio.to_thread(_encode_fast, rendered, fmt, tail, gzip_ok)
        else:
            chunks = _encode_fast(rendered, fmt, tail, gzip_ok)
    headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if gzip_ok:
        headers["Content-Encoding"] = "gzip"
    if sum(len(chunk) for chunk in chunks) <= STREAM_BYTES:
        return web.Response(body=b"".join(chunks), headers=headers)
    return web.Response(body=_Chunks(chunks), headers=headers)


class _Chunks(payload.Payload):
    """A body written chunk by chunk, its length known up front: no joined copy of it.

    A payload rather than a prepared StreamResponse, so the response stays an ordinary
    one until the handler returns (the web config's headers are added after it).
    """

    def __init__(self, chunks: Sequence[bytes | bytearray]) -> None:
        super().__init__(chunks, content_type=None)
        self._chunks = chunks
        self._size = sum(len(chunk) for chunk in chunks)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._chunks).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        left = content_length
        for chunk in self._chunks:
            if left is not None:
                if left <= 0:
                    return
                chunk = chunk[:left]
                left -= len(chunk)
            await writer.write(chunk)


def _bad_request(text: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=text + "\n")


def scrape_timeout(request: web.Request, settings: Settings) -> float:
    """Return the scrape's time budget in seconds: Prometheus' timeout header minus the offset.

    Without the header, ``settings.default_timeout``. When the header is smaller than
    twice the offset, half the header is used instead, so a tiny timeout still leaves
    the nodes some time. An unparsable or non-positive header is a 400.
    """
    raw = request.headers.get(TIMEOUT_HEADER)
    if raw is None:
        return settings.default_timeout
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        shown = raw[:40]
        raise _bad_request(f"invalid {TIMEOUT_HEADER} header {shown!r}: want seconds, e.g. 10")
    return max(value - settings.timeout_offset, value / 2)


async def handle_metrics(request: web.Request) -> web.StreamResponse:
    """Every configured node, plus the exporter's own and the process metrics.

    With ``metrics_nodes`` off, only the exporter's own and the process metrics.
    """
    exporter = request.app[EXPORTER]
    timeout = scrape_timeout(request, exporter.settings)
    config = exporter.config
    nodes = config.nodes if exporter.settings.metrics_nodes else ()
    snapshots = await exporter.scrape(nodes, timeout)
    return await _respond(request, snapshots, config.peers(), list(exporter.registry.collect()))


def _configured(config: Config) -> str:
    names = ", ".join(n.name for n in config.nodes)
    return f"configured: {names}" if names else "no nodes are configured"


async def handle_probe(request: web.Request) -> web.StreamResponse:
    """One configured node (the multi-target pattern): its series, up and duration."""
    exporter = request.app[EXPORTER]
    config = exporter.config
    targets = request.query.getall("target", [])
    if len(targets) != 1 or not targets[0]:
        raise _bad_request(
            f"want exactly one target parameter naming a node, e.g. /probe?target=NAME; "
            f"{_configured(config)}"
        )
    target = targets[0]
    node = config.node(target)
    if node is None:
        shown = target if len(target) <= 80 else target[:80] + "..."
        if "/" in target or ":" in target:  # node names never hold these (config rule)
            raise _bad_request(
                f"target {shown!r} looks like a URL or address: targets are node names from the "
                f"exporter's config, not URLs; {_configured(config)}"
            )
        raise _bad_request(f"unknown target {shown!r}; {_configured(config)}")
    timeout = scrape_timeout(request, exporter.settings)
    if request.query.get("debug", "").lower() in ("true", "1"):
        text = await debug_probe(node, timeout, exporter.self_metrics)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
    snapshots = await exporter.scrape([node], timeout)
    return await _respond(request, snapshots, {node.name: node.peers})


async def handle_sd(request: web.Request) -> web.StreamResponse:
    """Prometheus HTTP service discovery: one ``/probe`` target group per configured node.

    The target is the address the client used (its ``Host``), the scheme the one it used
    (``https`` when the exporter serves TLS), so the answer is right behind any name.
    """
    hosts = request.headers.getall("Host", [])
    try:
        if len(hosts) > 1:
            raise BadHostError("the request has more than one Host header")
        address = target_address(hosts[0] if hosts else None)
    except BadHostError as exc:
        raise _bad_request(f"cannot build /sd targets: {exc}") from None
    scheme = "https" if request.secure else "http"
    groups = target_groups(request.app[EXPORTER].config.nodes, address, scheme)
    return web.json_response(groups)


@web.middleware
async def _web_config_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Basic auth and response headers from the web config in force (``webauth.guard``)."""
    exporter = request.app[EXPORTER]
    return await guard(request, handler, exporter.web_config, exporter.auth)


async def handle_healthy(request: web.Request) -> web.StreamResponse:
    """The process is alive and serving; never touches a node."""
    return web.Response(text="OK\n")


async def handle_ready(request: web.Request) -> web.StreamResponse:
    """Ready once started with a valid config, until shutdown begins."""
    if request.app[EXPORTER].ready:
        return web.Response(text="OK\n")
    return web.Response(status=503, text="not ready\n")


async def handle_reload(request: web.Request) -> web.StreamResponse:
    """Reload the config file, as SIGHUP does; 500 with the error when it is invalid."""
    error = await request.app[EXPORTER].reload()
    if error is None:
        return web.Response(text="configuration reloaded\n")
    return web.Response(status=500, text=f"failed to reload the configuration: {error}\n")


async def handle_landing(request: web.Request) -> web.StreamResponse:
    """The HTML landing page with each node's last state."""
    exporter = request.app[EXPORTER]
    page = render_landing(
        version=exporter.settings.version,
        nodes=exporter.config.nodes,
        last=exporter.scraper.last(),
        now=exporter.settings.clock(),
        problems=exporter.problems.problems(),
        reload=exporter.reload_status(),
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def handle_runbook(request: web.Request) -> web.StreamResponse:
    """The alerts' runbook as HTML; each alert's ``runbook_url`` anchor is a section id."""
    return web.Response(text=runbook_page(), content_type="text/html", charset="utf-8")


def _exporter_context(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        self_metrics = SelfMetrics(version=settings.version)
        scraper = Scraper(observer=self_metrics, clock=settings.clock)
        exporter = Exporter(settings, scraper, self_metrics)
        app[EXPORTER] = exporter
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[str | None]] = set()
        if settings.handle_sighup:

            def on_sighup() -> None:
                task = loop.create_task(exporter.reload())
                reloads.add(task)
                task.add_done_callback(reloads.discard)

            loop.add_signal_handler(signal.SIGHUP, on_sighup)
        exporter.ready = True
        try:
            yield
        finally:
            exporter.ready = False
            if settings.handle_sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in list(reloads):
                task.cancel()
            await asyncio.gather(*reloads, return_exceptions=True)
            await scraper.close()

    return context


async def _not_ready_on_shutdown(app: web.Application) -> None:
    app[EXPORTER].ready = False


def create_app(settings: Settings) -> web.Application:
    """Build the exporter application; the scraper opens on startup and closes on cleanup."""
    app = web.Application(middlewares=[_web_config_guard])
    app.cleanup_ctx.append(_exporter_context(settings))
    app.on_shutdown.append(_not_ready_on_shutdown)
    app.router.add_get("/", handle_landing)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/sd", handle_sd)
    app.router.add_get("/runbook", handle_runbook)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    app.router.add_post("/-/reload", handle_reload)
    return app
