"""SyncClient over real HTTP against simulator nodes: values, every fault, TLS, secrecy."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from sync_exporter.client import SyncClient
from sync_exporter.config import NodeConfig, TLSConfig
from sync_exporter.credentials import FilePassword, LiteralPassword
from sync_exporter.errors import (
    SyncAPIError,
    SyncAuthError,
    SyncError,
    SyncHTTPError,
    SyncProtocolError,
    SyncTransportError,
)
from sync_exporter.model import Outcome, PeerSnapshot
from sync_exporter.simulator import secrets
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FaultMode
from tests.exporter.conftest import (
    PASSWORD,
    RecordingObserver,
    StartNode,
    TLSFiles,
    TLSFront,
    all_secrets,
    node_config,
    sample_state,
)

ClientFor = Callable[[NodeConfig], SyncClient]


async def test_every_helper_returns_the_node_state(sim: SimNode, client_for: ClientFor) -> None:
    client = client_for(node_config(sim, "alpha"))
    state = sim.state

    speed = await client.get_speed()
    assert (speed.download, speed.upload) == (state.download_speed, state.upload_speed)
    assert await client.get_version() == state.version
    assert await client.get_os() == state.os

    folders = await client.get_folders()
    assert {f.secret for f in folders} == set(state.folders)
    for entry in folders:
        truth = state.folders[entry.secret]
        assert (entry.dir, entry.type, entry.size_bytes, entry.files) == (
            truth.dir,
            truth.type,
            truth.size,
            truth.files,
        )
        assert (entry.error_code, entry.indexing) == (truth.error, truth.indexing)
        peers = await client.get_folder_peers(entry.secret)
        assert sorted(peers, key=lambda p: p.peer_id) == sorted(
            (
                PeerSnapshot(p.id, p.name, p.connection, float(p.synced), p.download, p.upload)
                for p in truth.peers.values()
            ),
            key=lambda p: p.peer_id,
        )


async def test_non_ascii_names_are_decoded_as_utf8(sim: SimNode, client_for: ClientFor) -> None:
    client = client_for(node_config(sim, "alpha"))
    dirs = {f.dir for f in await client.get_folders()}
    assert "/srv/sync/Fotos Ölmühle ☀" in dirs
    fotos = next(s for s, f in sim.state.folders.items() if f.dir.startswith("/srv/sync/Fotos"))
    (kitchen,) = await client.get_folder_peers(fotos)
    assert kitchen.name == "Küche-Tablet"


async def test_get_secrets_answers_what_the_held_secret_can_share(
    sim: SimNode, client_for: ClientFor
) -> None:
    client = client_for(node_config(sim, "alpha"))
    for held in sim.state.folders:
        derived = secrets.derive(held)
        shared = await client.get_secrets(held)
        assert (shared.read_only, shared.encryption) == (derived.read_only, derived.encryption)


async def test_query_values_reach_the_node_as_they_are(sim: SimNode, client_for: ClientFor) -> None:
    # The client encodes each request's query itself: characters that mean something in
    # a query (+ is a space, & and = split it, % escapes, / and ?) must arrive unchanged.
    odd = "A+b/c=d&e?f%g h#i;Ölmühle☀"
    secret, folder = next(iter(sim.state.folders.items()))
    del sim.state.folders[secret]
    folder.secret = odd
    sim.state.folders[odd] = folder
    client = client_for(node_config(sim, "alpha"))
    assert odd in {f.secret for f in await client.get_folders()}
    peers = await client.get_folder_peers(odd)
    assert {p.peer_id for p in peers} == set(folder.peers)
    assert {p.peer_id for p in peers}  # the sample folder has peers: not a vacuous match


async def test_call_returns_raw_json_and_reports_success(
    sim: SimNode, client_for: ClientFor, observer: RecordingObserver
) -> None:
    client = client_for(node_config(sim, "alpha"))
    prefs = await client.call("get_prefs")
    assert prefs["device_name"] == "alpha"
    assert observer.count(node="alpha", method="get_prefs", outcome=Outcome.SUCCESS) == 1
    assert len(observer.calls) == 1


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("get_secrets", {"secret": "not-a-secret"}, 3),
        ("no_such_method", {}, 1),
        ("get_folder_peers", {}, 2),
    ],
)
async def test_api_error_bodies_inside_200_become_sync_api_error(
    sim: SimNode,
    client_for: ClientFor,
    observer: RecordingObserver,
    method: str,
    params: dict[str, str],
    code: int,
) -> None:
    client = client_for(node_config(sim, "alpha"))
    with pytest.raises(SyncAPIError) as caught:
        await client.call(method, **params)
    assert caught.value.code == code
    assert caught.value.outcome is Outcome.API_ERROR
    assert str(caught.value).startswith(f"API error {code}: ")
    assert observer.count(method=method, outcome=Outcome.API_ERROR) == 1


FAULTS = [
    (FaultMode.UNAUTHORIZED, SyncAuthError, Outcome.AUTH_ERROR, "wrong login or password"),
    (FaultMode.SERVER_ERROR, SyncHTTPError, Outcome.HTTP_ERROR, "HTTP status 500"),
    (FaultMode.INVALID_JSON, SyncProtocolError, Outcome.INVALID_RESPONSE, "not JSON"),
    (FaultMode.TRUNCATED, SyncProtocolError, Outcome.INVALID_RESPONSE, "truncated"),
]


@pytest.mark.parametrize(("mode", "error", "outcome", "message"), FAULTS, ids=lambda v: str(v))
async def test_each_fault_maps_to_its_error_and_outcome(
    sim: SimNode,
    client_for: ClientFor,
    observer: RecordingObserver,
    mode: FaultMode,
    error: type[SyncError],
    outcome: Outcome,
    message: str,
) -> None:
    client = client_for(node_config(sim, "alpha"))
    sim.state.faults.mode = mode
    with pytest.raises(error, match=message) as caught:
        await client.get_folders()
    assert caught.value.outcome is outcome
    assert [(c.method, c.outcome) for c in observer.calls] == [("get_folders", outcome)]
    if mode is FaultMode.INVALID_JSON:  # a library's exception, translated and chained
        assert isinstance(caught.value.__cause__, ValueError)


async def test_wrong_password_is_an_auth_error(sim: SimNode, client_for: ClientFor) -> None:
    client = client_for(node_config(sim, "alpha", password=LiteralPassword("wrong")))
    with pytest.raises(SyncAuthError) as caught:
        await client.get_speed()
    assert caught.value.status == 401


async def test_api_not_enabled_is_http_400_api_disabled(
    start_node: StartNode, rng: random.Random, client_for: ClientFor, observer: RecordingObserver
) -> None:
    node = await start_node(sample_state("nokey", rng), api_key=None)
    client = client_for(node_config(node, "nokey"))
    with pytest.raises(SyncHTTPError) as caught:
        await client.get_speed()
    assert (caught.value.status, caught.value.outcome) == (400, Outcome.API_DISABLED)
    assert "webui.api_key" in str(caught.value)
    assert observer.count(outcome=Outcome.API_DISABLED) == 1


async def test_down_node_is_a_connect_error(sim: SimNode, client_for: ClientFor) -> None:
    client = client_for(node_config(sim, "alpha"))
    await sim.set_down(True)
    with pytest.raises(SyncTransportError, match="cannot connect: connection refused") as caught:
        await client.get_speed()
    assert caught.value.outcome is Outcome.CONNECT_ERROR
    await sim.set_down(False)
    assert (await client.get_speed()).download == sim.state.download_speed


async def test_hanging_node_times_out_after_the_node_timeout(
    sim: SimNode, client_for: ClientFor, observer: RecordingObserver
) -> None:
    client = client_for(node_config(sim, "alpha", timeout=1.0))
    sim.state.faults.mode = FaultMode.HANG
    started = time.perf_counter()
    with pytest.raises(SyncTransportError, match="timed out after 1s") as caught:
        await client.get_speed()
    elapsed = time.perf_counter() - started
    assert caught.value.outcome is Outcome.TIMEOUT
    assert 0.9 <= elapsed < 3.0
    assert observer.count(method="get_speed", outcome=Outcome.TIMEOUT) == 1


async def test_fault_restricted_to_one_method_leaves_the_others(
    sim: SimNode, client_for: ClientFor
) -> None:
    client = client_for(node_config(sim, "alpha"))
    sim.state.faults.mode = FaultMode.SERVER_ERROR
    sim.state.faults.methods = frozenset({"get_folder_peers"})
    folders = await client.get_folders()
    with pytest.raises(SyncHTTPError):
        await client.get_folder_peers(folders[0].secret)


async def test_malformed_peer_is_skipped_and_counted(
    sim: SimNode, client_for: ClientFor, observer: RecordingObserver
) -> None:
    client = client_for(node_config(sim, "alpha"))
    documents = next(f for f in sim.state.folders.values() if f.dir == "/srv/sync/Documents")
    broken = next(iter(documents.peers.values()))
    broken.id = ""  # a peer the exporter could not label
    peers = await client.get_folder_peers(documents.secret)
    assert len(peers) == len(documents.peers) - 1
    assert all(p.peer_id for p in peers)
    assert observer.count(method="get_folder_peers", outcome=Outcome.INVALID_RESPONSE) == 1


async def test_password_file_is_read_at_request_time(
    sim: SimNode, client_for: ClientFor, tmp_path: Path
) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("outdated\n")
    client = client_for(node_config(sim, "alpha", password=FilePassword(secret_file)))
    with pytest.raises(SyncAuthError):
        await client.get_speed()
    secret_file.write_text(PASSWORD + "\n")  # rotated: no new client, no reload
    assert (await client.get_speed()).upload == sim.state.upload_speed
    secret_file.unlink()
    with pytest.raises(SyncAuthError, match="cannot read the password"):
        await client.get_speed()


async def test_no_error_message_log_record_or_traceback_carries_a_secret(
    sim: SimNode, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    """Every failure path, rendered as a user or a log would see it, is secret-free."""
    caplog.set_level(logging.DEBUG, logger="sync_exporter")
    forbidden = all_secrets(sim.state) | {PASSWORD}
    client = client_for(node_config(sim, "alpha", timeout=1.0))
    held = next(iter(sim.state.folders))
    rendered: list[str] = []
    modes = [m for m, *_ in FAULTS] + [FaultMode.HANG]
    for mode in modes:
        sim.state.faults.mode = mode
        with pytest.raises(SyncError) as caught:
            await client.get_folder_peers(held)
        rendered += [str(caught.value), repr(caught.value)]
        rendered += traceback.format_exception(caught.value)
    sim.state.faults.mode = FaultMode.NONE
    await sim.set_down(True)
    with pytest.raises(SyncError) as down:
        await client.get_secrets(held)
    rendered += [str(down.value), *traceback.format_exception(down.value)]
    await sim.set_down(False)
    for record in caplog.records:
        rendered += [record.getMessage(), *(str(v) for v in vars(record).values())]
    assert any(getattr(r, "method", None) == "get_folder_peers" for r in caplog.records)
    text = "\n".join(rendered)
    assert text  # the checks below ran over real messages
    leaked = [s for s in forbidden if s in text]
    assert leaked == []


# -- TLS ------------------------------------------------------------------------------


async def test_tls_self_signed_is_refused_by_default(
    sim: SimNode, client_for: ClientFor, tls_front: TLSFront, observer: RecordingObserver
) -> None:
    url = await tls_front(sim)
    client = client_for(node_config(sim, "tls", url=url))
    with pytest.raises(SyncTransportError, match="TLS certificate verification failed"):
        await client.get_speed()
    assert observer.count(outcome=Outcome.CONNECT_ERROR) == 1


async def test_tls_with_the_ca_file_is_trusted(
    sim: SimNode, client_for: ClientFor, tls_front: TLSFront, tls_files: TLSFiles
) -> None:
    url = await tls_front(sim)
    client = client_for(node_config(sim, "tls", url=url, tls=TLSConfig(ca_file=tls_files.cert)))
    assert (await client.get_speed()).download == sim.state.download_speed


async def test_tls_insecure_skip_verify_accepts_any_certificate(
    sim: SimNode, client_for: ClientFor, tls_front: TLSFront
) -> None:
    url = await tls_front(sim)
    config = node_config(sim, "tls", url=url, tls=TLSConfig(insecure_skip_verify=True))
    assert await client_for(config).get_version() == sim.state.version


async def test_tls_client_certificate_is_presented_when_configured(
    sim: SimNode, client_for: ClientFor, tls_front: TLSFront, tls_files: TLSFiles
) -> None:
    url = await tls_front(sim, client_cert=True)
    trusted = TLSConfig(ca_file=tls_files.cert)
    anonymous = client_for(node_config(sim, "mtls", url=url, tls=trusted))
    with pytest.raises(SyncTransportError) as caught:
        await anonymous.get_speed()
    assert caught.value.outcome is Outcome.CONNECT_ERROR
    with_cert = dataclasses.replace(trusted, cert_file=tls_files.cert, key_file=tls_files.key)
    client = client_for(node_config(sim, "mtls", url=url, tls=with_cert))
    assert (await client.get_speed()).download == sim.state.download_speed
