"""The Scraper over real HTTP against simulator nodes: values, faults, deadlines, sharing."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from pathlib import Path

import pytest

from sync_exporter.config import FolderRule, TLSConfig
from sync_exporter.credentials import LiteralPassword
from sync_exporter.folder_id import folder_id
from sync_exporter.model import NodeSnapshot, Outcome, SharedSecrets
from sync_exporter.scrape import Scraper
from sync_exporter.simulator import secrets
from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import FaultMode, NodeState
from tests.exporter.conftest import (
    PASSWORD,
    RecordingObserver,
    StartNode,
    all_secrets,
    folder,
    node_config,
    peer,
    sample_state,
)
from tests.waiting import until

#: Per-folder API methods (the fan-out bounded by max_concurrency).
FAN_OUT = ("get_folder_peers", "get_secrets", "get_folder_prefs")


def expected_folder_id(held: str) -> str:
    derived = secrets.derive(held)
    return folder_id(held, SharedSecrets(derived.read_write, derived.read_only, derived.encryption))


def assert_matches_state(snapshot: NodeSnapshot, state: NodeState) -> None:
    """Every value in the snapshot equals the simulator's truth."""
    assert snapshot.up
    assert (snapshot.outcome, snapshot.error) == (None, None)
    assert (snapshot.version, snapshot.os) == (state.version, state.os)
    assert (snapshot.download_speed, snapshot.upload_speed) == (
        state.download_speed,
        state.upload_speed,
    )
    by_dir = {f.dir: f for f in state.folders.values()}
    assert sorted(f.dir for f in snapshot.folders) == sorted(by_dir)
    for got in snapshot.folders:
        truth = by_dir[got.dir]
        assert got.folder == truth.dir
        assert got.folder_id == expected_folder_id(truth.secret)
        assert (got.type, got.size_bytes, got.files) == (truth.type, truth.size, truth.files)
        assert (got.error_code, got.indexing) == (truth.error, truth.indexing)
        assert got.peers is not None
        gui = snapshot.api == "gui"  # the GUI gives no per-peer byte counters
        assert {
            (p.peer_id, p.name, p.connection, p.synced, p.download_bytes, p.upload_bytes)
            for p in got.peers
        } == {
            (
                p.id,
                p.name,
                p.connection,
                float(p.synced),
                None if gui else p.download,
                None if gui else p.upload,
            )
            for p in truth.peers.values()
        }


async def test_snapshot_equals_the_simulator_state(
    sim: SimNode, scraper: Scraper, clock: ManualClock
) -> None:
    (snapshot,) = await scraper.scrape([node_config(sim, "alpha")], timeout=5.0)
    assert snapshot.node == "alpha"
    assert_matches_state(snapshot, sim.state)
    assert snapshot.timestamp == clock.now()
    assert snapshot.duration_seconds > 0
    assert scraper.last()["alpha"] is snapshot


async def test_a_later_scrape_sees_changes_and_vanished_folders(
    sim: SimNode, scraper: Scraper
) -> None:
    config = node_config(sim, "alpha")
    await scraper.scrape([config], timeout=5.0)
    by_dir = {f.dir: f for f in sim.state.folders.values()}
    del sim.state.folders[by_dir["/srv/sync/incoming"].secret]
    documents = by_dir["/srv/sync/Documents"]
    documents.size += 4096
    first, second = list(documents.peers)
    del documents.peers[first]  # a peer that left
    documents.peers[second].upload += 1
    sim.state.download_speed = 7
    (snapshot,) = await scraper.scrape([config], timeout=5.0)
    assert_matches_state(snapshot, sim.state)


FAULTS = [
    (FaultMode.UNAUTHORIZED, Outcome.AUTH_ERROR),
    (FaultMode.SERVER_ERROR, Outcome.HTTP_ERROR),
    (FaultMode.INVALID_JSON, Outcome.INVALID_RESPONSE),
    (FaultMode.TRUNCATED, Outcome.INVALID_RESPONSE),
]


