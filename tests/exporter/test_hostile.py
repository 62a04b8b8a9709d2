"""Fault matrix: one hostile node beside two healthy ones must not take the exporter down.

Each case is a reproduction from the hardening issue, run against the exporter as a real
process (``python -m sync_exporter``) so that its peak RSS can be read from ``/proc``:
two simulator nodes (``alpha``, ``beta``) and one :class:`HostileNode` written for these
tests (raw asyncio sockets). The hostile node first answers politely, so the test reads
the exporter's peak RSS after a clean scrape as the baseline; then it switches to the
case's answers and Prometheus scrapes with a 10 s timeout, while ``/-/healthy`` is asked
every 50 ms. Every case asserts:

* ``/metrics`` answers 200 within the scrape timeout;
* ``alpha`` and ``beta`` are up with their exact folder data;
* the hostile node is down with the case's reason (or, for one bad entry, up without it);
* ``/-/healthy`` answered each time within a second;
* the peak RSS grew by less than the case's allowance;
* no log line is longer than :data:`MAX_LOG_LINE` (node text is truncated).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.conftest import Exposition

from .conftest import LOGIN, PASSWORD, StartNode, sample_state
from .exporter_process import MIB, ExporterProcess, exporter_process
from .hostile import (
    SECRET,
    HostileNode,
    Reply,
    Request,
    as_json,
    chunked,
    fixed,
    gzip_bomb,
    huge_int,
    raw_json,
)

SCRAPE_TIMEOUT = 10.0
#: Longest log line allowed: a node's text must be truncated before it is logged.
MAX_LOG_LINE = 2000
#: Peak RSS growth allowed by default over the clean scrape (the per-node response budget
#: is 32 MiB; the rest is decoding and the interpreter's own slack).
DEFAULT_ALLOWANCE = 96 * MIB

HUGE = huge_int(400)


def _folder(directory: str, secret: str, **fields: str) -> str:
    """A get_folders entry as JSON text, with ``fields`` spliced in verbatim."""
    base = {
        "dir": json.dumps(directory),
        "secret": json.dumps(secret),
        "type": '"read_write"',
        "size": "100",
        "files": "2",
        "error": "0",
        "indexing": "0",
    }
    base.update(fields)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}"


def _peer(peer_id: str, **fields: str) -> str:
    base = {
        "id": json.dumps(peer_id),
        "name": '"p"',
        "connection": '"direct"',
        "synced": "1767225000",
        "download": "1",
        "upload": "2",
    }
    base.update(fields)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}"


OK_SECRET = "AOKFOLDEROKFOLDEROKFOLDEROKFOLD23"


def _two_folders(**bad: str) -> dict[str, Reply]:
    """get_folders with one good folder and one whose ``bad`` fields are out of range."""
    body = f"[{_folder('/data/ok', OK_SECRET)}, {_folder('/data/bad', SECRET, **bad)}]"
    return {"get_folders": raw_json(body)}


def _two_peers(**bad: str) -> dict[str, Reply]:
    return {"get_folder_peers": raw_json(f"[{_peer('PEEROK')}, {_peer('PEERBAD', **bad)}]")}


def _spaces_bomb(*, with_length: bool) -> dict[str, Reply]:
    """800 MiB of JSON whitespace in about 800 KB of gzip (an empty list once inflated)."""
    bomb = _bomb()
    headers = [("Content-Encoding", "gzip"), ("Content-Type", "text/javascript")]
    if with_length:
        return {"get_folders": fixed(bomb, headers=headers)}

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(bomb), 64 * 1024):
            yield bomb[start : start + 64 * 1024]

    return {"get_folders": chunked(pieces, headers=headers)}


_BOMBS: dict[int, bytes] = {}


def _bomb() -> bytes:
    if not _BOMBS:
        _BOMBS[0] = gzip_bomb(800 * MIB)
    return _BOMBS[0]


def _empty_objects() -> dict[str, Reply]:
    """30 MB of ``[{},{},...]``: under the body cap, 10 million dicts once decoded."""
    count = 10_000_000
    return {"get_folders": fixed(b"[" + b"{}," * (count - 1) + b"{}]")}


def _ten_million_entries() -> dict[str, Reply]:
    count = 10_000_000
    return {"get_folder_peers": fixed(b"[" + b"0," * (count - 1) + b"0]")}


def _many_folders_streaming_peers(folders: int) -> dict[str, Reply]:
    """``folders`` folders whose get_folder_peers each stream a 200 MB list of peers."""
    rng = random.Random(folders)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    entries = [
        _folder(f"/data/f{i}", "A" + "".join(rng.choice(letters) for _ in range(32)))
        for i in range(folders)
    ]
    peer = _peer("PEERSTREAM").encode() + b","

    def pieces() -> Iterator[bytes]:
        block = peer * (64 * 1024 // len(peer))
        yield b"["
        for _ in range(200 * MIB // len(block)):
            yield block

    return {
        "get_folders": raw_json("[" + ", ".join(entries) + "]"),
        "get_folder_peers": chunked(pieces),
    }


def _echo_credentials() -> dict[str, Reply]:
    """An API error whose message echoes the request's Authorization header and password."""

    async def reply(request: Request, writer: asyncio.StreamWriter) -> None:
        header = request.headers.get("authorization", "")
        decoded = base64.b64decode(header.split()[-1]).decode() if header else ""
        message = f"denied: Authorization: {header}; login:password was {decoded}"
        await as_json({"error": 5, "message": message})(request, writer)

    return {"get_speed": reply}


