"""``/probe?target=NAME&debug=true``: one scrape explained as text, with nothing secret in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sync_exporter.config import load_config
from sync_exporter.probe_debug import redact
from sync_exporter.server import Settings, create_app
from sync_exporter.simulator.state import FaultMode
from tests.server.conftest import Harness, fleet_config, healthy, write_config


async def _debug(harness: Harness, node: str) -> str:
    async with harness.client.get("/probe", params={"target": node, "debug": "true"}) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return await response.text()


def _requests(text: str) -> list[tuple[str, str]]:
    """(method, outcome) of every request line of the report."""
    return re.findall(r"^\s+\d+\.\d{3}\s+\d+\.\d{3}\s+(\w+)\s+(\w+)$", text, re.M)


def _leaks(harness: Harness, node: str, text: str) -> list[str]:
    """The node's password (as a word: the test fleet's is "secret") and folder secrets.

    Our own HELP texts are left out of the password search: they use the word "secret".
    """
    state = harness.fleet.nodes[node].state
    _, password = harness.fleet.credentials(node)
    leaks = [s.secret for s in state.folders.values() if s.secret in text]
    ours = "\n".join(ln for ln in text.splitlines() if not ln.startswith(("# HELP", "# TYPE")))
    if re.search(rf"(?<!\w){re.escape(password)}(?!\w)", ours.replace("<secret>", "")):
        leaks.append(password)
    return leaks


async def test_a_healthy_node_shows_every_request_and_the_series(harness: Harness) -> None:
    name = "nas"  # read through API v1
    state = harness.fleet.nodes[name].state
    text = await _debug(harness, name)
    assert text.startswith(f"Probe of node {name!r} at http://127.0.0.1:")
    assert "Outcome: up (btsync_up 1)" in text
    requests = _requests(text)
    methods = {method for method, _ in requests}
    # A fresh scrape: the metadata and every folder's calls, each once per folder.
    assert {"get_speed", "get_folders", "get_version", "get_os"} <= methods
    assert sum(m == "get_folder_peers" for m, _ in requests) == len(state.folders)
    assert all(outcome == "success" for _, outcome in requests)
    assert f'btsync_up{{node="{name}"}} 1.0' in text
    assert f"{len(state.folders)} folders" in text


async def test_a_down_node_shows_why(harness: Harness) -> None:
    name = "nas"
    await harness.fleet.set_fault(name, FaultMode.UNAUTHORIZED)
    text = await _debug(harness, name)
    assert "Outcome: DOWN (btsync_up 0), reason auth_error: wrong login or password" in text
    assert ("get_folders", "auth_error") in _requests(text)
    assert f'btsync_up{{node="{name}"}} 0.0' in text


async def test_nothing_secret_reaches_the_report(harness: Harness) -> None:
    for name in harness.fleet.nodes:
        text = await _debug(harness, name)
        assert _leaks(harness, name, text) == [], name
        assert not re.search(r"(?i)(secret|token|password|cookie)=(?!<secret>)\S", text)


async def test_a_gui_node_leaks_no_token_or_cookie(
    aiohttp_client: Any, harness: Harness, tmp_path: Path
) -> None:
    name = "nas"  # an API v1 node, read through its web GUI API
    config = write_config(
        tmp_path / "gui.yml",
        fleet_config(harness.fleet, [name], node_options={name: {"api": "gui"}}),
    )
    app = create_app(Settings(config=load_config(config), config_file=config))
    client = await aiohttp_client(app)
    async with client.get("/probe", params={"target": name, "debug": "true"}) as response:
        text = await response.text()
    assert "read through API gui" in text, text
    assert _leaks(harness, name, text) == []
    assert not re.search(r"(?i)(token|cookie|guid)\s*[=:]\s*(?!<secret>)\S", text)


async def test_without_debug_probe_is_the_exposition(harness: Harness) -> None:
    name = healthy(harness.fleet)[0]
    expo = await harness.metrics(f"/probe?target={name}&debug=false")
    assert expo.value("btsync_up", node=name) == 1


async def test_an_unknown_target_is_still_a_400(harness: Harness) -> None:
    text = await harness.get_text("/probe?target=nope&debug=true", status=400)
    assert "unknown target 'nope'" in text


def test_redact_replaces_known_values_and_secret_parameters() -> None:
    line = (
        "GET /api?method=get_folder_peers&secret=ABCDEF123 token: 9f8e Cookie=GUID=x; "
        "password='hunter2' pw hunter2 in get_hunter2s"
    )
    redacted = redact(line, "hunter2")
    assert "ABCDEF123" not in redacted
    assert "9f8e" not in redacted
    assert "hunter2'" not in redacted
    assert " hunter2 " not in redacted
    assert "secret=<secret>" in redacted
    assert "get_hunter2s" in redacted  # a word containing it is not the password
