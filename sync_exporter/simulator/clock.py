"""Simulated time.

Every time-dependent thing in the simulator (transfers, indexing progress, peers
joining, scheduled events) reads ``Clock.now()`` and is advanced by ``World.advance``;
nothing sleeps. Tests use :class:`ManualClock` and move it explicitly, so no test waits
for simulated time to pass; the demo uses :class:`WallClock`, ticked by a background task.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of Unix time in seconds."""

    def now(self) -> float:
        """Return the current simulated Unix time."""
        ...


class ManualClock:
    """A clock that moves only when told to: deterministic tests and benchmarks."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start

    def now(self) -> float:
        """Return the current simulated time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward; negative steps are refused so counters stay monotonic."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self._now += seconds


class WallClock:
    """The real clock, for the demo and interactive use."""

    def now(self) -> float:
        """Return the real Unix time."""
        return time.time()
