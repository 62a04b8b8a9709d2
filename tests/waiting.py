"""Waiting on a condition instead of sleeping for a fixed time.

A fixed "let it start" sleep is too long on a fast machine and too short on a loaded
one (this suite shares two cores with others); a test waits for the thing it needs to
be true, with a generous bound that only a real failure reaches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: Seconds between two looks at the condition.
POLL = 0.005


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Return as soon as ``condition()`` is true; fail naming ``what`` after ``within`` s."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"still not {what} after {within:g}s")
        await asyncio.sleep(POLL)
