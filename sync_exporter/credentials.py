"""Password sources that never show their value, and re-read files so rotation needs no reload.

A password is held behind :meth:`Password.reveal`; ``repr``, ``str`` and f-strings all
give ``<secret>``, so a config, a node or an exception that carries one can be logged or
shown on a page without leaking it. The only way to the value is an explicit ``reveal()``
at the moment the HTTP request is built.
"""

from __future__ import annotations

import hmac
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import final

SECRET_REPR = "<secret>"  # noqa: S105 (the mask, not a password)


class SecretUnavailableError(Exception):
    """A password file cannot be read right now; the message names the file, never a value."""


class Password(ABC):
    """Where a node's password comes from; compare with ``==`` to detect a changed source."""

    __slots__ = ()

    @abstractmethod
    def reveal(self) -> str:
        """Return the password; raise :class:`SecretUnavailableError` if it cannot be had."""

    def __repr__(self) -> str:
        return SECRET_REPR

    def __str__(self) -> str:
        return SECRET_REPR


@final
class LiteralPassword(Password):
    """A password written in the config (possibly through ``${VAR}``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the password."""
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LiteralPassword):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((LiteralPassword, self._value))


@final
class FilePassword(Password):
    """A password read from a file, re-read whenever the file changes.

    The file's inode, mtime and size are checked on every :meth:`reveal`; only a change
    causes a read, so rotating the file (rewrite, or the atomic rename Kubernetes does
    for mounted secrets) takes effect at the next scrape without a reload, at the cost
    of one ``stat`` per request. Surrounding whitespace, such as the trailing newline
    most editors and ``echo`` add, is stripped. Two sources are equal when they name
    the same path: the content is not part of the configuration.
    """

    __slots__ = ("_cache", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int, int], str] | None = None

    def reveal(self) -> str:
        """Return the file's current password.

        Raises SecretUnavailableError when the file is missing, unreadable, not UTF-8
        or empty; the message names the file and the reason only.
        """
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
            data = self.path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or os.strerror(exc.errno or 0)
            raise SecretUnavailableError(
                f"cannot read password file {self.path}: {reason}"
            ) from None
        try:
            value = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SecretUnavailableError(f"password file {self.path} is not UTF-8 text") from None
        if not value:
            raise SecretUnavailableError(f"password file {self.path} is empty")
        self._cache = (stamp, value)
        return value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FilePassword):
            return NotImplemented
        return self.path == other.path

    def __hash__(self) -> int:
        return hash((FilePassword, self.path))