def _long_error() -> dict[str, Reply]:
    """A 4,000-digit error code with a 10,000-character message."""
    return {"get_speed": raw_json(f'{{"error": {huge_int(4000)}, "message": "{"m" * 10_000}"}}')}


def _long_api_message() -> dict[str, Reply]:
    return {"get_speed": raw_json(f'{{"error": 7, "message": "{"m" * 10_000}"}}')}


@dataclass(frozen=True)
class Case:
    """One reproduction: what the hostile node does and what the exporter must make of it."""

    id: str
    replies: Callable[[], dict[str, Reply]] = dict
    #: The hostile node's down reason, or None when it stays up (a bad entry is dropped).
    down: str | None = "invalid_response"
    #: ``(method, outcome)`` API requests to the hostile node that must have been counted.
    counted: tuple[str, str] | None = None
    #: Extra checks on the exposition and the running exporter.
    check: Callable[[Exposition, ExporterProcess], None] | None = None
    node_options: dict[str, Any] = field(default_factory=dict)
    #: Done to the hostile node's password file right before the hostile scrape.
    swap_password_file: Callable[[Path], None] | None = None
    allowance: int = DEFAULT_ALLOWANCE


def _folder_dropped(exposition: Exposition, _: ExporterProcess) -> None:
    folders = exposition.label_values("btsync_folder_size_bytes", "folder", node="hostile")
    assert folders == {"/data/ok"}


def _peer_dropped(exposition: Exposition, _: ExporterProcess) -> None:
    peers = exposition.label_values("btsync_peer_info", "peer_id", node="hostile")
    assert peers == {"PEEROK"}
    timeouts = exposition.find(
        "btsync_exporter_api_requests_total", node="hostile", outcome="timeout"
    )
    assert sum(s.value for s in timeouts) == 0, "a bad value is not a timeout"


def _peers_unknown(exposition: Exposition, _: ExporterProcess) -> None:
    assert exposition.find("btsync_folder_info", node="hostile"), "folders still exported"
    assert not exposition.find("btsync_folder_peers", node="hostile"), "peers unknown, not 0"


