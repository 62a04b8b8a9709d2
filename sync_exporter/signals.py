"""SIGINT and SIGTERM as an asyncio event, for the commands that run until stopped.

Why one module: the handlers must be in place before a command starts anything. A
handler installed only once the banner is printed leaves a window in which Python's
default disposition ends the process without its clean-up; the demo then leaves its
Prometheus running, orphaned, holding the demo's stdout open for whoever reads it.
The exporter itself does not use this: ``aiohttp.web.run_app`` owns its signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: The signals that ask a long-running command to stop cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_requested() -> Iterator[asyncio.Event]:
    """Yield an event set by SIGINT or SIGTERM while the block runs.

    The default handlers come back on exit, so a second Ctrl-C after the clean-up has
    finished behaves as usual. Must be entered inside a running event loop.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """Return what ``work`` gives, or ``None`` as soon as ``stop`` is set first.

    For the slow steps of a start-up (waiting for a child to become ready) that a
    SIGTERM must not have to outwait; ``work`` is cancelled when the stop wins.
    """
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()
