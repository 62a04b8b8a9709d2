"""The document kernel: one way to read a YAML document that a user wrote.

Three schemas stand on it: the exporter config (:mod:`sync_exporter.config`), simulator
scenarios (:mod:`sync_exporter.simulator.scenario`) and the alert tunables
(:mod:`sync_exporter.alerting.tunables`). Whatever the document, the same mistake gets
the same answer:

- :func:`read_document` reads strict YAML (:mod:`sync_exporter.yaml_tree`): duplicate
  keys, merge keys and custom tags are errors, syntax errors never quote the line, and
  ``${VAR}`` is expanded only where the schema allows it (``env`` given).
- :class:`Fields` reads typed values out of the tree and records each problem with its
  key path instead of raising, so one run reports them all; :class:`Schema` declares a
  mapping's keys, and an unknown key gets the nearest known one as a suggestion.
- :func:`parse_duration` is the one duration grammar.
- :class:`DocumentError` carries every problem; each schema raises its own subclass.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sync_exporter.yaml_tree import INVALID, describe, key_path, read_yaml

__all__ = [
    "INVALID",
    "DocumentError",
    "Fields",
    "Schema",
    "describe",
    "key_path",
    "parse_duration",
    "read_document",
]


class DocumentError(Exception):
    """A document is invalid; ``errors`` lists every problem, each with its key path.

    ``source`` (optional) names the file; ``str()`` then prefixes each line with it.
    """

    def __init__(self, errors: list[str], *, source: str | None = None) -> None:
        lines = errors if source is None else [f"{source}: {e}" for e in errors]
        super().__init__("\n".join(lines))
        self.errors = errors
        self.source = source


def read_document(text: str, errors: list[str], env: Mapping[str, str] | None = None) -> object:
    """Return the YAML document ``text`` as plain values, appending problems to ``errors``.

    ``env`` supplies ``${VAR}`` values; None leaves ``$`` alone (schemas without
    variables). An empty document is None.
    """
    return read_yaml(text, env, errors)


# --------------------------------------------------------------------------- durations

#: The one duration grammar: a plain number of seconds, or numbers with units, largest or
#: smallest first, written together (``90``, ``1.5s``, ``500ms``, ``1h30m``, ``7d``, ``2w``).
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+", re.ASCII)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", re.ASCII)
_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
DURATION_HINT = (
    "use a number with ms, s, m, h, d or w (8s, 500ms, 1m30s, 7d) or a plain number of seconds"
)


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` in seconds; raise ValueError with a message fit for users.

    The grammar is the same in every document: ``"8s"``, ``"500ms"``, ``"1m30s"``,
    ``"1d"``, ``"2w"``, or a plain number of seconds (``90`` or ``"90"``). Zero is a
    duration only where the field allows it (``allow_zero``: a point in time, "at 0s");
    a timeout or an alert's ``for`` must be positive.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a duration like 8s, 500ms or 1m, not {describe(value)}")
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(
                float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ValueError(f'"{value}" is not a duration: {DURATION_HINT}')
    else:
        seconds = float(value)
    if allow_zero:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("must be a finite duration, 0 or more")
    elif not (math.isfinite(seconds) and seconds > 0):
        raise ValueError("must be a positive duration")
    return seconds


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True, slots=True)
class Schema:
    """The keys a mapping of a document may hold: ``required`` ones first, then the rest."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every allowed key, in declaration order."""
        return (*self.required, *self.optional)


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_DIGITS = re.compile(r"[0-9]+")


class Fields:
    """Typed readers over a document's tree; problems are recorded, never raised.

    Each reader returns None for a value it refused (after recording why), and skips
    :data:`INVALID` values silently: their problem was reported when the YAML was read.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        """Record ``message`` about the value at ``path``."""
        self.errors.append(f"{path or 'top level'}: {message}")

    def keys(self, value: Mapping[str, object], path: str, schema: Schema) -> None:
        """Report unknown keys (with the nearest known one) and missing required ones."""
        allowed = schema.keys
        for key in value:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {near[0]}?" if near else f"allowed: {', '.join(allowed)}"
                self.error(key_path(path, key), f"unknown key ({hint})")
        for key in schema.required:
            if key not in value:
                self.error(key_path(path, key), "required")

    def mapping(self, value: object, path: str, schema: Schema) -> dict[str, object]:
        """Return the known keys of ``value``, reporting a non-mapping and its key problems.

        A missing block (None) is an empty one.
        """
        if value is None or value is INVALID:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {describe(value)}")
            return {}
        self.keys(value, path, schema)
        return {k: v for k, v in value.items() if k in schema.keys}

    def string(self, value: object, path: str, *, secret: bool = False) -> str | None:
        """Return a non-empty string; messages about ``secret`` values never show them."""
        if value is INVALID:
            return None
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float | bool) else ""
            self.error(path, f"must be a string{hint}, not {describe(value)}")
            return None
        if not value.strip():
            self.error(path, "is empty")
            return None
        if not secret and any(ord(c) < 32 or ord(c) == 127 for c in value):
            self.error(path, "contains control characters")
            return None
        return value

    def boolean(self, value: object, path: str) -> bool | None:
        """Return a YAML boolean, or "true"/"false" text (what a ${VAR} expands to)."""
        if value is INVALID:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        self.error(path, f"must be true or false, not {show(value)}")
        return None

    def positive_int(self, value: object, path: str) -> int | None:
        """Return an integer >= 1 (digits in a string are accepted for ${VAR})."""
        if value is INVALID:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            number = int(value.strip())
        if number is None:
            self.error(path, f"must be a whole number, not {show(value)}")
            return None
        if number < 1:
            self.error(path, f"must be at least 1, not {number}")
            return None
        return number

    def choice(self, value: object, path: str, choices: tuple[str, ...]) -> str | None:
        """Return one of ``choices`` (case-insensitive), naming them all when it is not."""
        if value is INVALID:
            return None
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        self.error(path, f"must be one of {', '.join(choices)}, not {show(value)}")
        return None

    def duration(self, value: object, path: str, *, allow_zero: bool = False) -> float | None:
        """Return seconds by the one grammar (:func:`parse_duration`)."""
        if value is INVALID:
            return None
        try:
            return parse_duration(value, allow_zero=allow_zero)
        except ValueError as exc:
            self.error(path, str(exc))
            return None


def show(value: object) -> str:
    """Quote a short scalar for a message; anything else is named by its type only."""
    if isinstance(value, str) and len(value) <= 40:
        return f'"{value}"'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return describe(value)
