"""Starting a real Prometheus in a test, and asking it while it discovers and scrapes.

Shared by the tests that run Debian's Prometheus against the exporter: its start-up on a
free port with a given configuration, a query that answers "nothing yet" while Prometheus
is still starting, and a poll for a series count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.conftest import ServiceStarter

#: Seconds between two queries while waiting (Prometheus scrapes every second in tests).
POLL = 0.1


async def query(session: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector ``promql`` returns, or ``[]`` while Prometheus cannot answer yet."""
    try:
        async with session.get(f"{base}/api/v1/query", params={"query": promql}) as response:
            if response.status != 200:
                return []
            body = await response.json()
    except aiohttp.ClientConnectionError:
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def wait_for(
    session: aiohttp.ClientSession,
    base: str,
    promql: str,
    count: int,
    *,
    at_least: bool = False,
    within: float = 20.0,
) -> list[dict[str, Any]]:
    """Poll until ``promql`` returns ``count`` series (or more, with ``at_least``)."""
    want = f"{count} or more" if at_least else str(count)
    return await wait_until(
        session,
        base,
        promql,
        lambda result: len(result) == count or (at_least and len(result) > count),
        f"want {want} series",
        within=within,
    )


async def wait_until(
    session: aiohttp.ClientSession,
    base: str,
    promql: str,
    holds: Callable[[list[dict[str, Any]]], bool],
    want: str,
    *,
    within: float = 20.0,
) -> list[dict[str, Any]]:
    """Poll until what ``promql`` returns satisfies ``holds``; fail saying ``want``.

    For states a real scrape reaches only eventually: under load one scrape can miss
    its timeout, and a test must wait for the state rather than take the first answer.
    """
    result: list[dict[str, Any]] = []
    for _ in range(round(within / POLL)):
        result = await query(session, base, promql)
        if holds(result):
            return result
        await asyncio.sleep(POLL)  # a real Prometheus discovering and scraping in real time
    raise AssertionError(f"{promql}: after {within:g} s, {want}; got {len(result)}: {result}")


@asynccontextmanager
async def start_prometheus(
    start_service: ServiceStarter,
    binary: Path,
    directory: Path,
    port: int,
    config: Mapping[str, Any],
) -> AsyncIterator[str]:
    """Run ``binary`` with ``config`` on 127.0.0.1:``port``; yield its base URL once ready.

    The configuration file and the data directory go into ``directory``.
    """
    config_file = directory / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    base = f"http://127.0.0.1:{port}"
    async with start_service(
        str(binary),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        ready_url=f"{base}/-/ready",
    ):
        yield base
