"""Process-wide memory tuning for the exporter: glibc's allocator and Python's collector.

Every scrape of a large fleet builds exposition buffers of several megabytes and frees
them once the answer is sent. glibc serves big allocations with ``mmap`` and returns
them to the system when freed, but its *dynamic* threshold rises to the size of each
freed block: after the first scrape, the next scrape's buffers come from the heap
instead, where the small, long-lived objects of the scrape (snapshots, cached label
sets) pin them, and the resident size creeps up scrape after scrape (measured: peak RSS
107 MiB after four scrapes of 117,000 samples, 96 MiB with the threshold fixed;
docs/benchmarks.md). Fixing the threshold at glibc's own default keeps big buffers on
``mmap`` for good.

The cyclic garbage collector is tuned for the same scrapes (:func:`tune_garbage_collector`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

_log = logging.getLogger(__name__)

#: ``mallopt`` parameter number of M_MMAP_THRESHOLD (glibc malloc.h).
_M_MMAP_THRESHOLD = -3

#: Blocks at least this large are mmap'd (glibc's default before it starts adjusting).
MMAP_THRESHOLD = 128 * 1024


def keep_large_buffers_on_mmap() -> bool:
    """Fix glibc's mmap threshold; return whether it was set (False off glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    _log.debug("malloc mmap threshold fixed", extra={"bytes": MMAP_THRESHOLD, "ok": done})
    return done


#: Tracked objects allocated (net of those freed) between two young collections; CPython's
#: default is 700. A scrape of a large fleet builds tens of thousands of short-lived
#: objects (decoded JSON, parsed entries, snapshots) that reference counting frees, none
#: of them in cycles. With the default the collector runs dozens of times a scrape over
#: objects still in use, promotes them and sweeps them again in the older generations:
#: 10 to 20 % of the exporter's CPU per scrape at 118,000 samples (docs/benchmarks.md).
#: Above a scrape's peak of live objects, it hardly runs at all; cycles (a failed
#: request's traceback and frames) are still reclaimed, a little later.
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Collect young objects less often, and leave startup's objects out of collections.

    ``gc.freeze`` moves everything alive now (modules, classes, the configuration) to a
    generation the collector never walks, so a full collection only looks at what
    scrapes created.
    """
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    _log.debug("garbage collector tuned", extra={"young_threshold": GC_YOUNG_THRESHOLD})
