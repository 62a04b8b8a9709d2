"""``sync-exporter [flags]``: run the exporter with Prometheus-style dotted flags.

Startup validates the config before binding the port, so a bad file fails fast with
every problem listed (exit 2, like ``--config.check``). Once running, aiohttp's
``run_app`` owns graceful shutdown on SIGTERM/SIGINT, and SIGHUP reloads the config
through the same path as ``POST /-/reload``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from aiohttp import web

from sync_exporter import __version__
from sync_exporter.cli_args import parse_args
from sync_exporter.logs import LOG_FORMATS, LOG_LEVELS

if TYPE_CHECKING:
    from sync_exporter.config import ConfigError

log = logging.getLogger(__name__)

#: Seconds a SIGTERM/SIGINT waits for requests in flight before closing them.
SHUTDOWN_TIMEOUT = 0.1

DEFAULT_CONFIG_FILE = "sync-exporter.yml"
DEFAULT_LISTEN_ADDRESS = ":9888"


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A parsed ``--web.listen-address``; ``host`` None means every interface."""

    host: str | None
    port: int


def parse_listen_address(text: str) -> ListenAddress:
    """Parse ``[host]:port`` (``:9888``, ``127.0.0.1:9888``, ``[::1]:9888``)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not [host]:port (for example :9888 or 127.0.0.1:9888)"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return ListenAddress(host or None, int(port_text))


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--config.file``, the same flag for the exporter and ``check``."""
    parser.add_argument(
        "--config.file",
        dest="config_file",
        type=Path,
        default=Path(DEFAULT_CONFIG_FILE),
        help=f"configuration file (default: {DEFAULT_CONFIG_FILE})",
    )


