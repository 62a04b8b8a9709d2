"""SIGINT/SIGTERM as an event: sent for real to this process, inside a running loop."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from sync_exporter.signals import stop_requested, unless_stopped


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_sets_the_event_instead_of_ending_the_process(
    sig: signal.Signals,
) -> None:
    with stop_requested() as stop:
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), 5)
    assert stop.is_set()


async def test_the_previous_handlers_come_back_on_exit() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_requested():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


async def test_unless_stopped_gives_the_result_when_the_work_finishes_first() -> None:
    stop = asyncio.Event()

    async def work() -> str:
        return "ready"

    assert await unless_stopped(stop, work()) == "ready"


async def test_unless_stopped_cancels_the_work_when_stop_comes_first() -> None:
    stop = asyncio.Event()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    waiting = asyncio.ensure_future(unless_stopped(stop, slow()))
    await started.wait()
    stop.set()
    assert await asyncio.wait_for(waiting, 5) is None
    assert cancelled.is_set()


async def test_unless_stopped_passes_the_works_error_on() -> None:
    async def broken() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await unless_stopped(asyncio.Event(), broken())
