"""The landing page: every node with its last state, escaped, and rendered by a real browser."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

from sync_exporter.config import load_config
from sync_exporter.server import Settings, create_app
from sync_exporter.simulator.clock import ManualClock
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.state import FaultMode
from tests.conftest import CHROMIUM_FLAGS
from tests.server.conftest import Harness, fleet_config, healthy, write_config


def _row(page: str, node: str) -> str:
    match = re.search(rf'<tr class="(\w+)" data-node="{re.escape(node)}">.*?</tr>', page, re.S)
    assert match, f"no row for {node}"
    return match.group(0)


async def test_the_page_lists_every_node_with_its_last_state(harness: Harness) -> None:
    page = await harness.get_text("/")
    for name in harness.fleet.nodes:
        assert "NOT SCRAPED YET" in _row(page, name)

    up = healthy(harness.fleet)
    await harness.fleet.set_fault(up[0], FaultMode.UNAUTHORIZED)
    await harness.get_text("/metrics")
    page = await harness.get_text("/")

    down_row = _row(page, up[0])
    assert down_row.startswith('<tr class="down"')
    assert "DOWN" in down_row
    assert "auth_error" in down_row
    assert "wrong login or password" in down_row
    assert "check webui.login and the password" in down_row

    state = harness.fleet.nodes[up[1]].state
    up_row = _row(page, up[1])
    assert up_row.startswith('<tr class="up"')
    assert ">UP<" in up_row
    assert f"<td>{state.version}</td>" in up_row
    peers = {p for f in state.folders.values() for p in f.peers}
    assert f'<td class="num">{len(state.folders)}</td><td class="num">{len(peers)}</td>' in up_row
    assert "2026-01-01 00:00:00 UTC" in up_row  # the exporter's manual clock
    assert f'href="/probe?target={up[1]}"' in up_row
    for link in ('href="/metrics"', 'href="/-/healthy"', 'href="/-/ready"'):
        assert link in page


async def test_the_api_column_shows_the_configured_choice_then_the_api_read(
    harness: Harness,
) -> None:
    # With api: auto, which API a node answers decides which series it has: the page
    # says it rather than leaving the operator to find btsync_node_info{api}.
    page = await harness.get_text("/")
    for name in harness.fleet.nodes:
        assert '<td class="api muted" title="configured; not read yet">auto</td>' in _row(
            page, name
        )

    exposition = await harness.metrics()
    page = await harness.get_text("/")
    read = {s.labels["node"]: s.labels["api"] for s in exposition.find("btsync_node_info")}
    assert set(read.values()) == {"v1", "gui"}, read  # the demo has nodes of both kinds
    for name, api in read.items():
        cell = re.search(r'<td class="api"[^>]*>([^<]*)</td>', _row(page, name))
        assert cell, _row(page, name)
        assert cell.group(1) == api


async def test_what_a_node_sends_is_html_escaped(harness: Harness) -> None:
    name = healthy(harness.fleet)[0]
    harness.fleet.nodes[name].state.version = '<script>alert("x")</script>'
    await harness.get_text(f"/probe?target={name}")
    page = await harness.get_text("/")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


async def _run(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    return out.decode()


async def test_chromium_renders_the_table_with_the_failing_node_marked(
    harness: Harness, chromium_bin: Path, tmp_path: Path
) -> None:
    up = healthy(harness.fleet)
    await harness.fleet.set_fault(up[0], FaultMode.DOWN)
    await harness.get_text("/metrics")

    url = str(harness.client.make_url("/"))
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = await _run(str(chromium_bin), *flags, "--dump-dom", url)
    screenshot = tmp_path / "landing.png"
    await _run(
        str(chromium_bin),
        *flags,
        f"--screenshot={screenshot}",
        "--window-size=1400,700",
        url,
    )

    assert '<table id="nodes">' in dom
    down_row = _row(dom, up[0])
    assert down_row.startswith('<tr class="down"')
    assert "DOWN" in down_row
    for name in up[1:]:
        assert _row(dom, name).startswith('<tr class="up"')
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one


def _problems(page: str) -> list[tuple[str, str, str]]:
    """(problem, node, folder) of every row of the page's problem table."""
    table = re.search(r'<table id="problems">.*?</table>', page, re.S)
    if table is None:
        return []
    rows = re.findall(
        r'<tr class="[\w-]+" data-problem-node="[^"]*"><td class="kind">([^<]+)</td>'
        r"<td>([^<]*)</td><td>([^<]*)</td>",
        table.group(0),
    )
    return [(kind, node, html.unescape(folder)) for kind, node, folder in rows]