@pytest.mark.parametrize(("mode", "outcome"), FAULTS, ids=lambda v: str(v))
async def test_a_faulty_node_is_down_with_its_reason_and_the_others_are_not(
    start_node: StartNode,
    rng: random.Random,
    scraper: Scraper,
    mode: FaultMode,
    outcome: Outcome,
) -> None:
    good = await start_node(sample_state("good", rng))
    bad = await start_node(sample_state("bad", rng))
    bad.state.faults.mode = mode
    healthy, broken = await scraper.scrape(
        [node_config(good, "good"), node_config(bad, "bad")], timeout=5.0
    )
    assert_matches_state(healthy, good.state)
    assert (broken.node, broken.up, broken.outcome) == ("bad", False, outcome)
    assert broken.error
    assert broken.folders == ()


async def test_api_disabled_and_down_nodes(
    start_node: StartNode, rng: random.Random, scraper: Scraper
) -> None:
    nokey = await start_node(sample_state("nokey", rng), api_key=None)
    down = await start_node(sample_state("down", rng))
    await down.set_down(True)
    first, second = await scraper.scrape(
        [node_config(nokey, "nokey", api="v1"), node_config(down, "down")], timeout=5.0
    )
    assert (first.up, first.outcome) == (False, Outcome.API_DISABLED)
    assert (second.up, second.outcome) == (False, Outcome.CONNECT_ERROR)
    assert second.error == "cannot connect: connection refused"


