"""``sync-exporter demo`` as a new user runs it: a real process, real ports, real HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

EXPORTER = Path(sys.executable).with_name("sync-exporter")


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the demo on free ports; yield the process and its banner."""
    proc = subprocess.Popen(
        [str(EXPORTER), "demo", "--web.listen-address", "127.0.0.1:0", "--sim.base-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if line.strip().startswith("- targets:"):
            break
    try:
        yield proc, "".join(banner)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as response:
        body: bytes = response.read()
        return body.decode("utf-8")


def test_demo_serves_the_fleet_and_stops_cleanly(
    demo: tuple[subprocess.Popen[str], str],
) -> None:
    proc, banner = demo
    match = re.search(r"Landing page\s+(http://\S+)/", banner)
    assert match, f"no landing page URL in the banner:\n{banner}"
    base = match.group(1)
    assert "job_name: btsync" in banner  # the scrape config to paste
    assert "DOWN (connection refused, on purpose)" in banner

    families = {f.name: f for f in text_string_to_metric_families(_get(f"{base}/metrics"))}
    up = {s.labels["node"]: s.value for s in families["btsync_up"].samples}
    assert up == {"nas": 1.0, "laptop": 1.0, "office": 1.0, "vault": 1.0, "pi": 0.0}
    errors = [s for s in families["btsync_folder_error_code"].samples if s.value != 0]
    assert [(s.labels["node"], s.value) for s in errors] == [("office", 101.0)]

    page = _get(f"{base}/")
    assert ">pi<" in page
    assert "DOWN" in page

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
