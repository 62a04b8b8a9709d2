"""Benchmark: what decoding one answer costs at the ``max_response_items`` limit.

``json.loads`` holds the interpreter for the whole decode, so a worker thread would not
keep the event loop free: the count of JSON values (checked before decoding) is what
bounds how long a node's answer can stall every other request. This script builds, for
the worst shapes we know (empty objects, nested objects, numbers, floats, short strings,
folder-like entries), the largest body the default limit lets through, decodes it and
prints the decode time and the memory the decoded value takes, beside the reference the
limit was chosen for (a fraction of a second, a few tens of MiB). It also prints what the
same shapes at 10 million values would have cost, which the limit now refuses in the
time it takes to count bytes.

    .venv/bin/python benchmarks/json_limit.py [--items 250000] [--rounds 3]

Figures are printed, not asserted: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable

from sync_exporter.client import json_items
from sync_exporter.config import DEFAULT_MAX_RESPONSE_ITEMS

#: What the default limit was chosen for: the most one answer may stall the event loop.
REFERENCE_SECONDS = 0.25
REFERENCE_MIB = 32.0

FOLDER = (
    b'{"dir":"/volume1/share","secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",'
    b'"type":"read_write","size":123456,"files":12,"error":0,"indexing":0}'
)

#: shape -> (one element, how many values one element counts for json_items)
SHAPES: dict[str, bytes] = {
    "empty objects [{},...]": b"{}",
    'nested objects [{"a":{}},...]': b'{"a":{}}',
    "zeros [0,...]": b"0",
    "floats [1.5,...]": b"1.5",
    'strings ["abcdefgh",...]': b'"abcdefgh"',
    "get_folders entries": FOLDER,
}


def body_at(element: bytes, items: int) -> bytes:
    """The longest list of ``element`` whose json_items count stays within ``items``."""
    per = json_items(b"[" + element + b"," + element + b"]") - json_items(b"[" + element + b"]")
    count = max(1, (items - 2) // per)
    return b"[" + b",".join([element] * count) + b"]"


def measure(body: bytes, rounds: int) -> tuple[float, float]:
    """Best decode time over ``rounds`` and the decoded value's size in MiB."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        value = json.loads(body)
        best = min(best, time.perf_counter() - started)
        del value
    tracemalloc.start()
    value = json.loads(body)
    size = tracemalloc.get_traced_memory()[0] / (1 << 20)
    tracemalloc.stop()
    del value
    return best, size


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=DEFAULT_MAX_RESPONSE_ITEMS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"limit {args.items} values; reference: decode <= {REFERENCE_SECONDS} s, "
        f"decoded value <= {REFERENCE_MIB:.0f} MiB"
    )
    print(f"{'shape':32} {'bytes':>9} {'decode':>9} {'decoded':>9}   refused at 10M values")
    for name, element in SHAPES.items():
        body = body_at(element, args.items)
        seconds, mib = measure(body, args.rounds)
        huge = body_at(element, 10_000_000)
        count = timed(lambda huge=huge: json_items(huge))  # type: ignore[misc]
        print(
            f"{name:32} {len(body) / 1e6:7.1f}MB {seconds * 1000:7.0f}ms {mib:7.1f}MiB"
            f"   {len(huge) / 1e6:6.1f} MB counted in {count * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
