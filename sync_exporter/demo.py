"""``sync-exporter demo``: a simulated Sync fleet plus the exporter, with nothing to configure.

The demo is the first thing a new user runs, so it uses the real pieces end to end: the
bundled ``demo`` scenario runs as real HTTP nodes, the exporter reads a real config file
(written to a temporary folder, passwords in ``password_file``\\ s, exactly what a user
would write), and ``--with-prometheus`` starts Debian's Prometheus with the bundled
alert rules (durations scaled down, every alert labelled ``demo_only``) so alerts fire
within minutes instead of hours.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import math
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiohttp import web

from sync_exporter.cli_args import int_in, parse_args
from sync_exporter.demo_timeline import Expected, predict, render_timeline
from sync_exporter.exporter_cli import ListenAddress, add_listen_flag
from sync_exporter.signals import stop_requested, unless_stopped

log = logging.getLogger(__name__)

DEFAULT_BASE_PORT = 8881
DEFAULT_PROMETHEUS_ADDRESS = "127.0.0.1:9090"
#: Prometheus' scrape and rule evaluation interval in the demo (divided by ``--speed``).
SCRAPE_INTERVAL = 5.0
#: Where Prometheus' alert page may be: ``/alerts`` in the React UI; Debian's build (2.42)
#: ships only the classic UI, under ``/classic/``. The demo links the first that answers.
ALERT_PAGES = ("/alerts", "/classic/alerts")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs and where."""

    listen: ListenAddress
    base_port: int
    seed: int
    scenario: str
    with_prometheus: bool
    prometheus_listen: ListenAddress
    workdir: Path | None
    speed: float = 1.0


def build_parser() -> argparse.ArgumentParser:
    """Return the ``demo`` subcommand's argument parser."""
    parser = argparse.ArgumentParser(
        prog="sync-exporter demo",
        description="Start a simulated Sync fleet (the bundled 'demo' scenario) and the "
        "exporter in front of it. Stop with Ctrl-C.",
    )
    add_listen_flag(
        parser,
        "--web.listen-address",
        dest="listen",
        default=":9888",
        help="where the exporter listens (default: :9888; port 0 picks a free port)",
    )
    parser.add_argument(
        "--sim.base-port",
        dest="base_port",
        type=int_in(0, 65535),
        default=DEFAULT_BASE_PORT,
        metavar="PORT",
        help=f"first simulated node's API port on 127.0.0.1, the others follow "
        f"(default: {DEFAULT_BASE_PORT}; 0 picks free ports)",
    )
    parser.add_argument(
        "--sim.scenario",
        dest="scenario",
        default="demo",
        metavar="NAME|FILE",
        help="simulator scenario: a bundled name (demo, healthy, timeline) or a YAML file",
    )
    parser.add_argument(
        "--sim.seed",
        dest="seed",
        type=int,
        default=0,
        metavar="N",
        help="random seed of the simulated fleet; the same seed replays the same demo (default: 0)",
    )
    parser.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also start Prometheus (Debian's 'prometheus' package) scraping the exporter "
        "every 5s with the bundled alert rules, durations scaled down for the demo",
    )
    add_listen_flag(
        parser,
        "--prometheus.listen-address",
        dest="prometheus_listen",
        default=DEFAULT_PROMETHEUS_ADDRESS,
        help=f"where that Prometheus listens (default: {DEFAULT_PROMETHEUS_ADDRESS})",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="run the demo N times faster: the simulated nodes' clock, and with "
        "--with-prometheus the alert durations and Prometheus' scrape and evaluation "
        "intervals (the end-to-end test uses 4) (default: 1)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the generated exporter config (and Prometheus data) here instead of a "
        "temporary folder that is removed on exit",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the demo until SIGINT/SIGTERM; 2 on bad flags, 1 when a port is taken."""
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    options = DemoOptions(
        listen=args.listen,
        base_port=args.base_port,
        seed=args.seed,
        scenario=args.scenario,
        with_prometheus=args.with_prometheus,
        prometheus_listen=args.prometheus_listen,
        workdir=args.workdir,
        speed=args.speed,
    )
    from sync_exporter.logs import setup_logging

    setup_logging("info", "logfmt")
    try:
        return asyncio.run(_run(options))
    except KeyboardInterrupt:
        return 130


class FastClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from its start.

    For ``--speed``: what the simulated nodes do over time (a volume filling up, a copy
    catching up) must keep pace with the shortened rules, or the timeline would not hold.
    """

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._start = time.time()

    def now(self) -> float:
        """Return the simulated Unix time."""
        return self._start + (time.time() - self._start) * self._speed


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 10")
    return value


def _host(address: ListenAddress) -> str:
    """Return the host to print in URLs for a listen address."""
    if address.host in (None, "", "0.0.0.0", "::"):  # noqa: S104 - only formats a URL
        return "localhost"
    return f"[{address.host}]" if ":" in address.host else address.host


def write_exporter_config(workdir: Path, nodes: Sequence[tuple[str, str, str, str]]) -> Path:
    """Write the exporter config for ``(name, url, login, password)`` nodes; return its path.

    Passwords go to one ``password_file`` per node (mode 0600), as a user should do it:
    the config file itself then holds nothing secret.
    """
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    entries = []
    for name, url, login, password in nodes:
        password_file = secrets_dir / name
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n", encoding="utf-8")
        entries.append(
            {"name": name, "url": url, "username": login, "password_file": str(password_file)}
        )
    config = {"defaults": {"timeout": "5s", "max_concurrency": 8}, "nodes": entries}
    path = workdir / "sync-exporter.yml"
    path.write_text(
        "# Written by `sync-exporter demo` for its simulated fleet.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _prometheus_config(exporter: str, rules: Path, speed: float) -> str:
    interval = SCRAPE_INTERVAL / speed
    config = {
        "global": {"scrape_interval": _ms(interval), "evaluation_interval": _ms(interval)},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "btsync",
                "scrape_timeout": _ms(interval * 0.8),
                "static_configs": [{"targets": [exporter]}],
            }
        ],
    }
    return "# Written by `sync-exporter demo --with-prometheus`.\n" + yaml.safe_dump(
        config, sort_keys=False
    )


