"""``sync-exporter demo`` as a new user runs it: a real process, real ports, real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sync_exporter.alerting.tunables import ALERT_NAMES
from sync_exporter.demo import demo_rules, timeline
from sync_exporter.demo_timeline import DEMO_CAUSES, DEMO_QUIET

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
    assert up == {
        "nas": 1.0,
        "laptop": 1.0,
        "office": 1.0,
        "vault": 1.0,
        "pi": 0.0,
        "studio": 1.0,
        "cabin": 1.0,
    }
    info = {s.labels["node"]: s.labels["api"] for s in families["btsync_node_info"].samples}
    assert (info["studio"], info["cabin"], info["nas"]) == ("gui", "gui", "v1")  # mixed fleet
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
        match = re.search(r"Prometheus\s+http://127\.0\.0\.1:(\d+)/", banner)
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


def _children(pid: int) -> list[tuple[int, str]]:
    """The (pid, command name) of every live child of ``pid``, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it exited while we looked
        name = text[text.index("(") + 1 : text.rindex(")")]
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append((int(stat.parent.name), name))
    return found


def test_sigterm_while_prometheus_starts_stops_the_demo_and_prometheus(
    prometheus_bin: Path,
) -> None:
    # Before: the demo listened for SIGTERM only once its banner was out. A SIGTERM in
    # the seconds before killed it without clean-up and left its Prometheus running,
    # orphaned, with the demo's stdout open: whoever read it waited forever.
    proc = _demo_process("--with-prometheus", "--prometheus.listen-address=127.0.0.1:0")
    prometheus: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not prometheus and proc.poll() is None and time.monotonic() < deadline:
            prometheus = [pid for pid, name in _children(proc.pid) if name == "prometheus"]
            time.sleep(0.01)  # polling /proc: there is no event for a child's birth
        assert prometheus, "the demo never started Prometheus"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Landing page" not in out  # it stopped before the banner
        assert not Path(f"/proc/{prometheus[0]}").exists(), "Prometheus outlived the demo"
    finally:
        for pid in prometheus:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


#: The alerts a new user must see in the demo, and how long they may take (real seconds).
HEADLINE = (
    "BTSyncNodeDown",
    "BTSyncFolderError",
    "BTSyncFolderIndexingStuck",
    "BTSyncFolderStalled",
    "BTSyncFolderOutOfSync",
)
HEADLINE_WITHIN = 180


def test_the_headline_alerts_fire_within_three_minutes_of_the_demo() -> None:
    expected = {e.alert: e.seconds for e in timeline("localhost:9888")}
    for alert in HEADLINE:
        assert alert in expected, f"{alert} is not in the demo's timeline"
        assert expected[alert] <= HEADLINE_WITHIN, (alert, expected[alert])
    assert set(DEMO_CAUSES) | set(DEMO_QUIET) == set(ALERT_NAMES)


def test_the_demo_rules_link_to_the_exporters_runbook() -> None:
    rules = yaml.safe_load(demo_rules("localhost:9888"))["groups"][0]["rules"]
    for rule in (r for r in rules if "alert" in r):
        url = rule["annotations"]["runbook_url"]
        assert url == f"http://localhost:9888/runbook#{rule['alert'].lower()}"
        assert rule["labels"]["demo_only"] == "true"


_TIMELINE_LINE = re.compile(r"^\s+(?:by\s+(\d+):(\d\d)|never)\s+(BTSync\w+)\s")


def _read_banner(proc: subprocess.Popen[str], until: Callable[[str], bool]) -> str:
    assert proc.stdout is not None
    banner = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not until(banner):
        line = proc.stdout.readline()
        if not line:
            break
        banner += line
    return banner


def _json(url: str) -> Any:
    return json.loads(_get(url))


def test_the_printed_timeline_is_what_a_real_prometheus_fires(prometheus_bin: Path) -> None:
    # The demo 4 times faster (rules and Prometheus' intervals; the timeline says so), so
    # this runs in about a minute: every alert it promises fires by its time, none early,
    # none that it says never fires.
    speed = 4
    proc = _demo_process(
        "--with-prometheus", "--prometheus.listen-address=127.0.0.1:0", f"--speed={speed}"
    )
    quiet_lines = len(DEMO_QUIET)
    try:
        banner = _read_banner(proc, lambda text: text.count(" never ") >= quiet_lines)
        page = re.search(r"^Prometheus (http://127\.0\.0\.1:\d+)(/\S*alerts)\s", banner, re.M)
        assert page, banner
        prometheus, alert_page = page.group(1), page.group(2)
        promised: dict[str, float] = {}
        never: set[str] = set()
        for line in banner.splitlines():
            if match := _TIMELINE_LINE.match(line):
                if match.group(1) is None:
                    never.add(match.group(3))
                else:
                    promised[match.group(3)] = int(match.group(1)) * 60 + int(match.group(2))
        assert set(promised) == set(DEMO_CAUSES), banner
        assert never == set(DEMO_QUIET), banner

        # The link printed is the alert page this Prometheus really serves.
        with urllib.request.urlopen(prometheus + alert_page, timeout=20) as response:
            assert response.status == 200
        started = next(
            s.value
            for f in text_string_to_metric_families(_get(prometheus + "/metrics"))
            if f.name == "process_start_time_seconds"
            for s in f.samples
        )
        interval = 5 / speed
        slack = 2 * interval + 8  # a scrape or evaluation late on a loaded machine (2 cores)
        fired: dict[str, float] = {}
        runbooks: dict[str, str] = {}
        deadline = started + max(promised.values()) + slack
        while time.time() < deadline and set(fired) != set(promised):
            for alert in _json(prometheus + "/api/v1/alerts")["data"]["alerts"]:
                name = alert["labels"]["alertname"]
                if alert["state"] == "firing" and name not in fired:
                    fired[name] = time.time() - started
                    runbooks[name] = alert["annotations"]["runbook_url"]
            time.sleep(0.25)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)

    report = {name: (round(fired.get(name, -1), 1), at) for name, at in promised.items()}
    assert set(fired) == set(promised), f"fired vs promised (seconds): {report}"
    for name, at in promised.items():
        assert fired[name] <= at + slack, f"{name} late: {report}"
        # It cannot fire before its `for` has run, however fast the first scrape came.
        assert fired[name] >= at - 2 * interval - 1, f"{name} early: {report}"
    # Each alert's runbook link names the demo exporter's /runbook and an existing section.
    (exporter,) = set(re.findall(r"Landing page\s+(http://\S+)/", banner))
    for name, url in runbooks.items():
        assert url == f"{exporter}/runbook#{name.lower()}"
