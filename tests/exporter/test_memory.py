"""Process-wide memory tuning: the collector still reclaims cycles after it is tuned."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run in a child: the tuning is process-wide, and pytest's own process must keep its GC.
_CHILD = textwrap.dedent(
    """
    import gc, weakref
    from sync_exporter.memory import GC_YOUNG_THRESHOLD, tune_garbage_collector

    tune_garbage_collector()
    assert gc.isenabled()
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    ref = cycle()
    assert ref() is not None  # unreachable, but only a collection can free a cycle
    kept = []
    for _ in range(3 * GC_YOUNG_THRESHOLD):  # allocations alone must trigger one
        kept.append([])
    print("reclaimed" if ref() is None else "leaked")
    """
)


def test_tuned_collector_still_reclaims_cycles_without_being_asked() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "reclaimed"
