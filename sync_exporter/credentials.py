"""Password sources that never show their value, and re-read files so rotation needs no reload.

A password is held behind :meth:`Password.reveal`; ``repr``, ``str`` and f-strings all
give ``<secret>``, so a config, a node or an exception that carries one can be logged or
shown on a page without leaking it. The only way to the value is an explicit ``reveal()``
at the moment the HTTP request is built.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat as stat_module
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
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


#: Largest password file read: a password is a line; a bigger file is a mistake (or
#: ``/dev/zero`` behind a symlink) and is refused rather than read into memory.
MAX_PASSWORD_FILE_BYTES = 64 * 1024
#: Even when stat says nothing changed, the content is read again this often (seconds):
#: a rewrite that keeps inode, size and mtime (a copy with ``cp -p``, a restore, a
#: coarse-grained file system) is noticed by its content.
RECHECK_SECONDS = 1.0


@final
class FilePassword(Password):
    """A password read from a file, re-read whenever the file changes.

    The file's inode, mtime and size are checked on every :meth:`reveal`, and a change
    causes a read; the content is also read again at least every :data:`RECHECK_SECONDS`
    and compared by its SHA-256, so a rewrite that keeps the stat stamp is noticed too.
    Rotating the file (rewrite, or the atomic rename Kubernetes does for mounted secrets)
    takes effect without a reload. Only a regular file is read, opened without blocking
    (a FIFO would otherwise hang the caller) and at most :data:`MAX_PASSWORD_FILE_BYTES`.
    Surrounding whitespace, such as the trailing newline most editors and ``echo`` add,
    is stripped. Two sources are equal when they name the same path: the content is not
    part of the configuration.
    """

    __slots__ = ("_cache", "_clock", "path")

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        #: (stat stamp, content digest, when the content was read, password)
        self._cache: tuple[tuple[int, int, int], bytes, float, str] | None = None

    def reveal(self) -> str:
        """Return the file's current password.

        Raises SecretUnavailableError when the file is missing, unreadable, not a regular
        file, too large, not UTF-8 or empty; the message names the file and the reason only.
        """
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise self._unreadable(exc) from None
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        now = self._clock()
        cache = self._cache
        if cache is not None and cache[0] == stamp and now - cache[2] < RECHECK_SECONDS:
            return cache[3]
        data = self._read()
        digest = hashlib.sha256(data).digest()
        if cache is not None and cache[1] == digest:
            self._cache = (stamp, digest, now, cache[3])
            return cache[3]
        try:
            value = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SecretUnavailableError(f"password file {self.path} is not UTF-8 text") from None
        if not value:
            raise SecretUnavailableError(f"password file {self.path} is empty")
        self._cache = (stamp, digest, now, value)
        return value

    def _read(self) -> bytes:
        """Read the file if it is a regular one, never blocking and never past the limit."""
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | os.O_NOCTTY
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            raise self._unreadable(exc) from None
        try:
            kind = os.fstat(fd).st_mode  # of what was opened, not of what the path named
            if not stat_module.S_ISREG(kind):
                raise SecretUnavailableError(
                    f"password file {self.path} is not a regular file "
                    f"({_file_kind(kind)}): refusing to read it"
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(MAX_PASSWORD_FILE_BYTES + 1)
        except OSError as exc:
            raise self._unreadable(exc) from None
        finally:
            os.close(fd)
        if len(data) > MAX_PASSWORD_FILE_BYTES:
            raise SecretUnavailableError(
                f"password file {self.path} is larger than {MAX_PASSWORD_FILE_BYTES} bytes"
            )
        return data

    def _unreadable(self, exc: OSError) -> SecretUnavailableError:
        reason = exc.strerror or os.strerror(exc.errno or 0)
        return SecretUnavailableError(f"cannot read password file {self.path}: {reason}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FilePassword):
            return NotImplemented
        return self.path == other.path

    def __hash__(self) -> int:
        return hash((FilePassword, self.path))


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for the error message."""
    kinds = (
        (stat_module.S_ISFIFO, "a FIFO"),
        (stat_module.S_ISCHR, "a character device"),
        (stat_module.S_ISBLK, "a block device"),
        (stat_module.S_ISSOCK, "a socket"),
        (stat_module.S_ISDIR, "a directory"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")
