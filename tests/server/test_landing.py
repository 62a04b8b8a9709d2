"""The landing page: every node with its last state, escaped, and rendered by a real browser."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from sync_exporter.simulator.state import FaultMode
from tests.conftest import CHROMIUM_FLAGS
from tests.server.conftest import Harness, healthy


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


@pytest.mark.slow
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