async def test_a_hanging_node_times_out_within_the_deadline(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    good = await start_node(sample_state("good", rng))
    stuck = await start_node(sample_state("stuck", rng))
    stuck.state.faults.mode = FaultMode.HANG
    started = time.perf_counter()
    healthy, hung = await scraper.scrape(
        [node_config(good, "good", timeout=8.0), node_config(stuck, "stuck", timeout=8.0)],
        timeout=1.0,
    )
    elapsed = time.perf_counter() - started
    assert 0.9 <= elapsed < 2.5
    assert healthy.up
    assert (hung.up, hung.outcome, hung.error) == (False, Outcome.TIMEOUT, "timed out after 1s")
    # the requests cut off by the deadline are counted as timeouts, each once
    cut = {c.method for c in observer.calls if c.node == "stuck"}
    assert cut == {"get_speed", "get_folders", "get_version", "get_os"}
    assert observer.count(node="stuck", outcome=Outcome.TIMEOUT) == 4


async def test_the_node_timeout_bounds_the_node_when_it_is_shorter(
    sim: SimNode, scraper: Scraper
) -> None:
    sim.state.faults.mode = FaultMode.HANG
    started = time.perf_counter()
    (snapshot,) = await scraper.scrape([node_config(sim, "alpha", timeout=1.0)], timeout=30.0)
    assert time.perf_counter() - started < 2.5
    assert snapshot.outcome is Outcome.TIMEOUT


async def test_failed_folder_peers_keep_the_node_and_its_folders(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    sim.state.faults.mode = FaultMode.SERVER_ERROR
    sim.state.faults.methods = frozenset({"get_folder_peers"})
    (snapshot,) = await scraper.scrape([node_config(sim, "alpha")], timeout=5.0)
    assert snapshot.up
    assert len(snapshot.folders) == len(sim.state.folders)
    assert all(f.peers is None for f in snapshot.folders)
    assert {f.size_bytes for f in snapshot.folders} == {f.size for f in sim.state.folders.values()}
    failed = observer.count(method="get_folder_peers", outcome=Outcome.HTTP_ERROR)
    assert failed == len(sim.state.folders)


async def test_one_folder_with_a_malformed_peer_keeps_the_rest(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    documents = next(f for f in sim.state.folders.values() if f.dir == "/srv/sync/Documents")
    bad = next(iter(documents.peers.values()))
    bad.id = ""
    (snapshot,) = await scraper.scrape([node_config(sim, "alpha")], timeout=5.0)
    got = next(f for f in snapshot.folders if f.dir == documents.dir)
    assert got.peers is not None
    assert len(got.peers) == len(documents.peers) - 1
    assert observer.count(method="get_folder_peers", outcome=Outcome.INVALID_RESPONSE) == 1
    assert observer.count(method="get_folder_peers", outcome=Outcome.SUCCESS) == 2


async def test_folder_id_is_equal_across_rw_ro_and_encrypted_holders(
    start_node: StartNode, rng: random.Random, scraper: Scraper
) -> None:
    plain = secrets.generate(rng)
    capable = secrets.generate(rng, encryption=True)
    assert plain.read_write is not None
    assert plain.read_only is not None
    assert capable.read_write is not None
    assert capable.read_only is not None
    assert capable.encryption is not None
    holdings = {
        "rw": [plain.read_write, capable.read_write],
        "ro": [plain.read_only, capable.read_only],
        "enc": [capable.encryption],
    }
    nodes: list[SimNode] = []
    for name, held in holdings.items():
        state = NodeState(name=name)
        for index, secret in enumerate(held):
            state.folders[secret] = folder(secret, f"/data/{name}/{index}", size=index)
        nodes.append(await start_node(state))
    snapshots = await scraper.scrape(
        [node_config(n, name) for n, name in zip(nodes, holdings, strict=True)], timeout=5.0
    )
    ids = {s.node: {f.type: f.folder_id for f in s.folders} for s in snapshots}
    plain_ids = {ids["rw"]["read_write"], ids["ro"]["read_only"]}
    assert len(plain_ids) == 1
    types = {s.node: sorted(f.type for f in s.folders) for s in snapshots}
    assert types == {
        "rw": ["read_write", "read_write"],
        "ro": ["read_only", "read_only"],
        "enc": ["encrypted"],
    }
    capable_ids = {
        f.folder_id
        for s in snapshots
        for f in s.folders
        if f.folder_id not in plain_ids  # the other folder on rw and ro, the only one on enc
    }
    assert len(capable_ids) == 1
    assert capable_ids.isdisjoint(plain_ids)
    text = repr(snapshots)
    assert [s for s in all_secrets(*(n.state for n in nodes)) if s in text] == []


async def test_selective_sync_comes_from_folder_prefs_and_is_unknown_when_not_said(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    documents = next(f for f in sim.state.folders.values() if f.dir == "/srv/sync/Documents")
    documents.prefs["selective_sync"] = 1
    documents.selective_sync = True
    config = node_config(sim, "alpha")
    (snapshot,) = await scraper.scrape([config], timeout=5.0)
    flags = {f.dir: f.selective for f in snapshot.folders}
    assert flags == {
        "/srv/sync/Documents": True,
        "/srv/sync/Fotos Ölmühle ☀": False,
        "/srv/sync/incoming": False,
    }

    # A node that stops answering get_folder_prefs keeps the last known flags and stays up.
    short = dataclasses.replace(config, name="beta")
    sim.state.faults.mode = FaultMode.SERVER_ERROR
    sim.state.faults.methods = frozenset({"get_folder_prefs"})
    (first,) = await scraper.scrape([short], timeout=5.0)
    assert first.up
    assert {f.selective for f in first.folders} == {None}  # never known for this node
    assert observer.count(node="beta", method="get_folder_prefs", outcome=Outcome.HTTP_ERROR) == 3

    # A node that does not send selective_sync at all (older versions) is "unknown".
    sim.state.faults.mode = FaultMode.NONE
    for f in sim.state.folders.values():
        del f.prefs["selective_sync"]
    gamma = dataclasses.replace(config, name="gamma")
    (old,) = await scraper.scrape([gamma], timeout=5.0)
    assert {f.selective for f in old.folders} == {None}


async def test_folder_id_falls_back_and_is_retried_when_get_secrets_fails(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    config = node_config(sim, "alpha")
    sim.state.faults.mode = FaultMode.SERVER_ERROR
    sim.state.faults.methods = frozenset({"get_secrets"})
    (first,) = await scraper.scrape([config], timeout=5.0)
    by_dir = {f.dir: f.secret for f in sim.state.folders.values()}
    assert {f.folder_id for f in first.folders} == {
        folder_id(by_dir[f.dir], None) for f in first.folders
    }
    assert observer.count(method="get_secrets", outcome=Outcome.HTTP_ERROR) == len(by_dir)
    sim.state.faults.mode = FaultMode.NONE
    (second,) = await scraper.scrape([config], timeout=5.0)
    assert_matches_state(second, sim.state)
    (third,) = await scraper.scrape([config], timeout=5.0)
    assert_matches_state(third, sim.state)
    # asked again once after the failure, then cached
    assert observer.count(method="get_secrets", outcome=Outcome.SUCCESS) == len(by_dir)


async def test_version_and_os_are_cached_for_the_ttl(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver, clock: ManualClock
) -> None:
    config = node_config(sim, "alpha")
    await scraper.scrape([config], timeout=5.0)
    sim.state.version = "2.0.0"
    clock.advance(299)
    (cached,) = await scraper.scrape([config], timeout=5.0)
    assert cached.version == "1.4.111"
    assert observer.count(method="get_version") == 1
    assert observer.count(method="get_os") == 1
    clock.advance(1)
    (fresh,) = await scraper.scrape([config], timeout=5.0)
    assert fresh.version == "2.0.0"
    assert observer.count(method="get_version") == 2
    assert observer.count(method="get_speed") == 3  # speed and folders are never cached


async def test_a_failed_version_keeps_the_node_up_and_is_retried(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    config = node_config(sim, "alpha")
    sim.state.faults.mode = FaultMode.SERVER_ERROR
    sim.state.faults.methods = frozenset({"get_version"})
    (first,) = await scraper.scrape([config], timeout=5.0)
    assert first.up
    assert (first.version, first.os) == (None, sim.state.os)
    sim.state.faults.mode = FaultMode.NONE
    (second,) = await scraper.scrape([config], timeout=5.0)
    assert second.version == sim.state.version
    assert observer.count(method="get_version") == 2


async def test_excluded_folders_are_not_requested_and_aliases_label_folders(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    rules = {
        "/srv/sync/incoming": FolderRule(exclude=True),
        "/srv/sync/Documents": FolderRule(alias="docs"),
    }
    (snapshot,) = await scraper.scrape([node_config(sim, "alpha", folders=rules)], timeout=5.0)
    labels = {f.folder: f.dir for f in snapshot.folders}
    assert labels == {
        "docs": "/srv/sync/Documents",
        "/srv/sync/Fotos Ölmühle ☀": "/srv/sync/Fotos Ölmühle ☀",
    }
    assert observer.count(method="get_folder_peers") == 2
    assert observer.count(method="get_secrets") == 2
    assert observer.count(method="get_folder_prefs") == 2


async def test_concurrent_scrapes_share_one_set_of_api_calls(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    one = await start_node(sample_state("one", rng))
    two = await start_node(sample_state("two", rng))
    for node in (one, two):
        node.state.faults.delay = 0.2  # both scrapes are certainly in flight together
    configs = [node_config(one, "one"), node_config(two, "two")]
    first, second = await asyncio.gather(
        scraper.scrape(configs, timeout=5.0), scraper.scrape(configs, timeout=5.0)
    )
    assert first == second
    assert all(s.up for s in first)
    # speed, folders, version, os; then peers, secrets and prefs for each folder
    per_node = 4 + 3 * len(one.state.folders)
    assert observer.count(node="one") == per_node
    assert observer.count(node="two") == per_node


async def test_a_finished_fetch_is_never_reused(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    config = node_config(sim, "alpha")
    await scraper.scrape([config], timeout=5.0)
    sim.state.upload_speed = 999
    (later,) = await scraper.scrape([config], timeout=5.0)
    assert later.upload_speed == 999
    assert observer.count(method="get_speed") == 2


async def test_a_joiner_with_a_shorter_budget_gives_up_alone(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    config = node_config(sim, "alpha")
    sim.state.faults.delay = 0.6
    owner = asyncio.create_task(scraper.scrape([config], timeout=5.0))
    await until(lambda: sim.requests_in_flight > 0, "the owner's fetch at the node")
    started = time.perf_counter()
    (impatient,) = await scraper.scrape([config], timeout=0.3)
    assert time.perf_counter() - started < 0.6
    assert (impatient.up, impatient.outcome) == (False, Outcome.TIMEOUT)
    (patient,) = await owner
    assert patient.up
    assert scraper.last()["alpha"] is patient
    assert observer.count(method="get_speed") == 1


async def test_a_joiner_with_a_longer_budget_extends_the_shared_fetch(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    # Two Prometheus jobs with different scrape timeouts (say /metrics at 5 s and /probe
    # at 20 s) hit one slow node together: the patient scrape must not inherit the
    # impatient one's timeout just because it joined its fetch.
    config = node_config(sim, "alpha")
    sim.state.faults.delay = 0.4
    impatient = asyncio.create_task(scraper.scrape([config], timeout=0.25))
    await until(lambda: sim.requests_in_flight > 0, "the impatient fetch at the node")
    (patient,) = await scraper.scrape([config], timeout=5.0)
    (short,) = await impatient
    assert (short.up, short.outcome) == (False, Outcome.TIMEOUT)
    assert patient.up, patient.error
    assert scraper.last()["alpha"] is patient
    assert observer.count(method="get_speed") == 1, "one shared set of API calls"


async def test_max_concurrency_bounds_the_folder_fan_out(
    start_node: StartNode, rng: random.Random, scraper: Scraper, observer: RecordingObserver
) -> None:
    state = NodeState(name="wide")
    for index in range(12):
        held = secrets.generate(rng).read_write
        assert held is not None
        state.folders[held] = folder(held, f"/wide/{index}", peers=[peer(rng, f"p{index}")])
    node = await start_node(state)
    node.state.faults.delay = 0.05
    (snapshot,) = await scraper.scrape([node_config(node, "wide", max_concurrency=3)], timeout=10.0)
    assert snapshot.up
    assert len(snapshot.folders) == 12
    assert 2 <= observer.max_overlap(FAN_OUT) <= 3


def _wide_state(rng: random.Random, folders: int, *, peers: bool) -> NodeState:
    """A node named "wide" with ``folders`` folders, each with one peer or none."""
    state = NodeState(name="wide")
    for index in range(folders):
        held = secrets.generate(rng).read_write
        assert held is not None
        found = [peer(rng, f"p{index}")] if peers else []
        state.folders[held] = folder(held, f"/wide/{index}", peers=found)
    return state


async def test_a_node_with_many_folders_is_scraped_by_a_fixed_pool_of_workers(
    start_node: StartNode, rng: random.Random, scraper: Scraper
) -> None:
    """Issue 10: one task per folder request made 5,000 folders freeze the exporter."""
    node = await start_node(_wide_state(rng, 600, peers=True))
    config = node_config(node, "wide", max_concurrency=4)
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, len(asyncio.all_tasks()))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    before = len(asyncio.all_tasks())
    try:
        (cold,) = await scraper.scrape([config], timeout=30.0)
        (warm,) = await scraper.scrape([config], timeout=30.0)
    finally:
        watcher.cancel()
    assert cold.up, cold.error
    assert warm.up, warm.error
    assert len(warm.folders) == 600
    assert all(f.peers is not None for f in warm.folders)
    # The scrape task, its get_speed/get_folders/version/os tasks, 4 workers, and the
    # simulator's handlers: never one per folder (1,800 requests on the cold scrape).
    assert most - before < 40, most - before


async def test_a_deadline_cancels_a_many_folder_fan_out_at_once(
    start_node: StartNode, rng: random.Random, scraper: Scraper
) -> None:
    node = await start_node(_wide_state(rng, 5000, peers=False))
    node.state.faults.delay = 0.02
    started = time.perf_counter()
    (snapshot,) = await scraper.scrape([node_config(node, "wide")], timeout=0.5)
    assert (snapshot.up, snapshot.outcome) == (False, Outcome.TIMEOUT)
    # The old fan-out (three tasks per folder behind one semaphore) took about 1.7 s here,
    # over a second past the deadline, unwinding 15,000 tasks; the pool cancels 8 workers.
    assert time.perf_counter() - started < 1.5


async def test_a_changed_config_gets_a_new_session_and_forget_closes_it(
    sim: SimNode, scraper: Scraper
) -> None:
    config = node_config(sim, "alpha")
    await scraper.scrape([config], timeout=5.0)
    wrong = dataclasses.replace(config, password=LiteralPassword("wrong"))
    (refused,) = await scraper.scrape([wrong], timeout=5.0)
    assert refused.outcome is Outcome.AUTH_ERROR
    fixed = dataclasses.replace(wrong, password=LiteralPassword(PASSWORD))
    (again,) = await scraper.scrape([fixed], timeout=5.0)
    assert again.up
    await scraper.forget(["someone-else"])
    assert "alpha" not in scraper.last()
    (after,) = await scraper.scrape([fixed], timeout=5.0)
    assert after.up


async def test_no_time_left_is_a_timeout_without_requests(
    sim: SimNode, scraper: Scraper, observer: RecordingObserver
) -> None:
    (snapshot,) = await scraper.scrape([node_config(sim, "alpha")], timeout=0.0)
    assert (snapshot.up, snapshot.outcome) == (False, Outcome.TIMEOUT)
    assert observer.calls == []


async def test_close_cancels_a_fetch_in_flight(sim: SimNode, observer: RecordingObserver) -> None:
    scraper = Scraper(observer=observer)
    sim.state.faults.mode = FaultMode.HANG
    pending = asyncio.create_task(scraper.scrape([node_config(sim, "alpha")], timeout=5.0))
    await until(lambda: sim.requests_in_flight > 0, "a request at the hanging node")
    started = time.perf_counter()
    await scraper.close()
    (snapshot,) = await pending
    assert time.perf_counter() - started < 1.0
    assert snapshot.up is False


async def test_a_scenario_fleet_scrapes_to_its_truth_with_one_id_per_shared_folder(
    scraper: Scraper,
) -> None:
    """The bundled healthy fleet: rw, ro and encrypted holders of folders across 5 nodes."""
    async with Fleet.from_scenario("healthy", seed=3) as fleet:
        fleet.advance(120)  # transfers move, a peer joins
        configs = []
        for name, node in fleet.nodes.items():
            login, password = fleet.credentials(name)
            configs.append(
                node_config(node, name, username=login, password=LiteralPassword(password))
            )
        snapshots = await scraper.scrape(configs, timeout=5.0)
        states = {name: node.state for name, node in fleet.nodes.items()}
        for snapshot in snapshots:
            assert_matches_state(snapshot, states[snapshot.node])
        ids_by_folder: dict[str, set[str]] = {}
        for snapshot in snapshots:
            held_by_dir = {f.dir: f.secret for f in states[snapshot.node].folders.values()}
            for got in snapshot.folders:
                derived = secrets.derive(held_by_dir[got.dir])
                weakest = derived.encryption or derived.read_only or held_by_dir[got.dir]
                ids_by_folder.setdefault(weakest, set()).add(got.folder_id)
        assert all(len(ids) == 1 for ids in ids_by_folder.values())
        assert len({next(iter(ids)) for ids in ids_by_folder.values()}) == len(ids_by_folder)
        holders = {f.type for s in snapshots for f in s.folders}
        assert holders == {"read_write", "read_only", "encrypted"}


async def test_forget_never_waits_for_a_slow_node(sim: SimNode, scraper: Scraper) -> None:
    sim.state.faults.mode = FaultMode.HANG
    pending = asyncio.create_task(
        scraper.scrape([node_config(sim, "alpha", timeout=1.0)], timeout=5.0)
    )
    await until(lambda: sim.requests_in_flight > 0, "a request at the hanging node")
    started = time.perf_counter()
    await scraper.forget([])
    assert time.perf_counter() - started < 0.5
    (snapshot,) = await pending  # the removed node's fetch still ends by its deadline
    assert snapshot.outcome is Outcome.TIMEOUT
    assert "alpha" not in scraper.last()  # a removed node's late result is not kept


async def test_unloadable_tls_files_mark_only_that_node_down(
    sim: SimNode, scraper: Scraper, tmp_path: Path
) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    broken = node_config(sim, "tls", url="https://127.0.0.1:1", tls=TLSConfig(ca_file=bogus))
    down, up = await scraper.scrape([broken, node_config(sim, "alpha")], timeout=5.0)
    assert (down.up, down.outcome) == (False, Outcome.CONNECT_ERROR)
    assert down.error == "cannot load the TLS files for this node"
    assert up.up


class ExplodingObserver:
    """A self-metrics bug: observing the first request raises."""

    def observe(self, node: str, method: str, outcome: Outcome, seconds: float) -> None:
        """Fail."""
        raise RuntimeError(f"cannot record {node}/{method}")


async def test_an_exporter_bug_marks_the_node_down_instead_of_failing_the_scrape(
    sim: SimNode, caplog: pytest.LogCaptureFixture
) -> None:
    scraper = Scraper(observer=ExplodingObserver())
    try:
        (snapshot,) = await scraper.scrape([node_config(sim, "alpha")], timeout=5.0)
    finally:
        await scraper.close()
    assert (snapshot.up, snapshot.outcome) == (False, Outcome.INVALID_RESPONSE)
    assert snapshot.error == "internal error (RuntimeError); see the exporter log"
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "unexpected error while scraping a node"
    assert getattr(record, "node", None) == "alpha"
    assert "observe" in getattr(record, "where", "")
