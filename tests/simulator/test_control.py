"""The ``/_sim`` control API over real HTTP: state, time, faults, folders, and bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from sync_exporter.simulator import secrets
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.scenario import parse_scenario_text
from sync_exporter.simulator.state import FaultMode
from tests.simulator.conftest import GuiClient

FleetFactory = Callable[..., Awaitable[Fleet]]
Client = Callable[[Fleet, str], Any]


class Control:
    """Plain JSON calls to one base URL's control API."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path) as response:
            return response.status, await response.json()

    async def post(
        self, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        async with self.session.post(self.base + path, data=data) as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()


@pytest.fixture
async def demo(make_fleet: FleetFactory) -> Fleet:
    return await make_fleet("demo")


@pytest.fixture
def control(demo: Fleet, http_session: aiohttp.ClientSession) -> Control:
    return Control(http_session, demo.nodes["nas"].url)


async def test_state_is_fleet_wide_and_secret_free(demo: Fleet, control: Control) -> None:
    status, state = await control.get("/_sim/state")
    assert status == 200
    assert (state["scenario"], state["seed"], state["realtime"]) == ("demo", 0, False)
    assert [n["name"] for n in state["nodes"]] == [
        "nas",
        "laptop",
        "office",
        "vault",
        "pi",
        "studio",
        "cabin",
    ]
    assert [n["api_key"] for n in state["nodes"]] == [True] * 5 + [False] * 2
    assert [n["url"] for n in state["nodes"]] == [n.url for n in demo.nodes.values()]
    pi = state["nodes"][4]
    assert pi["fault"] == {"mode": "down", "delay": 0.0, "methods": []}
    text = repr(state)
    for node in demo.nodes.values():
        for secret in node.state.folders:
            for kin in secrets.derive(secret).as_api().values():
                assert kin not in text
    # Any node's port controls the whole fleet.
    other = Control(control.session, demo.nodes["vault"].url)
    assert (await other.get("/_sim/state"))[1]["nodes"][0]["name"] == "nas"


async def test_advance_moves_time_and_fires_events(demo: Fleet, control: Control) -> None:
    start = demo.clock.now()
    status, body = await control.post("/_sim/advance?seconds=90")
    assert status == 200
    assert body == {"time": start + 90, "elapsed": 90.0}
    assert demo.world.elapsed == 90


async def test_a_long_advance_lets_the_nodes_answer_meanwhile(
    demo: Fleet, control: Control, fleet_client: Client
) -> None:
    # A week of a large fleet is minutes of CPU: the loop must get control between slices.
    seen: set[float] = set()
    advancing = asyncio.create_task(control.post("/_sim/advance?seconds=7200"))
    while not advancing.done():
        seen.add(demo.world.elapsed)
        await asyncio.sleep(0)
    assert (await advancing)[1]["elapsed"] == 7200.0
    assert any(0 < elapsed < 7200 for elapsed in seen)
    # ...and the outcome is that of every tick, as if stepped through directly.
    reference = Fleet.from_scenario("demo")
    reference.advance(7200)
    nas = fleet_client(demo, "nas")
    expected = [f.as_api() for f in reference.world.nodes["nas"].folders.values()]
    assert await nas.ok("get_folders") == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "seconds: required"),
        ("?seconds=abc", "seconds: expected a number >= 0, got 'abc'"),
        ("?seconds=-1", "seconds: expected a number >= 0, got '-1'"),
        ("?seconds=nan", "seconds: expected a number >= 0, got 'nan'"),
        ("?seconds=1e9", "seconds: at most 604800 per request, got 1e+09"),
    ],
)
async def test_advance_bad_input(control: Control, query: str, message: str) -> None:
    assert await control.post("/_sim/advance" + query) == (400, {"error": message})


