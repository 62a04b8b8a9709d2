"""``sync-exporter demo`` as a new user runs it: a real process, real ports, real HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
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


def _demo_process(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(EXPORTER),
            "demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--sim.base-port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_with_prometheus_on_a_taken_port_says_so_instead_of_pointing_elsewhere(
    prometheus_bin: Path,
) -> None:
    # Before: Prometheus exited at once and the banner sent the user to whatever else
    # listened on that port.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _demo_process("--with-prometheus", f"--prometheus.listen-address=127.0.0.1:{port}")
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it kept running: stop it, then fail
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err
    assert f"cannot listen on 127.0.0.1:{port} for Prometheus" in err
    assert "--prometheus.listen-address 127.0.0.1:0" in err
    assert "Landing page" not in out


@pytest.mark.slow
def test_with_prometheus_on_port_0_prints_the_port_it_really_uses(prometheus_bin: Path) -> None:
    proc = _demo_process("--with-prometheus", "--prometheus.listen-address=127.0.0.1:0")
    assert proc.stdout is not None
    try:
        banner = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "- targets:" not in banner:
            line = proc.stdout.readline()
            if not line:
                break
            banner += line
        match = re.search(r"Prometheus\s+http://127\.0\.0\.1:(\d+)/alerts", banner)
        assert match, banner
        port = int(match.group(1))
        assert port != 0
        ready = ""
        while time.monotonic() < deadline + 30 and not ready:
            try:
                ready = _get(f"http://127.0.0.1:{port}/-/ready")
            except OSError:
                time.sleep(0.2)  # a real Prometheus starting up in real time
        assert "Ready" in ready
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