async def _two_scrapes(harness: Harness, exporter_clock: ManualClock) -> None:
    await harness.get_text("/metrics")
    harness.fleet.advance(60)
    exporter_clock.advance(60)
    await harness.get_text("/metrics")


async def test_folder_problems_are_listed_above_the_nodes_with_since(
    harness: Harness, exporter_clock: ManualClock
) -> None:
    # Before: a node with a folder in error and one stuck indexing showed as plain UP.
    first = exporter_clock.now()
    await _two_scrapes(harness, exporter_clock)
    page = await harness.get_text("/")
    assert page.index('id="problems"') < page.index('id="nodes"')
    found = _problems(page)
    assert ("error", "office", "/Volumes/Backup") in found
    assert ("indexing stuck", "laptop", "D:\\Musik") in found
    # A paused copy (GUI API) is paused, not stalled, however far behind it is.
    assert ("paused", "cabin", "E:\\Sync\\Musik") in found
    assert not [p for p in found if p[1:] == ("cabin", "E:\\Sync\\Musik") and p[0] != "paused"]
    assert ("stalled", "nas", "/srv/sync/Projekte") in found
    # documents on laptop is behind but receiving: out of sync, catching up, not stalled.
    assert ("out of sync", "laptop", "C:\\Users\\Åsa\\Documents") in found
    assert not [p for p in found if p[1] == "pi"]  # down: in the node table, not here
    assert not [p for p in found if p[1] == "vault"]  # encrypted copies never count
    assert _problems(page)[0][0] == "error"  # worst first
    error_row = re.search(r'<tr class="error".*?</tr>', page, re.S)
    assert error_row
    assert "error 101" in error_row.group(0)
    assert "no permission to write" in error_row.group(0)
    # Since: the first scrape saw the error; the stalled copy needed the second look.
    stamp = dt.datetime.fromtimestamp(first, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert stamp in error_row.group(0)
    assert "60 s ago" in error_row.group(0)


async def test_a_problem_that_goes_away_leaves_the_list(
    harness: Harness, exporter_clock: ManualClock
) -> None:
    await _two_scrapes(harness, exporter_clock)
    office = harness.fleet.nodes["office"].state
    (backup,) = [f for f in office.folders.values() if f.error]
    backup.error = 0
    await harness.get_text("/metrics")
    found = _problems(await harness.get_text("/"))
    assert ("error", "office", "/Volumes/Backup") not in found
    assert found  # the others are still there


async def test_a_healthy_fleet_says_no_problems(
    aiohttp_client: Any, tmp_path: Path, exporter_clock: ManualClock
) -> None:
    async with Fleet.from_scenario("healthy", seed=0) as fleet:
        config = write_config(tmp_path / "c.yml", fleet_config(fleet))
        settings = Settings(
            config=load_config(config), config_file=config, clock=exporter_clock.now
        )
        client = await aiohttp_client(create_app(settings))
        harness = Harness(client=client, fleet=fleet, config_file=config)
        await _two_scrapes(harness, exporter_clock)
        page = await harness.get_text("/")
    assert 'id="no-problems"' in page
    assert _problems(page) == []


async def test_problem_texts_are_escaped(harness: Harness, exporter_clock: ManualClock) -> None:
    office = harness.fleet.nodes["office"].state
    (backup,) = [f for f in office.folders.values() if f.error]
    backup.dir = "/Volumes/<script>alert(1)</script>"
    await _two_scrapes(harness, exporter_clock)
    page = await harness.get_text("/")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_chromium_shows_the_demos_problems_above_the_nodes(
    harness: Harness, exporter_clock: ManualClock, chromium_bin: Path, tmp_path: Path
) -> None:
    await _two_scrapes(harness, exporter_clock)
    url = str(harness.client.make_url("/"))
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = await _run(str(chromium_bin), *flags, "--dump-dom", url)
    screenshot = tmp_path / "landing-problems.png"
    await _run(
        str(chromium_bin), *flags, f"--screenshot={screenshot}", "--window-size=1400,900", url
    )
    # What the browser parsed: the problem table first, with the demo's problems.
    assert dom.index('<table id="problems">') < dom.index('<table id="nodes">')
    kinds = {kind for kind, _, _ in _problems(dom)}
    assert {"error", "stalled", "out of sync", "indexing stuck"} <= kinds
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