def claim_address(listen: ListenAddress) -> ListenAddress:
    """Return ``listen`` with port 0 replaced by a free port; OSError if it is taken.

    Prometheus gets its address on the command line and cannot report the port it
    picked, and if the address is taken it exits while the banner would point the user at
    whatever else listens there: so the demo checks (and picks) the port itself first.
    """
    family = socket.AF_INET6 if listen.host and ":" in listen.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Prometheus does
        probe.bind((listen.host or "", listen.port))
        port = int(probe.getsockname()[1])
    return ListenAddress(listen.host, port)


#: Real durations the demo shortens further before scaling, so that what it shows fires
#: while a new user watches: out of sync within 3 minutes (6h would be 6 minutes scaled),
#: the version mismatch and the paused folder within a few (24h and 6h would be 24 and
#: 6 minutes).
DEMO_TUNING = """
alerts:
  BTSyncFolderOutOfSync: {for: 90m}
  BTSyncVersionMismatch: {for: 2h}
  BTSyncFolderPaused: {for: 2h}
"""


def demo_rules(exporter: str, speed: float = 1.0) -> str:
    """The demo's rule file: durations scaled down, runbook links to this exporter's /runbook.

    The links are absolute (``http://EXPORTER/runbook#alert``), so they open from
    Prometheus' alert page, Alertmanager or Grafana as they are.
    """
    from sync_exporter.alerting.render import DEMO_FLOOR_MS, DEMO_SCALE, demo_rules_text
    from sync_exporter.alerting.tunables import parse_tunables

    tuned = parse_tunables(DEMO_TUNING, source="demo tuning")
    if speed != 1:
        # absent(up) holds until Prometheus' first scrape, and start-up does not get faster:
        # BTSyncExporterDown keeps the plain demo's shortest `for`.
        name = "BTSyncExporterDown"
        hold = math.ceil(DEMO_FLOOR_MS / DEMO_SCALE * speed)
        alerts = dict(tuned.alerts)
        alerts[name] = dataclasses.replace(alerts[name], for_ms=max(alerts[name].for_ms, hold))
        tuned = dataclasses.replace(tuned, alerts=alerts)
    tunables = dataclasses.replace(tuned, runbook_url=f"http://{exporter}/runbook")
    return demo_rules_text(
        tunables, scale=DEMO_SCALE / speed, floor_ms=round(DEMO_FLOOR_MS / speed)
    )


