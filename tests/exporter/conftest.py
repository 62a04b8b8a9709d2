"""Fixtures for the exporter's client and scraper: real simulator nodes over loopback HTTP.

Nodes are :class:`SimNode` objects built from hand-made :class:`NodeState`, so each test
knows the exact truth it compares against; faults are switched on ``state.faults``.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from sync_exporter.client import SyncClient
from sync_exporter.config import NodeConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.model import Outcome
from sync_exporter.node_http import NodeHTTP
from sync_exporter.scrape import Scraper
from sync_exporter.simulator import secrets
from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import Connection, FolderState, NodeState, PeerState

LOGIN = "api"
PASSWORD = "pw-Xq7-never-shown"


@dataclass(frozen=True, slots=True)
class Observation:
    """One request as the observer saw it; ``ended`` is perf_counter() at observe time."""

    node: str
    method: str
    outcome: Outcome
    seconds: float
    ended: float


class RecordingObserver:
    """A RequestObserver that remembers every request, for counting and overlap checks."""

    def __init__(self) -> None:
        self.calls: list[Observation] = []

    def observe(self, node: str, method: str, outcome: Outcome, seconds: float) -> None:
        """Record one request."""
        self.calls.append(Observation(node, method, outcome, seconds, time.perf_counter()))

    def count(
        self, *, node: str | None = None, method: str | None = None, outcome: Outcome | None = None
    ) -> int:
        """How many recorded requests match every given field."""
        return sum(
            1
            for c in self.calls
            if (node is None or c.node == node)
            and (method is None or c.method == method)
            and (outcome is None or c.outcome == outcome)
        )

    def max_overlap(self, methods: Iterable[str]) -> int:
        """The most requests of ``methods`` that were in flight at the same instant."""
        wanted = set(methods)
        edges: list[tuple[float, int]] = []
        for c in self.calls:
            if c.method in wanted:
                edges += [(c.ended - c.seconds, 1), (c.ended, -1)]
        level = peak = 0
        for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
            level += step
            peak = max(peak, level)
        return peak


def peer(
    rng: random.Random,
    name: str,
    connection: Connection = "direct",
    *,
    synced: int = 0,
    download: int = 0,
    upload: int = 0,
) -> PeerState:
    """A peer with a real-format id."""
    return PeerState(secrets.peer_id(rng), name, connection, synced, download, upload)


def folder(
    secret: str,
    directory: str,
    *,
    size: int = 0,
    files: int = 0,
    error: int = 0,
    indexing: bool = False,
    peers: Iterable[PeerState] = (),
) -> FolderState:
    """A synthetic folder held under ``secret`` (its type follows from the secret's kind)."""
    return FolderState(
        secret=secret,
        dir=directory,
        type=secrets.folder_type(secret),
        size=size,
        files=files,
        error=error,
        indexing=indexing,
        peers={p.id: p for p in peers},
    )


def sample_state(name: str, rng: random.Random) -> NodeState:
    """A node with a plain rw folder, a non-ASCII ro folder in error and an indexing one."""
    plain = secrets.generate(rng)
    other = secrets.generate(rng)
    third = secrets.generate(rng, encryption=True)
    assert plain.read_write
    assert other.read_only
    assert third.read_write
    state = NodeState(name=name, version="1.4.111", os="linux")
    state.download_speed, state.upload_speed = 61007, 230
    for f in (
        folder(
            plain.read_write,
            "/srv/sync/Documents",
            size=9309894543,
            files=216934,
            peers=[
                peer(rng, "GT-I9500", "direct", synced=1767225000, download=5, upload=22455367417),
                peer(rng, "HomePc", "relay", download=4096),
            ],
        ),
        folder(
            other.read_only,
            "/srv/sync/Fotos Ölmühle ☀",
            size=1024,
            files=7,
            error=101,
            peers=[peer(rng, "Küche-Tablet", "direct", synced=1767225100)],
        ),
        folder(third.read_write, "/srv/sync/incoming", size=10, files=1, indexing=True),
    ):
        state.folders[f.secret] = f
    return state


def all_secrets(*states: NodeState) -> set[str]:
    """Every secret a node holds or could share: none may ever appear in output."""
    found: set[str] = set()
    for state in states:
        for held in state.folders:
            derived = secrets.derive(held)
            found |= {s for s in (held, derived.read_only, derived.encryption) if s}
            found |= {s for s in (derived.read_write,) if s}
    return found


def node_config(node: SimNode, name: str, **changes: Any) -> NodeConfig:
    """Config for ``node`` with the right credentials (override any field)."""
    fields: dict[str, Any] = {
        "name": name,
        "url": node.url,
        "username": LOGIN,
        "password": LiteralPassword(PASSWORD),
        "timeout": 5.0,
        "max_concurrency": 4,
    }
    fields.update(changes)
    return NodeConfig(**fields)


StartNode = Callable[..., Awaitable[SimNode]]


@pytest.fixture
def rng() -> random.Random:
    """A seeded RNG: secrets and peer ids are the same on every run."""
    return random.Random(20261130)


@pytest.fixture
def clock() -> ManualClock:
    """The exporter's clock in scraper tests (moved by hand to age caches)."""
    return ManualClock()


@pytest.fixture
async def start_node(rng: random.Random) -> AsyncIterator[StartNode]:
    """Start SimNodes on loopback port 0; all are stopped at teardown."""
    started: list[SimNode] = []

    async def start(state: NodeState, **kwargs: Any) -> SimNode:
        kwargs.setdefault("login", LOGIN)
        kwargs.setdefault("password", PASSWORD)
        node = SimNode(state, clock=ManualClock(), rng=random.Random(rng.random()), **kwargs)
        await node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.stop()


@pytest.fixture
async def sim(start_node: StartNode, rng: random.Random) -> SimNode:
    """One healthy node with :func:`sample_state`."""
    return await start_node(sample_state("alpha", rng))


@pytest.fixture
def observer() -> RecordingObserver:
    """Records every API request the client makes."""
    return RecordingObserver()


@pytest.fixture
async def client_for(
    observer: RecordingObserver,
) -> AsyncIterator[Callable[[NodeConfig], SyncClient]]:
    """Build a SyncClient (on its own connections) for a node config; closed at teardown."""
    transports: list[NodeHTTP] = []

    def build(node: NodeConfig) -> SyncClient:
        http = NodeHTTP(node)
        transports.append(http)
        return SyncClient(node, http, observer)

    yield build
    for http in transports:
        await http.close()


@pytest.fixture
async def scraper(observer: RecordingObserver, clock: ManualClock) -> AsyncIterator[Scraper]:
    """A Scraper reporting to ``observer``, with the manual clock; closed at teardown."""
    instance = Scraper(observer=observer, clock=clock.now)
    yield instance
    await instance.close()


# -- TLS ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """A self-signed certificate for 127.0.0.1 (it is its own CA) and its key."""

    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """Generate a self-signed certificate with the openssl CLI (skip when it is missing)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found: install Debian's openssl package for the TLS tests")
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=sync-exporter test node",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return TLSFiles(cert, key)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


class TLSFront(Protocol):
    """Start a TLS relay in front of a node and return its https URL."""

    def __call__(self, node: SimNode, *, client_cert: bool = False) -> Awaitable[str]: ...


@pytest.fixture
async def tls_front(tls_files: TLSFiles) -> AsyncIterator[TLSFront]:
    """Put a TLS-terminating TCP relay in front of a node (what an https webui looks like).

    With ``client_cert=True`` the relay demands a client certificate signed by the test
    certificate (which is its own CA), as a reverse proxy doing mutual TLS would.
    """
    servers: list[asyncio.Server] = []
    relays: set[asyncio.Future[tuple[None, None]]] = set()

    async def front(node: SimNode, *, client_cert: bool = False) -> str:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_files.cert, tls_files.key)
        if client_cert:
            context.load_verify_locations(tls_files.cert)
            context.verify_mode = ssl.CERT_REQUIRED

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", node.port)
            except OSError:
                writer.close()
                return
            both = asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            task = asyncio.ensure_future(both)
            relays.add(task)
            task.add_done_callback(relays.discard)
            await task

        server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"https://127.0.0.1:{port}"

    yield front
    for server in servers:
        server.close()
    for task in list(relays):
        task.cancel()
    await asyncio.gather(*relays, return_exceptions=True)
    for server in servers:
        await server.wait_closed()