def _no_credentials(exposition: Exposition, exporter: ExporterProcess) -> None:
    token = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    landing = _get_sync(exporter.base + "/")
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync_exporter",
            "check",
            "--config.file",
            str(exporter.config_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    checked = check.stdout + check.stderr
    assert "api_error" in checked or "API error" in checked, checked
    for where, text in (("log", exporter.log()), ("landing page", landing), ("check", checked)):
        assert token not in text, where
        assert PASSWORD not in text, where
        assert "<secret>" in html.unescape(text), where


def _bounded_text(exposition: Exposition, exporter: ExporterProcess) -> None:
    landing = _get_sync(exporter.base + "/")
    assert "m" * 300 not in landing
    assert "9" * 100 not in landing
    assert "9" * 100 not in exporter.log()


def _get_sync(url: str) -> str:
    async def get() -> str:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.text()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(get())
    finally:
        loop.close()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


CASES: tuple[Case, ...] = (
    # 1. One huge integer blanks the fleet.
    Case("speed-400-digits", lambda: {"get_speed": raw_json(f'{{"download": {HUGE}}}')}),
    Case(
        "folder-size-400-digits",
        lambda: _two_folders(size=str(HUGE)),
        down=None,
        counted=("get_folders", "invalid_response"),
        check=_folder_dropped,
    ),
    Case(
        "folder-error-code-400-digits",
        lambda: _two_folders(error=str(-HUGE)),
        down=None,
        counted=("get_folders", "invalid_response"),
        check=_folder_dropped,
    ),
    Case(
        "peer-counter-400-digits",
        lambda: _two_peers(upload=str(HUGE)),
        down=None,
        counted=("get_folder_peers", "invalid_response"),
        check=_peer_dropped,
    ),
    Case(
        "peer-synced-400-digits",
        lambda: _two_peers(synced=str(HUGE)),
        down=None,
        counted=("get_folder_peers", "invalid_response"),
        check=_peer_dropped,
    ),
    Case("float-1e308-squared", lambda: {"get_speed": raw_json('{"upload": 1e400}')}),
    # 2. A compression bomb passes the body cap.
    Case("gzip-bomb-content-length", lambda: _spaces_bomb(with_length=True)),
    Case("gzip-bomb-chunked", lambda: _spaces_bomb(with_length=False)),
    # 3. A body under the cap that explodes when decoded.
    Case("30MB-of-empty-objects", _empty_objects),
    Case(
        "10-million-entries",
        _ten_million_entries,
        down=None,
        counted=("get_folder_peers", "invalid_response"),
        check=_peers_unknown,
    ),
    # 4. The per-request cap multiplied by concurrency.
    *(
        Case(
            f"200MB-per-folder-concurrency-{n}",
            lambda n=n: _many_folders_streaming_peers(n),  # type: ignore[misc]
            down=None,
            counted=("get_folder_peers", "invalid_response"),
            check=_peers_unknown,
            node_options={"max_concurrency": n},
        )
        for n in (8, 32)
    ),
    # 5. Secrets echoed by a node.
    Case("echoes-authorization", _echo_credentials, down="api_error", check=_no_credentials),
    # 6. A password file swapped for a FIFO or a device.
    Case("password-file-fifo", down="auth_error", swap_password_file=_fifo),
    Case("password-file-dev-zero", down="auth_error", swap_password_file=_dev_zero),
    # 8. Node-controlled text is truncated; a parse problem is never a timeout.
    Case("error-code-4000-digits", _long_error, check=_bounded_text),
    Case("api-message-10000-chars", _long_api_message, down="api_error", check=_bounded_text),
)


def _node(name: str, url: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "username": LOGIN, "password": PASSWORD, **options}


@dataclass
class Scrape:
    """One /metrics answer and what was seen while it was being made."""

    status: int
    seconds: float
    text: str
    slowest_health: float
    health_checks: int


async def _scrape_watching_health(session: aiohttp.ClientSession, base: str) -> Scrape:
    """Scrape /metrics as Prometheus does while asking /-/healthy every 50 ms."""
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(SCRAPE_TIMEOUT)}
    started = time.perf_counter()

    async def scrape() -> tuple[int, str]:
        timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT + 5)
        async with session.get(base + "/metrics", headers=headers, timeout=timeout) as response:
            return response.status, await response.text()

    task = asyncio.create_task(scrape())
    slowest, checks = 0.0, 0
    while not task.done():
        asked = time.perf_counter()
        try:
            async with session.get(
                base + "/-/healthy", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                assert response.status == 200
        except TimeoutError:
            pass  # counted as 5 s below: far past the bound
        slowest = max(slowest, time.perf_counter() - asked)
        checks += 1
        await asyncio.sleep(0.05)  # a liveness probe's pace, in real time
    try:
        status, text = await task
    except (TimeoutError, aiohttp.ClientError) as exc:
        status, text = 0, f"no answer: {type(exc).__name__}"
    return Scrape(status, time.perf_counter() - started, text, slowest, checks)


def _assert_healthy_nodes_intact(exposition: Exposition) -> None:
    for name in ("alpha", "beta"):
        assert exposition.value("btsync_up", node=name) == 1, name
        sizes = {
            s.labels["folder"]: s.value
            for s in exposition.find("btsync_folder_size_bytes", node=name)
        }
        assert sizes == {
            "/srv/sync/Documents": 9309894543,
            "/srv/sync/Fotos Ölmühle ☀": 1024,
            "/srv/sync/incoming": 10,
        }, name
        assert (
            exposition.value(
                "btsync_folder_peers", node=name, folder="/srv/sync/Documents", connection="relay"
            )
            == 1
        )


def _long_lines(text: str) -> Iterable[int]:
    return [len(line) for line in text.splitlines() if len(line) > MAX_LOG_LINE]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_hostile_node_cannot_take_the_exporter_down(
    case: Case,
    start_node: StartNode,
    rng: random.Random,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    alpha = await start_node(sample_state("alpha", rng))
    beta = await start_node(sample_state("beta", rng))
    hostile = HostileNode(case.replies())
    await hostile.start()
    hostile_node = _node("hostile", hostile.url, **case.node_options)
    password_file = tmp_path / "hostile-password"
    if case.swap_password_file is not None:
        password_file.write_text(PASSWORD + "\n")
        del hostile_node["password"]
        hostile_node["password_file"] = str(password_file)
    config = {"nodes": [_node("alpha", alpha.url), _node("beta", beta.url), hostile_node]}
    try:
        async with (
            exporter_process(config, tmp_path, free_port()) as exporter,
            aiohttp.ClientSession() as session,
        ):
            clean = await _scrape_watching_health(session, exporter.base)
            assert clean.status == 200, clean.text
            assert Exposition(clean.text).value("btsync_up", node="hostile") == 1
            baseline = exporter.peak_rss()

            hostile.hostile = True
            if case.swap_password_file is not None:
                case.swap_password_file(password_file)
            scrape = await _scrape_watching_health(session, exporter.base)
            peak = exporter.peak_rss()
            print(
                f"{case.id}: status {scrape.status} in {scrape.seconds:.2f}s, "
                f"slowest /-/healthy {scrape.slowest_health * 1000:.0f} ms "
                f"({scrape.health_checks} checks), peak RSS {baseline / MIB:.0f} -> "
                f"{peak / MIB:.0f} MiB"
            )

            assert scrape.status == 200, scrape.text[-2000:]
            assert scrape.seconds < SCRAPE_TIMEOUT
            assert scrape.slowest_health < 1.0
            assert peak - baseline < case.allowance, f"peak RSS {peak / MIB:.0f} MiB"
            exposition = Exposition(scrape.text)
            _assert_healthy_nodes_intact(exposition)
            if case.down is None:
                assert exposition.value("btsync_up", node="hostile") == 1
            else:
                assert exposition.value("btsync_up", node="hostile") == 0
                assert (
                    exposition.value(
                        "btsync_exporter_node_scrape_failures_total",
                        node="hostile",
                        reason=case.down,
                    )
                    == 1
                ), exporter.log()[-3000:]
            if case.counted is not None:
                method, outcome = case.counted
                assert exposition.value(
                    "btsync_exporter_api_requests_total",
                    node="hostile",
                    method=method,
                    outcome=outcome,
                ), f"no {method} {outcome} counted"
            if case.check is not None:
                await asyncio.to_thread(case.check, exposition, exporter)
            assert not list(_long_lines(exporter.log())), "a log line quotes a node at length"
    finally:
        await hostile.stop()