def timeline(exporter: str, speed: float = 1.0) -> list[Expected]:
    """When each alert the demo raises fires, computed from the rules it loads."""
    interval = SCRAPE_INTERVAL / speed
    return predict(
        demo_rules(exporter, speed), scrape_interval=interval, evaluation_interval=interval
    )


async def _start_prometheus(
    binary: str, workdir: Path, exporter: str, listen: ListenAddress, speed: float
) -> asyncio.subprocess.Process:
    """Start Prometheus on ``listen`` (a port already checked by :func:`claim_address`)."""
    rules = workdir / "btsync-demo.rules.yml"
    rules.write_text(demo_rules(exporter, speed), encoding="utf-8")
    config = workdir / "prometheus.yml"
    config.write_text(_prometheus_config(exporter, rules, speed), encoding="utf-8")
    address = f"{listen.host or ''}:{listen.port}"
    return await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address={address}",
        "--log.level=warn",
        stdin=asyncio.subprocess.DEVNULL,
    )


async def _run(options: DemoOptions) -> int:
    with stop_requested() as stop:
        return await _run_until(stop, options)


async def _run_until(stop: asyncio.Event, options: DemoOptions) -> int:
    """Start everything, print the banner and serve until ``stop``; clean up in any case.

    ``stop`` is already listening while this starts, so a SIGTERM during start-up (a
    test or a supervisor that gives up early) still stops Prometheus and the nodes.
    """
    from sync_exporter.config import load_config
    from sync_exporter.server import Settings, create_app
    from sync_exporter.simulator.fleet import Fleet

    clock = None if options.speed == 1 else FastClock(options.speed)
    fleet = Fleet.from_scenario(options.scenario, seed=options.seed, clock=clock)
    try:
        await fleet.start("127.0.0.1", options.base_port, realtime=True)
    except OSError as exc:
        print(
            f"sync-exporter demo: cannot start the simulated nodes on ports "
            f"{options.base_port}+: {exc.strerror or exc} (try --sim.base-port 0)",
            file=sys.stderr,
        )
        return 1
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="sync-exporter-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runner: web.AppRunner | None = None
    prometheus: asyncio.subprocess.Process | None = None
    try:
        nodes = [(name, node.url, *fleet.credentials(name)) for name, node in fleet.nodes.items()]
        config_file = write_exporter_config(workdir, nodes)
        settings = Settings(
            config=load_config(config_file), config_file=config_file, handle_sighup=True
        )
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, options.listen.host, options.listen.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            print(
                f"sync-exporter demo: cannot listen on {options.listen.host or ''}:"
                f"{options.listen.port}: {exc.strerror or exc} "
                f"(try --web.listen-address :0)",
                file=sys.stderr,
            )
            return 1
        port = _bound_port(runner, options.listen.port)
        exporter = f"{_host(options.listen)}:{port}"
        prometheus_listen = options.prometheus_listen
        binary = shutil.which("prometheus") if options.with_prometheus else None
        if options.with_prometheus and binary is None:
            log.warning(
                "prometheus not found, going on without it",
                extra={"hint": "apt-get install -y prometheus"},
            )
        elif binary is not None and not stop.is_set():
            try:
                prometheus_listen = claim_address(prometheus_listen)
            except OSError as exc:
                print(
                    f"sync-exporter demo: cannot listen on {prometheus_listen.host or ''}:"
                    f"{prometheus_listen.port} for Prometheus: {exc.strerror or exc} "
                    f"(try --prometheus.listen-address 127.0.0.1:0)",
                    file=sys.stderr,
                )
                return 1
            prometheus = await _start_prometheus(
                binary, workdir, exporter, prometheus_listen, options.speed
            )
        banner = _banner(fleet, exporter, config_file, prometheus, prometheus_listen)
        if prometheus is not None:
            started = time.time()
            alert_page = await unless_stopped(
                stop, alerts_page(prometheus_url(prometheus_listen), prometheus)
            )
            if alert_page is None:
                return 0
            banner += "\n\n" + _timeline_text(
                exporter, prometheus_listen, alert_page, started, options.speed
            )
        if not stop.is_set():
            print(banner, flush=True)
            await stop.wait()
        return 0
    finally:
        if prometheus is not None:
            await _stop_child(prometheus)
        if runner is not None:
            await runner.cleanup()
        await fleet.stop()
        if options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def prometheus_url(listen: ListenAddress) -> str:
    """The base URL to reach a Prometheus listening on ``listen``."""
    return f"http://{_host(listen)}:{listen.port}"


