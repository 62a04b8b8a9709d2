"""The exporter serving HTTPS from ``--web.config.file``: real sockets, generated certificates.

Each test starts the exporter on a free port of 127.0.0.1 with the TLS context the CLI
would build (``ServerTLS``), and talks to it with real TLS clients: aiohttp, raw asyncio
streams for handshake details, and a real Prometheus scraping with ``tls_config``,
client certificates and ``basic_auth``, statically and through ``http_sd_configs``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sync_exporter.config import load_config
from sync_exporter.server import EXPORTER, Exporter, Settings, create_app
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.webconfig import ServerTLS, load_web_config
from tests.conftest import ServiceStarter
from tests.prometheus_api import start_prometheus, wait_for
from tests.server.conftest import fleet_config, healthy, write_config
from tests.server.tlsfiles import KeyPair, Pki, make_pki
from tests.server.webusers import (
    ALICE,
    ALICE_HASH,
    ALICE_PASSWORD,
    BOB_HASH,
    BOB_PASSWORD,
    USERS,
    basic,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with server and client certificates, and an unrelated second CA."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class Running:
    """An exporter serving HTTPS on a real port."""

    base: str
    port: int
    exporter: Exporter
    web_file: Path


def tls_block(server: KeyPair, extra: str = "") -> str:
    lines = [f"cert_file: {server.cert}", f"key_file: {server.key}", *extra.splitlines()]
    return "tls_server_config:\n" + "".join(f"  {line}\n" for line in lines)


@pytest.fixture
def serve(
    fleet: Fleet, config_file: Path, tmp_path: Path, free_port: Callable[[], int]
) -> Callable[[str], AbstractAsyncContextManager[Running]]:
    """``serve(web_config_text)``: the exporter on HTTPS, as ``sync-exporter`` starts it."""

    @asynccontextmanager
    async def start(text: str) -> AsyncIterator[Running]:
        web_file = tmp_path / "web.yml"
        web_file.write_text(text, encoding="utf-8")
        web_config = await asyncio.to_thread(load_web_config, web_file)
        assert web_config.tls is not None
        tls = ServerTLS(web_config.tls)
        settings = Settings(
            config=await asyncio.to_thread(load_config, config_file),
            config_file=config_file,
            web_config_file=web_file,
            web_config=web_config,
            tls=tls,
        )
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls.context)
        await site.start()
        try:
            yield Running(f"https://127.0.0.1:{port}", port, app[EXPORTER], web_file)
        finally:
            await runner.cleanup()

    return start


def client_context(
    ca: Path, client: KeyPair | None = None, *, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    if max_version is not None:
        context.maximum_version = max_version
    return context


async def get(
    url: str, context: ssl.SSLContext | bool, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """GET ``url``; ``(status, body)``, or ``(0, exception name)`` when TLS or TCP fails."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, ssl=context, headers=headers or {}) as response,
        ):
            return response.status, await response.text()
    except (aiohttp.ClientError, ssl.SSLError, ConnectionError) as exc:
        return 0, type(exc).__name__


async def test_https_with_basic_auth(serve: Any, pki: Pki) -> None:
    async with serve(tls_block(pki.server) + USERS) as running:
        trusted = client_context(pki.ca)
        assert (await get(f"{running.base}/metrics", trusted, ALICE))[0] == 200
        assert (await get(f"{running.base}/metrics", trusted))[0] == 401
        assert (await get(f"{running.base}/-/healthy", trusted))[0] == 200
        status, body = await get(f"{running.base}/sd", trusted, ALICE)
        assert status == 200
        assert '"__scheme__": "https"' in body
        assert f'"targets": ["127.0.0.1:{running.port}"]' in body
        # A client that does not trust the CA, or speaks plain HTTP, gets nothing.
        assert (await get(f"{running.base}/-/healthy", client_context(pki.other_ca)))[0] == 0
        plain = await get(f"http://127.0.0.1:{running.port}/-/healthy", False)
        assert plain[0] in (0, 400), plain