async def test_advance_is_refused_in_realtime(
    make_fleet: FleetFactory, http_session: aiohttp.ClientSession
) -> None:
    fleet = await make_fleet("healthy", realtime=True)
    control = Control(http_session, fleet.nodes["nas"].url)
    assert await control.post("/_sim/advance?seconds=1") == (
        409,
        {"error": "the fleet runs in realtime; start it with --manual-clock"},
    )


async def test_fault_endpoint_sets_and_clears(
    demo: Fleet, control: Control, fleet_client: Client
) -> None:
    status, body = await control.post(
        "/_sim/nodes/laptop/fault", {"mode": "server_error", "methods": ["get_os"]}
    )
    assert (status, body) == (
        200,
        {"node": "laptop", "fault": {"mode": "server_error", "delay": 0.0, "methods": ["get_os"]}},
    )
    laptop = fleet_client(demo, "laptop")
    assert (await laptop.call("get_os")).status == 500
    assert (await laptop.call("get_version")).status == 200
    assert (await control.post("/_sim/nodes/laptop/fault", {"mode": "down"}))[0] == 200
    with pytest.raises(aiohttp.ClientConnectorError):
        await laptop.call("get_os")
    assert (await control.post("/_sim/nodes/laptop/fault", {}))[1]["fault"]["mode"] == "none"
    assert await laptop.ok("get_os") == {"os": "win32"}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/_sim/nodes/zz/fault", {"mode": "down"}, 404, "no node named 'zz'"),
        (
            "/_sim/nodes/nas/fault",
            {"mode": "boom"},
            400,
            "mode: one of none, down, hang, unauthorized, server_error, invalid_json, "
            "truncated, got 'boom'",
        ),
        (
            "/_sim/nodes/nas/fault",
            {"mode": "none", "delay": -2},
            400,
            "delay: expected a number >= 0, got -2",
        ),
        (
            "/_sim/nodes/nas/fault",
            {"mode": "none", "methods": "get_os"},
            400,
            "methods: expected a list of API method names",
        ),
        (
            "/_sim/nodes/nas/fault",
            {"mode": "none", "colour": 1},
            400,
            "unknown key 'colour' (expected: delay, methods, mode)",
        ),
        ("/_sim/nodes/nas/fault", [1], 400, "body: expected a JSON object"),
    ],
)
async def test_fault_bad_input(
    control: Control, path: str, body: Any, status: int, message: str
) -> None:
    assert await control.post(path, body) == (status, {"error": message})


async def test_body_that_is_not_json(control: Control) -> None:
    status, body = await control.post("/_sim/nodes/nas/fault", raw=b"{mode: down")
    assert status == 400
    assert body["error"].startswith("body is not JSON: ")


async def test_folder_error_by_index_name_and_dir(
    demo: Fleet, control: Control, fleet_client: Client
) -> None:
    office = fleet_client(demo, "office")
    status, body = await control.post("/_sim/nodes/office/folders/0/error?code=100")
    assert (status, body["dir"], body["error"]) == (200, "/Users/office/Documents", 100)
    await control.post("/_sim/nodes/office/folders/projects/error?code=7")
    await control.post("/_sim/nodes/office/folders/%2FVolumes%2FBackup/error?code=0")
    errors = {f["dir"]: f["error"] for f in await office.ok("get_folders")}
    assert errors == {
        "/Users/office/Documents": 100,
        "/Volumes/Backup": 0,
        "/Users/office/Projekte": 7,
    }


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (
            "/_sim/nodes/office/folders/9/error?code=1",
            404,
            "node 'office' has 3 folders; no index 9",
        ),
        (
            "/_sim/nodes/office/folders/nope/error?code=1",
            404,
            "node 'office' has no folder 'nope' (index, scenario name or dir)",
        ),
        ("/_sim/nodes/office/folders/0/error", 400, "code: required"),
        (
            "/_sim/nodes/office/folders/0/error?code=1.5",
            400,
            "code: expected an integer >= 0, got '1.5'",
        ),
        (
            "/_sim/nodes/office/folders/0/indexing?state=soon",
            400,
            "state: one of stuck, running, done, got 'soon'",
        ),
        (
            "/_sim/nodes/office/folders/0/stall?stalled=maybe",
            400,
            "stalled: expected 1 or 0, got 'maybe'",
        ),
    ],
)
async def test_folder_bad_input(control: Control, path: str, status: int, message: str) -> None:
    assert await control.post(path) == (status, {"error": message})


