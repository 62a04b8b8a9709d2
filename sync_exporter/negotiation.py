"""Content negotiation for ``/metrics`` and ``/probe``: ``Accept`` and ``Accept-Encoding``.

Whatever a client sends, the answer is a format (200) or "nothing acceptable" (406),
never an exception: headers are parsed here by a tolerant reader (quoted parameters,
junk items, bad weights are skipped), and the one media range chosen is handed to
prometheus_client's encoder selection rewritten in a canonical form it cannot trip on
(``version="1.0.0"`` with quotes made it raise). A header that names nothing we serve
(``application/json``) gets the text format, as Prometheus' own exporters do; a 406 is
only for a client that explicitly refuses both formats (``*/*;q=0``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest
from prometheus_client.registry import Collector

Encoder = Callable[[Collector], bytes]

OPENMETRICS = "application/openmetrics-text"
TEXT = "text/plain"

#: RFC 9110 section 12.4.2: 0 to 1 with at most three decimals.
_QVALUE = re.compile(r"0(?:\.\d{0,3})?|1(?:\.0{0,3})?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Versions passed on to the encoder; any other is answered in the format's default one.
_VERSIONS = {OPENMETRICS: frozenset({"1.0.0"}), TEXT: frozenset({"0.0.4", "1.0.0"})}
_ESCAPINGS = frozenset({"allow-utf-8", "underscores", "dots", "values"})
#: Longest header value read; longer ones are cut (the rest cannot change the answer much).
_MAX_HEADER = 4096


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One item of an ``Accept`` header: ``type/subtype``, its parameters and weight."""

    media_type: str  # lower case, e.g. "text/plain", "text/*", "*/*"
    params: tuple[tuple[str, str], ...]  # keys lower case, values unquoted
    q: float

    def param(self, key: str) -> str:
        """The value of parameter ``key``, or ""."""
        return next((v for k, v in self.params if k == key), "")


def _items(header: str) -> Iterator[str]:
    """Split on commas outside double quotes."""
    item: list[str] = []
    quoted = escaped = False
    for char in header[:_MAX_HEADER]:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            yield "".join(item)
            item = []
            continue
        item.append(char)
    yield "".join(item)


def _params(text: str) -> Iterator[tuple[str, str]]:
    """``;key=value`` pairs of one item (``value`` may be quoted); junk is skipped."""
    for part in re.finditer(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', text):
        key, value = part.group(1).lower(), part.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        yield key, value


def _weight(params: list[tuple[str, str]]) -> float | None:
    """The ``q`` parameter (1 when absent), or None when it is not a valid qvalue."""
    for key, value in params:
        if key == "q":
            return float(value) if _QVALUE.fullmatch(value) else None
    return 1.0


def parse_accept(header: str) -> list[MediaRange]:
    """Every well-formed media range of ``header``, in order; malformed items are skipped."""
    ranges: list[MediaRange] = []
    for item in _items(header):
        media_type = item.split(";", 1)[0].strip().lower()
        kind, slash, sub = media_type.partition("/")
        if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(sub):
            continue
        params = list(_params(item[len(item.split(";", 1)[0]) :]))
        q = _weight(params)
        if q is None:
            continue
        ranges.append(MediaRange(media_type, tuple(p for p in params if p[0] != "q"), q))
    return ranges


#: Which of our two formats a media range stands for.
_FORMAT_OF = {
    OPENMETRICS: OPENMETRICS,
    "application/*": OPENMETRICS,
    TEXT: TEXT,
    "text/*": TEXT,
    "*/*": TEXT,
}


def negotiate(accept: str) -> tuple[Encoder, str] | None:
    """The encoder and Content-Type for an ``Accept`` header, or None for a 406.

    The acceptable range with the highest weight wins (the first among equals); an
    exact ``text/plain;q=0`` or ``application/openmetrics-text;q=0`` also rules that
    format out for the wildcards.
    """
    ranges = parse_accept(accept)
    ours = [r for r in ranges if r.media_type in _FORMAT_OF]
    refused = {r.media_type for r in ours if r.q == 0 and r.media_type in (OPENMETRICS, TEXT)}
    candidates = [r for r in ours if r.q > 0 and _FORMAT_OF[r.media_type] not in refused]
    if not candidates:
        return None if ours else (generate_latest, CONTENT_TYPE_PLAIN_0_0_4)
    best = max(candidates, key=lambda r: r.q)  # max keeps the first of equals
    return _encoder(_FORMAT_OF[best.media_type], best)


def _encoder(media_type: str, chosen: MediaRange) -> tuple[Encoder, str]:
    """Ask prometheus_client for the encoder of a canonical, validated media range."""
    canonical = media_type
    version, escaping = chosen.param("version"), chosen.param("escaping")
    if chosen.media_type == media_type and version in _VERSIONS[media_type]:
        canonical += f"; version={version}"
        if escaping in _ESCAPINGS:
            canonical += f"; escaping={escaping}"
    try:
        return choose_encoder(canonical)
    except Exception:  # a future library check we did not foresee: text never fails
        return generate_latest, CONTENT_TYPE_PLAIN_0_0_4


def _codings(header: str) -> dict[str, float]:
    """``Accept-Encoding`` as coding -> weight (an invalid weight counts as 0)."""
    weights: dict[str, float] = {}
    for item in _items(header):
        coding = item.split(";", 1)[0].strip().lower()
        if not coding:
            continue
        q = _weight(list(_params(item[len(item.split(";", 1)[0]) :])))
        weights[coding] = max(weights.get(coding, 0.0), q or 0.0)
    return weights


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (RFC 9110 section 12.5.3).

    ``gzip`` (or ``x-gzip``) with a non-zero weight says yes, and so does ``*`` when gzip
    is not named; ``gzip;q=0`` is an explicit no, which a substring test would miss.
    Without gzip the body goes uncompressed, even after ``identity;q=0``: RFC 9110 asks
    for that rather than a 406 when no coding is acceptable.
    """
    weights = _codings(header)
    named = [weights[c] for c in ("gzip", "x-gzip") if c in weights]
    if named:
        return max(named) > 0
    return weights.get("*", 0.0) > 0
