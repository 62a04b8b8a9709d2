"""Run one simulated node from a Sync config file, as ``btsync --config FILE`` runs one.

The node listens on ``webui.listen`` with ``webui.login``/``password``, enables API v1
only with ``webui.api_key`` (the web GUI API at ``/gui/`` always answers, so a config
without a key is a Resilio Sync 3.x node read through its GUI), keeps its folders
under ``storage_path`` and indexes the real directories again on restart. It runs
until SIGINT, SIGTERM or the ``shutdown`` API method. Exit codes: 0 after a clean
stop, 2 for a bad config or state file, 1 when the address cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from sync_exporter.cli_args import parse_args
from sync_exporter.signals import stop_requested
from sync_exporter.simulator.clock import WallClock
from sync_exporter.simulator.gui import GUI_ONLY_VERSION
from sync_exporter.simulator.node import SimNode
from sync_exporter.simulator.state import NodeState
from sync_exporter.simulator.storage import NodeStorage, StorageError
from sync_exporter.simulator.syncconf import SyncConfig, SyncConfigError, load_sync_config

PROG = "sync-exporter simulate"


async def serve(conf: SyncConfig, *, seed: int | None = None) -> int:
    """Serve one node until a signal or the ``shutdown`` method; return the exit code.

    ``seed`` makes generated secrets repeatable; by default they are fresh on every
    run, so folders added after a restart never collide with stored ones.
    """
    state = NodeState(name=conf.device_name or socket.gethostname())
    if conf.api_key is None:
        # Choice: without a key this is a Resilio Sync 3.x node, the kind that cannot have one.
        state.version = GUI_ONLY_VERSION
    storage = NodeStorage(conf.storage_path)
    with stop_requested() as stop:

        async def on_shutdown() -> None:
            stop.set()

        node = SimNode(
            state,
            clock=WallClock(),
            rng=random.Random(seed),
            login=conf.login,
            password=conf.password,
            api_key=conf.api_key,
            storage=storage,
            on_shutdown=on_shutdown,
        )
        if conf.device_name:
            state.prefs["device_name"] = conf.device_name
        try:
            await node.start(conf.listen_host, conf.listen_port)
        except OSError as exc:
            print(
                f"{PROG}: cannot listen on {conf.listen_host}:{conf.listen_port}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            await node.stop()
            return 1
        print(
            f"{PROG}: node {state.name!r} listening on {node.url}/api and {node.url}/gui/ "
            f"({len(state.folders)} folders, state in {storage.path})",
            flush=True,
        )
        if conf.api_key is None:
            print(
                f"{PROG}: webui.api_key is not set: /api answers HTTP 400 and only the web GUI "
                f"API at /gui/ serves, as on a Resilio Sync {state.version} node",
                flush=True,
            )
        await stop.wait()
        await node.stop()
    print(f"{PROG}: node {state.name!r} stopped", flush=True)
    return 0


def main_sync_config(path: Path, *, seed: int | None = None) -> int:
    """Run ``serve`` for the config file at ``path``; 2 with a message if it is unusable."""
    try:
        conf = load_sync_config(path)
        return asyncio.run(serve(conf, seed=seed))
    except (SyncConfigError, StorageError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sync_exporter.simulator.single CONFIG``: the same as ``simulate --config``."""
    parser = argparse.ArgumentParser(prog="python -m sync_exporter.simulator.single")
    parser.add_argument("config", type=Path, help="Sync config file (JSON with // comments)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    return main_sync_config(args.config)


if __name__ == "__main__":
    sys.exit(main())
