"""Careless input around the nodes: tagged YAML values, URLs with tokens, password files
that are FIFOs or devices, rewrites that keep the stat stamp, and the new size limits.

Each of these used to hang the exporter, print a traceback with the password, quote a
token, or miss a rotated password (issue 9, point 3).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync_exporter.config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ConfigError,
    parse_config,
    parse_size,
)
from sync_exporter.credentials import (
    MAX_PASSWORD_FILE_BYTES,
    FilePassword,
    SecretUnavailableError,
)
from sync_exporter.exporter_cli import check_config_file

SECRET = "hunter2-never-shown"


def _check(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "cfg.yml"
    path.write_text(text)
    out = io.StringIO()
    return check_config_file(path, out), out.getvalue()


@pytest.mark.parametrize("tag", ["!!float", "!!int", "!!bool", "!!binary", "!!timestamp"])
def test_a_tagged_password_is_a_type_error_that_never_shows_it(tmp_path: Path, tag: str) -> None:
    code, out = _check(
        tmp_path,
        "nodes:\n  - name: a\n    url: http://h:1\n    username: u\n"
        f"    password: {tag} {SECRET}\n",
    )
    assert code == 2
    assert f"nodes[0].password: YAML tags like {tag} are not supported" in out
    assert SECRET not in out
    assert "Traceback" not in out


def test_password_float_1e3_as_in_the_issue(tmp_path: Path) -> None:
    code, out = _check(
        tmp_path, "nodes:\n  - {name: a, url: 'http://h:1', username: u, password: !!float 1e3}\n"
    )
    assert code == 2
    assert "nodes[0].password: YAML tags like !!float" in out
    errors = "\n".join(out.splitlines()[1:])  # the first line names the file (and tmp path)
    assert "1e3" not in errors
    assert "1000" not in errors


def test_a_url_with_a_token_is_shown_without_query_and_fragment(tmp_path: Path) -> None:
    code, out = _check(
        tmp_path,
        "defaults: {username: u, password: p}\nnodes:\n"
        "  - {name: a, url: 'http://h:1/?token=SECRETTOKEN1'}\n"
        "  - {name: b, url: 'ftp://h:1/#SECRETTOKEN2'}\n"
        "  - {name: c, url: 'http://h:99999/x?token=SECRETTOKEN3'}\n",
    )
    assert code == 2
    assert "SECRETTOKEN" not in out
    assert '"http://h:1/?..." must not have a query' in out
    assert '"ftp://h:1/#..." must start with http://' in out
    assert '"http://h:99999/x?..." is not a valid URL' in out


def _config_with_password_file(tmp_path: Path, target: Path) -> Path:
    path = tmp_path / "cfg.yml"
    path.write_text(
        f"nodes:\n  - {{name: a, url: 'http://h:1', username: u, password_file: '{target}'}}\n"
    )
    return path


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: os.mkfifo(p), "a FIFO"),
        (lambda p: p.symlink_to("/dev/zero"), "a character device"),
        (lambda p: p.mkdir(), "a directory"),
    ],
)
def test_config_check_refuses_a_password_file_that_is_not_a_regular_file(
    tmp_path: Path, make: object, kind: str
) -> None:
    target = tmp_path / "password"
    make(target)  # type: ignore[operator]
    config = _config_with_password_file(tmp_path, target)
    # A real process, so that a regression (a read that blocks) fails by timeout, not a hang.
    done = subprocess.run(
        [sys.executable, "-m", "sync_exporter", "--config.check", "--config.file", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"is not a regular file ({kind}): refusing to read it" in done.stdout


def test_an_oversized_password_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "password"
    target.write_bytes(b"x" * (MAX_PASSWORD_FILE_BYTES + 1))
    with pytest.raises(SecretUnavailableError, match=f"larger than {MAX_PASSWORD_FILE_BYTES}"):
        FilePassword(target).reveal()


def test_a_rewrite_keeping_inode_size_and_mtime_is_noticed(tmp_path: Path) -> None:
    target = tmp_path / "password"
    target.write_text("old-password\n")
    now = [0.0]
    source = FilePassword(target, clock=lambda: now[0])
    assert source.reveal() == "old-password"
    before = os.stat(target)
    with target.open("r+") as handle:  # same inode, same size
        handle.write("new-password\n")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
    after = os.stat(target)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    now[0] = 0.5
    assert source.reveal() == "old-password"  # within the recheck interval: stat only
    now[0] = 1.5
    assert source.reveal() == "new-password"  # the content is compared at least every second


def test_a_fifo_swapped_in_at_runtime_is_refused_not_waited_for(tmp_path: Path) -> None:
    target = tmp_path / "password"
    target.write_text("pw\n")
    source = FilePassword(target)
    assert source.reveal() == "pw"
    target.unlink()
    os.mkfifo(target)
    with pytest.raises(SecretUnavailableError, match="not a regular file"):
        source.reveal()


@pytest.mark.parametrize(
    ("text", "size"),
    [("33554432", 32 << 20), ("32MiB", 32 << 20), ("64 KiB", 64 << 10), ("1GB", 10**9)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("max_response_bytes: 32", "must be at least 65536 bytes (64KiB)"),
        ("max_response_bytes: 1.5MiB", "must be a size in bytes"),
        ("max_response_bytes: true", "must be a size in bytes"),
        ("max_response_items: 10", "must be at least 1000"),
        ("max_response_items: many", "must be a whole number"),
    ],
)
def test_limits_are_validated(line: str, error: str) -> None:
    text = (
        f"nodes:\n  - name: a\n    url: http://h:1\n    username: u\n    password: p\n    {line}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="cfg", env={}, base_dir=Path("/"))
    assert any(error in e for e in caught.value.errors), caught.value.errors


def test_limits_default_and_inherit_from_defaults() -> None:
    text = (
        "defaults: {username: u, password: p, max_response_bytes: 64MiB}\n"
        "nodes:\n  - {name: a, url: 'http://h:1'}\n"
        "  - {name: b, url: 'http://h:2', max_response_bytes: 1MiB, max_response_items: 5000}\n"
    )
    a, b = parse_config(text, source="cfg", env={}, base_dir=Path("/")).nodes
    assert (a.max_response_bytes, b.max_response_bytes) == (64 << 20, 1 << 20)
    assert b.max_response_items == 5000
    assert DEFAULT_MAX_RESPONSE_BYTES == 32 << 20