async def test_indexing_stall_and_remove(
    demo: Fleet, control: Control, fleet_client: Client
) -> None:
    nas = fleet_client(demo, "nas")
    status, body = await control.post("/_sim/nodes/nas/folders/documents/indexing")
    assert (status, body["indexing"]) == (200, 1)
    frozen = body["size"], body["files"]
    await control.post("/_sim/advance?seconds=60")
    documents = [f for f in await nas.ok("get_folders") if f["dir"] == "/srv/sync/Documents"]
    assert [(f["size"], f["files"], f["indexing"]) for f in documents] == [(*frozen, 1)]
    status, body = await control.post("/_sim/nodes/nas/folders/documents/indexing?state=done")
    assert body["indexing"] == 0

    status, body = await control.post("/_sim/nodes/laptop/folders/photos/stall")
    assert (status, body["stalled"]) == (200, True)
    assert demo.world.is_stalled("photos")
    status, body = await control.post("/_sim/nodes/laptop/folders/photos/stall?stalled=0")
    assert body["stalled"] is False

    status, body = await control.post("/_sim/nodes/nas/folders/music/remove")
    assert (status, body["removed"]["dir"]) == (200, "/srv/sync/Musik")
    assert "/srv/sync/Musik" not in [f["dir"] for f in await nas.ok("get_folders")]


async def test_events_endpoint_applies_any_scenario_event(
    demo: Fleet, control: Control, fleet_client: Client
) -> None:
    status, body = await control.post("/_sim/events", {"event": "node_up", "node": "pi"})
    assert status == 200
    assert await fleet_client(demo, "pi").ok("get_os") == {"os": "linux"}
    status, body = await control.post(
        "/_sim/events", {"event": "unauthorized", "node": "pi", "methods": ["get_os"]}
    )
    assert (status, body) == (
        200,
        {"applied": {"event": "unauthorized", "node": "pi", "methods": ["get_os"]}},
    )
    assert (await fleet_client(demo, "pi").call("get_os")).status == 401
    assert await control.post("/_sim/events", {"event": "stall", "folder": "nowhere"}) == (
        400,
        {"error": "folder: no folder named 'nowhere' in folders"},
    )
    assert await control.post("/_sim/events", {"node": "pi"}) == (
        400,
        {
            "error": "event: required (one of: node_down, node_up, slow, hang, unauthorized, "
            "server_error, invalid_json, truncated, clear, folder_error, indexing_stuck, "
            "indexing_done, stall, resume, peer_join, peer_leave, remove_folder, pause, "
            "unpause, expire_sessions)"
        },
    )


async def test_control_port_stays_reachable_with_every_node_down(
    make_fleet: FleetFactory, http_session: aiohttp.ClientSession
) -> None:
    fleet = await make_fleet("healthy", control_port=0)
    assert fleet.control_url is not None
    control = Control(http_session, fleet.control_url)
    for name in fleet.nodes:
        status, _ = await control.post(f"/_sim/nodes/{name}/fault", {"mode": "down"})
        assert status == 200
    assert all(n.state.faults.mode is FaultMode.DOWN for n in fleet.nodes.values())
    status, state = await control.get("/_sim/state")
    assert {n["fault"]["mode"] for n in state["nodes"]} == {"down"}
    assert (await control.post("/_sim/nodes/nas/fault", {"mode": "none"}))[0] == 200
    status, listing = await control.get("/_sim")
    assert "POST /_sim/advance" in listing["endpoints"]
    # The control port serves nothing but /_sim.
    async with http_session.get(fleet.control_url + "/api?method=get_os") as response:
        assert response.status == 404