async def test_required_client_certificates(serve: Any, pki: Pki) -> None:
    extra = f"client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: {pki.ca}"
    async with serve(tls_block(pki.server, extra)) as running:
        url = f"{running.base}/-/healthy"
        assert (await get(url, client_context(pki.ca, pki.client)))[0] == 200
        assert (await get(url, client_context(pki.ca)))[0] == 0, "no client certificate"
        assert (await get(url, client_context(pki.ca, pki.other_client)))[0] == 0, "unknown CA"


async def test_optional_client_certificates_are_verified_when_given(serve: Any, pki: Pki) -> None:
    extra = f"client_auth_type: VerifyClientCertIfGiven\nclient_ca_file: {pki.ca}"
    async with serve(tls_block(pki.server, extra)) as running:
        url = f"{running.base}/-/healthy"
        assert (await get(url, client_context(pki.ca)))[0] == 200
        assert (await get(url, client_context(pki.ca, pki.client)))[0] == 200
        assert (await get(url, client_context(pki.ca, pki.other_client)))[0] == 0


#: What a refused handshake looks like from the client.
REFUSED = "refused"


async def _handshake(port: int, context: ssl.SSLContext) -> tuple[str, str] | str:
    """``(TLS version, cipher)`` of a handshake, or :data:`REFUSED`."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except (ssl.SSLError, ConnectionError):  # an alert, or the server closing at once
        return REFUSED
    name, version, _ = writer.get_extra_info("cipher")
    writer.close()
    await writer.wait_closed()
    return version, name


async def test_min_version_and_cipher_suites(serve: Any, pki: Pki) -> None:
    async with serve(tls_block(pki.server, "min_version: TLS13")) as running:
        assert await _handshake(running.port, client_context(pki.ca)) == (
            "TLSv1.3",
            "TLS_AES_256_GCM_SHA384",
        )
        too_old = client_context(pki.ca, max_version=ssl.TLSVersion.TLSv1_2)
        assert await _handshake(running.port, too_old) == REFUSED

    suites = "max_version: TLS12\ncipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]"
    async with serve(tls_block(pki.server, suites)) as running:
        client = client_context(pki.ca)
        assert await _handshake(running.port, client) == (
            "TLSv1.2",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        )
        client.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        assert await _handshake(running.port, client) == REFUSED


async def test_reload_rotates_the_certificate_and_client_auth(serve: Any, pki: Pki) -> None:
    async with serve(tls_block(pki.server) + USERS) as running:
        url = f"{running.base}/-/healthy"
        assert (await get(url, client_context(pki.ca)))[0] == 200

        # The new certificate comes from another CA, and client certificates are now required.
        extra = f"client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: {pki.other_ca}"
        running.web_file.write_text(tls_block(pki.other_server, extra) + USERS, encoding="utf-8")
        assert await running.exporter.reload() is None
        assert (await get(url, client_context(pki.ca)))[0] == 0, "old CA no longer matches"
        assert (await get(url, client_context(pki.other_ca)))[0] == 0, "no client certificate"
        good = client_context(pki.other_ca, pki.other_client)
        assert (await get(url, good))[0] == 200
        assert (await get(url, client_context(pki.other_ca, pki.client)))[0] == 0

        # A bad web config (a key that does not match its certificate) is refused whole.
        running.web_file.write_text(
            f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: "
            f"{pki.other_server.key}\n" + USERS,
            encoding="utf-8",
        )
        error = await running.exporter.reload()
        assert error == (
            f"{running.web_file}: tls_server_config: cert_file and key_file must be a PEM "
            "certificate and its unencrypted private key"
        )
        assert (await get(url, good))[0] == 200, "the previous TLS settings stay in force"
        status, _ = await get(f"{running.base}/metrics", good, ALICE)
        assert status == 200
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{running.base}/-/reload", ssl=good, headers=ALICE) as response,
        ):
            assert response.status == 500
            assert "cert_file and key_file must be" in await response.text()

        # Going back to plain HTTP needs a restart.
        running.web_file.write_text(USERS, encoding="utf-8")
        error = await running.exporter.reload()
        assert error is not None
        assert "tls_server_config cannot be removed by a reload" in error


async def test_prometheus_scrapes_over_tls_with_client_cert_and_basic_auth(
    serve: Any,
    pki: Pki,
    fleet: Fleet,
    prometheus_bin: Path,
    tmp_path: Path,
    start_service: ServiceStarter,
    free_port: Callable[[], int],
) -> None:
    names = list(fleet.nodes)
    up = healthy(fleet)
    extra = f"client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: {pki.ca}"
    auth = {"basic_auth": {"username": "alice", "password": ALICE_PASSWORD}}
    tls_config = {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client.cert),
        "key_file": str(pki.client.key),
    }
    async with serve(tls_block(pki.server, extra) + USERS) as running:
        address = f"127.0.0.1:{running.port}"
        jobs = [
            {
                "job_name": "btsync",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "scheme": "https",
                "tls_config": tls_config,
                **auth,
                "static_configs": [{"targets": [address]}],
            },
            {
                "job_name": "btsync-sd",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "tls_config": tls_config,
                **auth,
                "http_sd_configs": [
                    {
                        "url": f"https://{address}/sd",
                        "refresh_interval": "1s",
                        "tls_config": tls_config,
                        **auth,
                    }
                ],
            },
        ]
        async with (
            aiohttp.ClientSession() as session,
            start_prometheus(
                start_service, prometheus_bin, tmp_path, free_port(), {"scrape_configs": jobs}
            ) as base,
        ):
            static = await wait_for(session, base, 'btsync_up{job="btsync"}', len(names))
            targets = await wait_for(session, base, 'up{job="btsync-sd"}', len(names))
            probed = await wait_for(session, base, 'btsync_up{job="btsync-sd"}', len(names))
            scrapes = await wait_for(session, base, 'up{job="btsync"}', 1)
        auth_checks = running.exporter.auth.bcrypt_checks

    assert [s["value"][1] for s in scrapes] == ["1"]
    assert {s["metric"]["node"] for s in static} == set(names)
    assert {s["metric"]["instance"]: s["value"][1] for s in targets} == dict.fromkeys(names, "1")
    assert {s["metric"]["node"]: s["value"][1] for s in probed} == {
        n: "1" if n in up else "0" for n in names
    }
    assert auth_checks == 1, "dozens of authenticated scrapes, one bcrypt"


async def test_a_real_process_serves_https_and_reloads_the_web_config_on_sighup(
    fleet: Fleet, pki: Pki, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    config = write_config(tmp_path / "sync-exporter.yml", fleet_config(fleet))
    web_file = tmp_path / "web.yml"
    web_file.write_text(tls_block(pki.server) + USERS, encoding="utf-8")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    trusted = client_context(pki.ca)
    bob = basic("bob", BOB_PASSWORD)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_exporter",
        f"--config.file={config}",
        f"--web.config.file={web_file}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.format=json",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(100):
            if (await get(f"{base}/-/healthy", trusted))[0] == 200:
                break
            await asyncio.sleep(0.05)  # a real process starting
        assert (await get(f"{base}/-/ready", trusted, ALICE))[0] == 200
        assert (await get(f"{base}/-/ready", trusted, bob))[0] == 401

        web_file.write_text(
            tls_block(pki.server) + f"basic_auth_users:\n  bob: {BOB_HASH}\n", encoding="utf-8"
        )
        process.send_signal(signal.SIGHUP)
        for _ in range(100):
            if (await get(f"{base}/-/ready", trusted, bob))[0] == 200:
                break
            await asyncio.sleep(0.05)  # the reload runs in the process, in real time
        assert (await get(f"{base}/-/ready", trusted, bob))[0] == 200
        assert (await get(f"{base}/-/ready", trusted, ALICE))[0] == 401

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert process.stderr is not None
        logs = (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    started = [json.loads(line) for line in logs.splitlines() if '"starting' in line]
    assert started[0]["tls"] is True
    assert started[0]["basic_auth"] is True
    assert BOB_HASH not in logs
    assert ALICE_HASH not in logs
