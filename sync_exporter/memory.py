"""Process-wide memory tuning for the exporter (glibc's allocator only).

Every scrape of a large fleet builds exposition buffers of several megabytes and frees
them once the answer is sent. glibc serves big allocations with ``mmap`` and returns
them to the system when freed, but its *dynamic* threshold rises to the size of each
freed block: after the first scrape, the next scrape's buffers come from the heap
instead, where the small, long-lived objects of the scrape (snapshots, cached label
sets) pin them, and the resident size creeps up scrape after scrape (measured: peak RSS
107 MiB after four scrapes of 117,000 samples, 96 MiB with the threshold fixed;
docs/benchmarks.md). Fixing the threshold at glibc's own default keeps big buffers on
``mmap`` for good.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