def add_listen_flag(
    parser: argparse.ArgumentParser, flag: str, *, dest: str, default: str, help: str
) -> None:
    """Add a ``[HOST]:PORT`` flag (``--web.listen-address`` and the demo's Prometheus one)."""
    parser.add_argument(
        flag,
        dest=dest,
        type=parse_listen_address,
        default=parse_listen_address(default),
        metavar="[HOST]:PORT",
        help=help,
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the exporter's argument parser."""
    from sync_exporter.cli import subcommands_help

    parser = argparse.ArgumentParser(
        prog="sync-exporter",
        usage="%(prog)s [flags] | %(prog)s SUBCOMMAND [flags]",
        description="Prometheus exporter for BitTorrent Sync / Resilio Sync nodes.\n"
        "Without a subcommand: serve /metrics, /probe, /sd and the landing page for the nodes\n"
        "of the configuration file.",
        epilog=subcommands_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_file_flag(parser)
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration file, then exit 0 (valid) or 2 (invalid)",
    )
    add_listen_flag(
        parser,
        "--web.listen-address",
        dest="listen_address",
        default=DEFAULT_LISTEN_ADDRESS,
        help=f"address to serve on (default: {DEFAULT_LISTEN_ADDRESS}, every interface)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        default=None,
        metavar="FILE",
        help="TLS, basic auth and response headers, in exporter-toolkit's web config format; "
        "reloaded with the config (default: none, plain HTTP without auth)",
    )
    parser.add_argument(
        "--scrape.timeout-offset",
        dest="timeout_offset",
        type=_non_negative_seconds,
        default=0.5,
        metavar="SECONDS",
        help="subtracted from Prometheus' scrape timeout so the answer arrives in time "
        "(default: 0.5)",
    )
    parser.add_argument(
        "--no-metrics.nodes",
        dest="metrics_nodes",
        action="store_false",
        help="/metrics serves only the exporter's own and process metrics, not the nodes: "
        "for multi-target setups where Prometheus scrapes every node through /probe",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=LOG_LEVELS,
        default="info",
        help="lowest level of log lines written to stderr (default: info)",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=LOG_FORMATS,
        default="logfmt",
        help="log line format: logfmt (key=value) or json, one object per line (default: logfmt)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"sync-exporter {__version__} (python {platform.python_version()})",
    )
    return parser


def failure_report(path: Path, error: ConfigError) -> str:
    """Return the lines ``--config.check`` and ``check`` print for an invalid config."""
    count = len(error.errors)
    lines = [f"FAILED: {path} has {count} error{'s' if count != 1 else ''}:"]
    lines.extend(f"  {message}" for message in error.errors)
    return "\n".join(lines)


def check_config_file(path: Path, out: TextIO = sys.stdout) -> int:
    """Validate ``path`` for ``--config.check``: print the verdict, return 0 or 2."""
    from sync_exporter.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(failure_report(path, exc), file=out)
        return 2
    names = ", ".join(node.name for node in config.nodes)
    count = len(config.nodes)
    print(f"SUCCESS: {path} is valid: {count} node{'s' if count != 1 else ''} ({names})", file=out)
    return 0


def check_web_config_file(path: Path, out: TextIO) -> int:
    """Validate ``path`` for ``--config.check --web.config.file``: print, return 0 or 2."""
    from sync_exporter.config import ConfigError
    from sync_exporter.webconfig import load_web_config

    try:
        web = load_web_config(path)
    except ConfigError as exc:
        print(failure_report(path, exc), file=out)
        return 2
    users = len(web.basic_auth_users)
    tls = "plain HTTP" if web.tls is None else f"TLS, client_auth_type {web.tls.client_auth_type}"
    auth = f"basic auth for {users} user{'s' if users != 1 else ''}" if users else "no basic auth"
    print(f"SUCCESS: {path} is a valid web config: {tls}, {auth}", file=out)
    return 0


def main(argv: Sequence[str]) -> int:
    """Run the exporter until SIGTERM/SIGINT; return the process exit code.

    2: bad flags or an invalid config; 1: cannot serve (address in use); 0: clean stop.
    """
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args

    from sync_exporter.config import ConfigError, load_config
    from sync_exporter.logs import setup_logging
    from sync_exporter.memory import keep_large_buffers_on_mmap, tune_garbage_collector
    from sync_exporter.webconfig import ServerTLS, WebConfig, load_web_config

    config_file: Path = args.config_file
    web_config_file: Path | None = args.web_config_file
    if args.config_check:
        code = check_config_file(config_file, sys.stdout)
        if web_config_file is not None:
            code = max(code, check_web_config_file(web_config_file, sys.stdout))
        return code

    setup_logging(args.log_level, args.log_format)
    web_config = WebConfig()
    try:
        config = load_config(config_file)
        if web_config_file is not None:
            web_config = load_web_config(web_config_file)
    except ConfigError as exc:
        for error in exc.errors:
            log.error("invalid configuration", extra={"file": exc.source or "", "err": error})
        return 2
    except OSError as exc:
        log.error(
            "cannot read the configuration file",
            extra={"file": str(config_file), "err": exc.strerror or type(exc).__name__},
        )
        return 2
    tls = None
    if web_config.tls is not None:
        try:
            tls = ServerTLS(web_config.tls)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.error(
                "cannot load the TLS certificate",
                extra={"file": str(web_config_file), "err": type(exc).__name__},
            )
            return 2

    from sync_exporter.server import Settings, create_app

    address: ListenAddress = args.listen_address
    settings = Settings(
        config=config,
        config_file=config_file,
        timeout_offset=args.timeout_offset,
        handle_sighup=True,
        metrics_nodes=args.metrics_nodes,
        web_config_file=web_config_file,
        web_config=web_config,
        tls=tls,
    )
    log.info(
        "starting sync-exporter",
        extra={
            "version": __version__,
            "address": f"{address.host or ''}:{address.port}",
            "nodes": len(config.nodes),
            "tls": tls is not None,
            "basic_auth": bool(web_config.basic_auth_users),
        },
    )
    keep_large_buffers_on_mmap()  # steady memory across scrapes of a large fleet
    tune_garbage_collector()  # a scrape's short-lived objects are freed by refcounting
    try:
        # aiohttp's access log stays on: setup_logging shows its lines at debug only.
        web.run_app(
            create_app(settings),
            host=address.host,
            port=address.port,
            print=None,
            ssl_context=tls.context if tls is not None else None,
            # SIGTERM is honoured within a second: a scrape still in flight after this
            # long is cut off (that one scrape fails; Prometheus tries again at its next
            # interval) rather than holding a restart up for the whole scrape timeout.
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
    except OSError as exc:
        log.error(
            "cannot serve",
            extra={"address": f"{address.host or ''}:{address.port}", "err": str(exc)},
        )
        return 1
    log.info("stopped")
    return 0