async def alerts_page(base: str, process: asyncio.subprocess.Process, wait: float = 30) -> str:
    """Return the path of Prometheus' alert page that answers, once Prometheus is ready.

    Prometheus' React UI serves ``/alerts``; Debian's build has only the classic UI, which
    serves ``/classic/alerts`` (and 404 on ``/alerts``). Asking beats parsing versions.
    Falls back to ``/alerts`` when Prometheus is not ready within ``wait`` seconds.
    """
    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while loop.time() < deadline and process.returncode is None:
            for path in ALERT_PAGES:
                try:
                    async with session.get(base + path, allow_redirects=True) as response:
                        if response.status == 200:
                            return path
                except (aiohttp.ClientError, TimeoutError):
                    break  # not listening yet
            await asyncio.sleep(0.2)
    return ALERT_PAGES[0]


def _timeline_text(
    exporter: str, listen: ListenAddress, alert_page: str, started: float, speed: float
) -> str:
    url = prometheus_url(listen)
    clock = dt.datetime.fromtimestamp(started).strftime("%H:%M:%S")
    lines = [
        f"Prometheus {url}{alert_page}  (started {clock}; demo-only rules: durations scaled",
        f'  down, alerts labelled demo_only="true", runbook links to http://{exporter}/runbook)',
        "",
        *render_timeline(timeline(exporter, speed), speed=speed),
    ]
    return "\n".join(lines)


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked


async def _stop_child(process: asyncio.subprocess.Process, grace: float = 10) -> None:
    """Terminate ``process`` and, if it outlives ``grace`` seconds, kill it.

    Never leave it behind: an orphaned Prometheus keeps its port, its data directory
    and the demo's stdout open after the demo has gone.
    """
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        process.kill()
        await process.wait()


def _banner(
    fleet: object,
    exporter: str,
    config_file: Path,
    prometheus: asyncio.subprocess.Process | None,
    prometheus_listen: ListenAddress,
) -> str:
    from sync_exporter.simulator.fleet import Fleet

    assert isinstance(fleet, Fleet)
    first = next(iter(fleet.nodes))
    login, _ = fleet.credentials(first)
    lines = [
        "sync-exporter demo is running. Stop it with Ctrl-C.",
        "",
        f"  Landing page   http://{exporter}/",
        f"  All nodes      http://{exporter}/metrics",
        f"  One node       http://{exporter}/probe?target={first}",
        f"  Exporter config (passwords in password files): {config_file}",
    ]
    if prometheus is not None:
        lines.append(f"  Prometheus     {prometheus_url(prometheus_listen)}/")
    lines += ["", "Simulated Sync nodes (basic auth; password in the file above):"]
    for name, node in fleet.nodes.items():
        state = "DOWN (connection refused, on purpose)" if _is_down(node) else "up"
        spec = fleet.world.scenario.node(name)
        kind = "web GUI API only (no API key)" if spec and not spec.api_key else "API v1"
        lines.append(f"  {name:<10} {node.url}  {state:<5} {kind}")
    lines += [
        "",
        "Ask a node yourself:",
        f'  curl -u {login}:"$(cat {config_file.parent / "secrets" / first})" '
        f"'{fleet.nodes[first].url}/api?method=get_folders'",
        "",
        "Prometheus scrape config to paste (see README for the /probe variant):",
        "  scrape_configs:",
        "    - job_name: btsync",
        "      scrape_interval: 30s",
        "      scrape_timeout: 20s",
        "      static_configs:",
        f'        - targets: ["{exporter}"]',
    ]
    return "\n".join(lines)


def _is_down(node: object) -> bool:
    from sync_exporter.simulator.node import SimNode
    from sync_exporter.simulator.state import FaultMode

    return isinstance(node, SimNode) and node.state.faults.mode is FaultMode.DOWN
