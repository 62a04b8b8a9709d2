"""Log lines the way Prometheus components write them: logfmt or JSON, one event per line.

Call sites use plain :mod:`logging` with context in ``extra``::

    log.warning("node scrape failed", extra={"node": "nas", "reason": "timeout"})

which :func:`setup_logging` renders as this one line (wrapped here)::

    ts=2026-11-30T10:00:00.000Z level=warn logger=sync_exporter.scrape
    msg="node scrape failed" node=nas reason=timeout

Every ``extra`` key becomes a field, in the order given, so log pipelines (Loki, jq) can
filter on ``node`` or ``reason`` without parsing messages.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JSONFormatter",
    "LogfmtFormatter",
    "setup_logging",
]

#: Values accepted by ``--log.level``, least to most severe.
LOG_LEVELS = ("debug", "info", "warn", "error")
#: Values accepted by ``--log.format``.
LOG_FORMATS = ("logfmt", "json")

_LEVEL_NUMBERS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)
#: Field names the formatters write themselves; an ``extra`` key equal to one is renamed.
_RESERVED = ("ts", "level", "logger", "msg", "exc", "stack")
_BARE_KEY = re.compile(r"[^\s=\"]+")


def _level_name(levelno: int) -> str:
    """Map a logging level to the Prometheus name (``warn``, not ``WARNING``)."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def _timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds, as Prometheus logs: ``2026-11-30T10:00:00.000Z``."""
    seconds, millis = divmod(round(created * 1000), 1000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def _fields(record: logging.LogRecord) -> list[tuple[str, object]]:
    """Return the record's fields in output order: fixed ones, then ``extra`` as given."""
    fields: list[tuple[str, object]] = [
        ("ts", _timestamp(record.created)),
        ("level", _level_name(record.levelno)),
        ("logger", record.name),
        ("msg", record.getMessage()),
    ]
    for key, value in vars(record).items():
        if key not in _RECORD_ATTRIBUTES:
            fields.append((f"extra_{key}" if key in _RESERVED else key, value))
    if record.exc_info:
        fields.append(("exc", logging.Formatter().formatException(record.exc_info)))
    elif record.exc_text:
        fields.append(("exc", record.exc_text))
    if record.stack_info:
        fields.append(("stack", record.stack_info))
    return fields


def _logfmt_key(key: str) -> str:
    """Keys cannot be quoted in logfmt: replace spaces, ``=`` and quotes with ``_``."""
    cleaned = "".join(c if c.isprintable() and c not in ' ="' else "_" for c in key)
    return cleaned or "_"


def _logfmt_value(value: object) -> str:
    """Render a value; quote it when it is empty or holds spaces, ``=``, quotes or controls.

    Inside quotes, ``"`` and ``\\`` are backslash-escaped, newline, CR and tab become
    ``\\n``, ``\\r``, ``\\t`` and other control characters ``\\u00XX``; non-ASCII text is
    kept as UTF-8 (the same rules as go-logfmt, which Prometheus uses).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and _BARE_KEY.fullmatch(text) and text.isprintable():
        return text
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


class LogfmtFormatter(logging.Formatter):
    """``key=value`` pairs on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one logfmt line."""
        return " ".join(f"{_logfmt_key(k)}={_logfmt_value(v)}" for k, v in _fields(record))


def _json_value(value: object) -> object:
    """Keep JSON's own scalar types; anything else (paths, enums, secrets) as its ``str``.

    NaN and infinities become text too: JSON has no literal for them.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class JSONFormatter(logging.Formatter):
    """One JSON object per line, keys in the same order as logfmt."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON (UTF-8, not ``\\u``-escaped)."""
        payload = {key: _json_value(value) for key, value in _fields(record)}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler :func:`setup_logging` installed, so a second call replaces it."""


def setup_logging(level: str, fmt: str, stream: TextIO = sys.stderr) -> None:
    """Send all log records at ``level`` or above to ``stream`` in ``fmt``.

    ``level`` is one of :data:`LOG_LEVELS`, ``fmt`` one of :data:`LOG_FORMATS`; anything
    else raises ValueError. Calling it again replaces the previous setup. aiohttp's
    per-request access log is kept at warn unless ``level`` is debug: an exporter
    scraped every 15 s should not log every scrape.
    """
    if level not in _LEVEL_NUMBERS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler(stream)
    handler.setFormatter(LogfmtFormatter() if fmt == "logfmt" else JSONFormatter())
    root.addHandler(handler)
    root.setLevel(_LEVEL_NUMBERS[level])
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
