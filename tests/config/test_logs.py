"""Log lines: exact logfmt and JSON output, quoting, levels, and re-configuration."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import pytest

from sync_exporter.logs import setup_logging

pytestmark = pytest.mark.usefixtures("clean_logging")

#: 2026-11-30T10:00:00.042Z
CREATED = 1_796_032_800.042


def _emit(
    level: int,
    msg: str,
    *args: object,
    extra: dict[str, Any] | None = None,
    name: str = "sync_exporter.scrape",
    exc_info: Any = None,
) -> None:
    """Log through the real handler chain with a fixed timestamp."""
    logger = logging.getLogger(name)
    record = logger.makeRecord(name, level, "f.py", 1, msg, args, exc_info, extra=extra)
    record.created = CREATED
    logger.handle(record)


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_logfmt_line_matches_prometheus_style() -> None:
    out = io.StringIO()
    setup_logging("info", "logfmt", out)
    _emit(logging.WARNING, "node scrape failed", extra={"node": "nas", "reason": "timeout"})
    assert _lines(out) == [
        "ts=2026-11-30T10:00:00.042Z level=warn logger=sync_exporter.scrape "
        'msg="node scrape failed" node=nas reason=timeout'
    ]


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("", '""'),
        ('say "hi"', r'"say \"hi\""'),
        ("a=b", '"a=b"'),
        ("line1\nline2\r\tend", r'"line1\nline2\r\tend"'),
        ("bell\x07", r'"bell\u0007"'),
        (r"C:\Sync", r"C:\Sync"),
        (r'C:\My "Sync"', r'"C:\\My \"Sync\""'),
        ("Фото", "Фото"),
        ("Мои фото", '"Мои фото"'),
        ("日本語\u00a0x", '"日本語\u00a0x"'),
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (0.25, "0.25"),
    ],
)
def test_logfmt_quoting(value: object, rendered: str) -> None:
    out = io.StringIO()
    setup_logging("info", "logfmt", out)
    _emit(logging.INFO, "m", extra={"v": value})
    assert _lines(out) == [
        f"ts=2026-11-30T10:00:00.042Z level=info logger=sync_exporter.scrape msg=m v={rendered}"
    ]


def test_logfmt_message_args_keys_and_reserved_names() -> None:
    out = io.StringIO()
    setup_logging("debug", "logfmt", out)
    _emit(
        logging.DEBUG,
        "scraped %d folders",
        12,
        extra={"odd key=": 1, "ts": "mine", "level": "x"},
        name="sync_exporter.client",
    )
    assert _lines(out) == [
        "ts=2026-11-30T10:00:00.042Z level=debug logger=sync_exporter.client "
        'msg="scraped 12 folders" odd_key_=1 extra_ts=mine extra_level=x'
    ]


def test_json_line_is_one_object_with_the_same_fields() -> None:
    out = io.StringIO()
    setup_logging("info", "json", out)
    _emit(
        logging.ERROR,
        "node scrape failed",
        extra={"node": "Мой nas", "reason": "auth_error", "up": False, "n": None, "obj": Exception},
    )
    (line,) = _lines(out)
    assert line == (
        '{"ts":"2026-11-30T10:00:00.042Z","level":"error","logger":"sync_exporter.scrape",'
        '"msg":"node scrape failed","node":"Мой nas","reason":"auth_error","up":false,'
        '"n":null,"obj":"<class \'Exception\'>"}'
    )
    assert json.loads(line)["node"] == "Мой nas"


def test_json_stays_valid_for_non_finite_numbers() -> None:
    out = io.StringIO()
    setup_logging("info", "json", out)
    _emit(logging.INFO, "m", extra={"a": float("nan"), "b": float("inf"), "c": 1.5})
    (line,) = _lines(out)
    assert line.endswith('"msg":"m","a":"nan","b":"inf","c":1.5}')
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_json_newlines_stay_on_one_line() -> None:
    out = io.StringIO()
    setup_logging("info", "json", out)
    _emit(logging.INFO, "two\nlines", extra={"err": 'a "quoted"\nvalue'})
    (line,) = _lines(out)
    assert json.loads(line)["err"] == 'a "quoted"\nvalue'
    assert json.loads(line)["msg"] == "two\nlines"


def test_exception_is_one_escaped_field() -> None:
    out = io.StringIO()
    setup_logging("info", "logfmt", out)
    try:
        raise ValueError("bad thing")
    except ValueError:
        _emit(logging.ERROR, "crashed", exc_info=sys.exc_info())
    (line,) = _lines(out)
    assert line.startswith(
        "ts=2026-11-30T10:00:00.042Z level=error logger=sync_exporter.scrape msg=crashed "
        'exc="Traceback (most recent call last):\\n'
    )
    assert line.endswith('ValueError: bad thing"')


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("debug", ["debug", "info", "warn", "error", "error"]),
        ("info", ["info", "warn", "error", "error"]),
        ("warn", ["warn", "error", "error"]),
        ("error", ["error", "error"]),
    ],
)
def test_level_filters(level: str, shown: list[str]) -> None:
    out = io.StringIO()
    setup_logging(level, "logfmt", out)
    log = logging.getLogger("sync_exporter.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    levels = [line.split()[1].removeprefix("level=") for line in _lines(out)]
    assert levels == shown


def test_setup_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("info", "logfmt", first)
    setup_logging("info", "json", second)
    logging.getLogger("sync_exporter.test").info("once")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


def test_access_log_only_at_debug() -> None:
    out = io.StringIO()
    setup_logging("info", "logfmt", out)
    logging.getLogger("aiohttp.access").info("GET /metrics")
    assert out.getvalue() == ""
    setup_logging("debug", "logfmt", out)
    logging.getLogger("aiohttp.access").info("GET /metrics")
    assert "GET /metrics" in out.getvalue()


@pytest.mark.parametrize(("level", "fmt"), [("warning", "logfmt"), ("info", "text")])
def test_unknown_level_or_format_is_refused(level: str, fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown log"):
        setup_logging(level, fmt, io.StringIO())
