"""No folder secret and no password reaches any output: metrics, pages, errors or logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from sync_exporter.simulator.fleet import Fleet
from sync_exporter.simulator.scenario import load_scenario
from sync_exporter.simulator.secrets import derive
from sync_exporter.simulator.state import FaultMode
from sync_exporter.simulator.world import World
from tests.server.conftest import SCENARIO, Harness, healthy


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """The demo fleet with a distinct, unguessable password per node.

    The scenario's default password is the word "secret", which also occurs in help
    texts; a password that can only come from the config makes a leak unmistakable.
    """
    scenario = load_scenario(SCENARIO)
    credentials = {n.name: ("api", f"pw-{n.name}-Qx7vLm2") for n in scenario.nodes}
    async with Fleet(World(scenario, seed=0), credentials=credentials) as fleet:
        yield fleet


def _secrets(harness: Harness) -> set[str]:
    """Every secret of every kind the fleet knows, and every node password."""
    found: set[str] = set()
    for name, node in harness.fleet.nodes.items():
        password = harness.fleet.credentials(name)[1]
        if password:
            found.add(password)
        for folder in node.state.folders.values():
            derived = derive(folder.secret)
            found.add(folder.secret)
            found.update(
                s for s in (derived.read_write, derived.read_only, derived.encryption) if s
            )
    return found


def _exporter_logs(records: list[logging.LogRecord]) -> str:
    """Every field of every record the exporter logged (extras included)."""
    ours = [
        r
        for r in records
        if r.name.startswith(("sync_exporter", "aiohttp.server", "aiohttp.web"))
        and not r.name.startswith("sync_exporter.simulator")
    ]
    return "\n".join(json.dumps({**vars(r), "message": r.getMessage()}, default=str) for r in ours)


async def test_no_secret_or_password_in_any_output(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    up = healthy(harness.fleet)
    # Failures of every kind, so every error path is in the logs and pages.
    await harness.fleet.set_fault(up[0], FaultMode.UNAUTHORIZED)
    await harness.fleet.set_fault(up[1], FaultMode.INVALID_JSON)
    if len(up) > 2:
        await harness.fleet.set_fault(up[2], FaultMode.SERVER_ERROR, methods=["get_folder_peers"])

    outputs.append(await harness.get_text("/metrics"))
    outputs.append(
        await harness.get_text("/metrics", headers={"Accept": "application/openmetrics-text"})
    )
    for name in harness.fleet.nodes:
        outputs.append(await harness.get_text(f"/probe?target={name}"))
    outputs.append(await harness.get_text("/"))
    for bad in ("target=nope", "target=http://evil.example/", "", "target=a&target=b"):
        outputs.append(await harness.get_text(f"/probe?{bad}", status=400))
    outputs.append(
        await harness.get_text(
            "/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "x"}, status=400
        )
    )
    # A bad config that carries a password: the 500 must name the problem, not the value.
    harness.config_file.write_text(
        "nodes:\n  - name: nas\n    url: http://127.0.0.1:1\n    username: api\n"
        "    password: hunter2-in-a-bad-file\n    colour: red\n",
        encoding="utf-8",
    )
    async with harness.client.post("/-/reload") as response:
        assert response.status == 500
        outputs.append(await response.text())
    outputs.append(await harness.get_text("/"))
    outputs.append(_exporter_logs(caplog.records))

    everything = "\n".join(outputs)
    assert "colour" in everything, "the reload error should be in the collected output"
    assert "hunter2-in-a-bad-file" not in everything
    secrets = _secrets(harness)
    assert "pw-nas-Qx7vLm2" in secrets
    leaked = sorted(s for s in secrets if s in everything)
    assert not leaked, f"{len(leaked)} secrets leaked"
