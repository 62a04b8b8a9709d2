"""``sync-exporter check``: connect to every configured node once and say what works.

This is the first command a new user runs, before Prometheus is involved: it loads the
config exactly as the exporter does, scrapes every node with the exporter's own
:class:`~sync_exporter.scrape.Scraper` (so what it reports is what ``/metrics`` would
show), and prints one row per node with the reason for any failure in plain words, then
every folder problem that one look can tell (in error, paused, no connected peer, a copy
behind the largest copy of its folder), the same kinds as the landing page lists.

Exit codes: 0 every node and folder OK, 1 some node failed, 2 bad flags or an invalid
config, 3 every node answered but some folder has a problem.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from sync_exporter.cli_args import parse_args
from sync_exporter.config import (
    Config,
    ConfigError,
    format_duration,
    load_config,
    parse_duration,
)
from sync_exporter.exporter_cli import add_config_file_flag, failure_report
from sync_exporter.logs import LOG_LEVELS, setup_logging
from sync_exporter.model import NodeSnapshot, Outcome
from sync_exporter.problems import Problem, connected, find_problems

#: Upper bound on each node's check; a node's own ``timeout`` applies when shorter.
#: (Not config.DEFAULT_TIMEOUT, the per-request timeout of a node that sets none.)
CHECK_TIMEOUT = "10s"

_YES, _NO, _UNKNOWN = "yes", "no", "-"
_HEADERS = (
    "NODE",
    "URL",
    "REACHABLE",
    "AUTH",
    "API",
    "VERSION",
    "FOLDERS",
    "DISTINCT PEERS",
    "PROBLEM",
)
#: Exit code when every node answered but some folder has a problem.
FOLDER_PROBLEMS = 3


@dataclass(frozen=True, slots=True)
class Row:
    """One node's line in the table; ``ok`` is True only when nothing at all failed."""

    node: str
    url: str
    reachable: str
    auth: str
    api: str
    version: str
    folders: str
    peers: str
    problem: str
    ok: bool
    #: Why the node was read through the API in ``api`` (empty when it was not read).
    why: str = ""
    #: The scrape used most of its time budget (empty when it did not).
    slow: str = ""

    def cells(self) -> tuple[str, ...]:
        """The printed columns, in header order."""
        return (
            self.node,
            self.url,
            self.reachable,
            self.auth,
            self.api,
            self.version,
            self.folders,
            self.peers,
            self.problem,
        )


def _up_row(node: str, url: str, snap: NodeSnapshot) -> Row:
    """A node whose API answered: OK unless some per-folder or metadata call failed."""
    problems = []
    failed = sum(1 for f in snap.folders if f.peers is None)
    if failed:
        problems.append(f"get_folder_peers failed for {failed} folder{'s' if failed > 1 else ''}")
    if snap.version is None:
        problems.append("get_version failed")
    # Peer devices, each counted once however many folders it shares (as on the landing page).
    peers = len({p.peer_id for f in snap.folders for p in connected(f)})
    return Row(
        node=node,
        url=url,
        reachable=_YES,
        auth=_YES,
        api=snap.api or _YES,
        version=snap.version or _UNKNOWN,
        folders=str(len(snap.folders)),
        peers=f"{peers}+?" if failed else str(peers),
        problem="; ".join(problems) or _UNKNOWN,
        ok=not problems,
        why=snap.api_reason or "",
    )


def row_for(node: str, url: str, snap: NodeSnapshot) -> Row:
    """Translate one snapshot into a table row: what was proven, what failed, and why.

    The reason is the scraper's own message (built by the client from fixed text, so it
    holds no secret): "wrong login or password (HTTP 401)", "cannot connect: connection
    refused", "timed out after 8s"...
    """
    if snap.up:
        return _up_row(node, url, snap)
    reason = snap.error or (snap.outcome.value if snap.outcome else "unknown failure")
    reachable = auth = api = _UNKNOWN
    outcome = snap.outcome
    if outcome in (Outcome.CONNECT_ERROR, Outcome.TIMEOUT):
        reachable = _NO
    elif outcome is Outcome.AUTH_ERROR:
        # No HTTP status means the request was never sent (password file unreadable).
        if "HTTP " in reason:
            reachable, auth = _YES, _NO
    elif outcome is Outcome.API_DISABLED:
        reachable, auth, api = _YES, _YES, _NO
    else:  # HTTP_ERROR, INVALID_RESPONSE, API_ERROR: something answered, but not usefully
        reachable = _YES
    return Row(node, url, reachable, auth, api, _UNKNOWN, _UNKNOWN, _UNKNOWN, reason, ok=False)