async def test_unknown_control_paths_and_methods_get_json_404(control: Control) -> None:
    assert await control.get("/_sim/nope") == (
        404,
        {"error": "GET /_sim/nope: no such control endpoint (see GET /_sim)"},
    )
    assert await control.get("/_sim/advance") == (
        404,
        {"error": "GET /_sim/advance: no such control endpoint (see GET /_sim)"},
    )


async def test_a_node_taking_itself_down_still_answers(
    demo: Fleet, http_session: aiohttp.ClientSession, fleet_client: Client
) -> None:
    own = Control(http_session, demo.nodes["office"].url)
    assert await own.post("/_sim/nodes/office/fault", {"mode": "down"}) == (
        200,
        {"node": "office", "fault": {"mode": "down", "delay": 0.0, "methods": []}},
    )
    await demo.settle()
    with pytest.raises(aiohttp.ClientConnectorError):
        await fleet_client(demo, "office").call("get_os")
    vault = Control(http_session, demo.nodes["vault"].url)
    assert await vault.post("/_sim/events", {"event": "node_down", "node": "vault"}) == (
        200,
        {"applied": {"event": "node_down", "node": "vault"}},
    )
    await demo.settle()
    with pytest.raises(aiohttp.ClientConnectorError):
        await fleet_client(demo, "vault").call("get_os")


async def test_advance_through_a_node_that_an_event_takes_down_still_answers(
    make_fleet: FleetFactory, http_session: aiohttp.ClientSession, fleet_client: Client
) -> None:
    fleet = await make_fleet("timeline")
    beta = Control(http_session, fleet.nodes["beta"].url)
    assert await beta.post("/_sim/advance?seconds=420") == (  # node_down beta at 7m
        200,
        {"time": fleet.world.started_at + 420, "elapsed": 420.0},
    )
    await fleet.settle()
    with pytest.raises(aiohttp.ClientConnectorError):
        await fleet_client(fleet, "beta").call("get_os")


async def test_a_long_advance_through_a_node_it_takes_down_still_answers_in_full(
    make_fleet: FleetFactory, http_session: aiohttp.ClientSession, fleet_client: Client
) -> None:
    # The event fires in the first slice; the later slices must not hand the listener
    # change a chance to cut this very request off.
    scenario = parse_scenario_text(
        "nodes: [{name: a}, {name: b}]\n"
        "folders: [{name: f, nodes: {a: read_write, b: read_only}}]\n"
        "events: [{at: 100, event: node_down, node: b}]\n"
    )
    fleet = await make_fleet(scenario)
    b = Control(http_session, fleet.nodes["b"].url)
    assert await b.post("/_sim/advance?seconds=86400") == (
        200,
        {"time": fleet.world.started_at + 86400, "elapsed": 86400.0},
    )
    await fleet.settle()
    with pytest.raises(aiohttp.ClientConnectorError):
        await fleet_client(fleet, "b").call("get_os")


async def test_gui_expire_endpoint(
    demo: Fleet, control: Control, http_session: aiohttp.ClientSession
) -> None:
    login, password = demo.credentials("laptop")
    gui = GuiClient(http_session, demo.nodes["laptop"].url, login, password)
    assert (await gui.mint()).status == 200
    assert (await gui.ok("version"))["status"] == 200
    epoch = demo.world.nodes["laptop"].gui_epoch
    status, body = await control.post("/_sim/nodes/laptop/gui/expire")
    assert (status, body) == (200, {"node": "laptop", "expired_sessions": 1})
    # Through the world, as the scenario event expire_sessions: one path for the change.
    assert demo.world.nodes["laptop"].gui_epoch == epoch + 1
    assert await gui.ok("version") == {"status": 401}
    assert (await gui.action("version")).status == 400
    assert (await control.post("/_sim/nodes/zz/gui/expire"))[0] == 404