def render_table(rows: Sequence[Row], out: TextIO, problems: Sequence[Problem] = ()) -> None:
    """Print ``rows`` as aligned columns under a header, the folder problems, then a verdict."""
    table = [_HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADERS) - 1)]
    for line in table:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*padded, line[-1]]).rstrip(), file=out)
    chosen = [row for row in rows if row.why]
    if chosen:
        print(file=out)
        width = max(len(row.node) for row in chosen)
        for row in chosen:
            print(f"{row.node.ljust(width)}  read through API {row.api}: {row.why}", file=out)
    slow = [row for row in rows if row.slow]
    if slow:
        print(file=out)
        for row in slow:
            print(f"warning: {row.node}: {row.slow}", file=out)
    if problems:
        print(file=out)
        render_problems(problems, out)
    failed = [row.node for row in rows if not row.ok]
    print(file=out)
    if failed:
        print(
            f"{len(rows) - len(failed)} of {len(rows)} nodes OK; failed: {', '.join(failed)}",
            file=out,
        )
    else:
        print("the node is OK" if len(rows) == 1 else f"all {len(rows)} nodes OK", file=out)
    if problems:
        counts = Counter(p.kind.value for p in problems)
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        folders = "folder problem" if len(problems) == 1 else "folder problems"
        print(f"{len(problems)} {folders}: {kinds}", file=out)


def render_problems(problems: Sequence[Problem], out: TextIO) -> None:
    """Print one aligned line per folder problem under a header."""
    table = [("FOLDER PROBLEM", "NODE", "FOLDER", "DETAIL")]
    table += [(p.kind.value, p.node, p.folder, p.detail) for p in problems]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    for line in table:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*padded, line[-1]]).rstrip(), file=out)
    print(
        "(one look: a stalled copy and stuck indexing take two; the exporter's landing page "
        "shows them)",
        file=out,
    )


async def scrape_once(config: Config, timeout: float) -> list[NodeSnapshot]:  # noqa: ASYNC109
    """Scrape every node once, concurrently, each within ``timeout`` (or its own, if shorter)."""
    from sync_exporter.scrape import Scraper

    scraper = Scraper()
    try:
        return await scraper.scrape(config.nodes, timeout=timeout)
    finally:
        await scraper.close()


def rows_for(
    config: Config, snapshots: Sequence[NodeSnapshot], timeout: float | None = None
) -> list[Row]:
    """One table row per configured node, in config order.

    With ``timeout`` (check's ``--timeout``), a node whose scrape used more than half of
    its budget, ``min(timeout, node.timeout)``, gets a warning.
    """
    return [
        replace(row_for(n.name, n.url, s), slow=slow_warning(s, min(timeout, n.timeout)))
        if timeout is not None
        else row_for(n.name, n.url, s)
        for n, s in zip(config.nodes, snapshots, strict=True)
    ]


#: Share of its budget above which a node's (first, heaviest) scrape is worth a warning.
SLOW_SHARE = 0.5


def slow_warning(snap: NodeSnapshot, budget: float) -> str:
    """Why a node that answered is close to timing out, or "" when it is not.

    ``check``'s scrape is a first one (every get_secrets and get_folder_prefs too), so it
    is slower than the exporter's usual scrape; but the exporter scrapes every node at
    once on the same CPU, and a node past its budget is reported down. Past half of it,
    say so before it happens (docs/operations.md, "Sizing the timeout").
    """
    if not snap.up or snap.duration_seconds <= SLOW_SHARE * budget:
        return ""
    return (
        f"the scrape took {snap.duration_seconds:.1f}s of its {format_duration(budget)} "
        f"budget ({snap.duration_seconds / budget:.0%}); raise the node's timeout (and "
        "Prometheus' scrape_timeout), see docs/operations.md#sizing-the-timeout"
    )


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the ``check`` subcommand's argument parser."""
    parser = argparse.ArgumentParser(
        prog="sync-exporter check",
        description="Connect to every configured Sync node once and print what works: "
        "reachable, login accepted, API enabled, version, folders and distinct connected "
        "peers; then every folder problem one look can tell (in error, no connected peer, "
        "behind another copy). Exit 0 if every node and folder is OK, 1 if a node failed, "
        "2 for an invalid config, 3 if every node answered but a folder has a problem.",
    )
    add_config_file_flag(parser)
    parser.add_argument(
        "--timeout",
        type=_duration,
        default=parse_duration(CHECK_TIMEOUT),
        metavar="DURATION",
        help=f"longest wait per node, e.g. 10s or 500ms; a node's own shorter timeout "
        f"applies (default: {CHECK_TIMEOUT})",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=LOG_LEVELS,
        default="error",
        help="log lines to stderr at this level (default: error: the table says it all)",
    )
    return parser


def main(argv: list[str], out: TextIO | None = None) -> int:
    """Run ``sync-exporter check``; return 0 (all OK), 1 (a node failed), 2 (bad input) or 3.

    3: every node answered, but some folder has a problem (in error, no peer, behind).

    130 when interrupted with Ctrl-C, as a shell reports SIGINT.
    """
    stream = sys.stdout if out is None else out
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    setup_logging(args.log_level, "logfmt")
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        print(failure_report(args.config_file, exc), file=stream)
        return 2
    print(
        f"Checking {len(config.nodes)} node{'s' if len(config.nodes) != 1 else ''} from "
        f"{args.config_file} (timeout {format_duration(args.timeout)})...",
        file=stream,
        flush=True,
    )
    try:
        snapshots = asyncio.run(scrape_once(config, args.timeout))
    except KeyboardInterrupt:
        print("interrupted", file=stream)
        return 130
    rows = rows_for(config, snapshots, args.timeout)
    problems = find_problems({s.node: s for s in snapshots})
    print(file=stream)
    render_table(rows, stream, problems)
    if not all(row.ok for row in rows):
        return 1
    return FOLDER_PROBLEMS if problems else 0
