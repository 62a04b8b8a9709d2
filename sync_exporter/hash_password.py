"""``sync-exporter hash-password``: print a bcrypt hash for ``basic_auth_users``.

The password is read from standard input (one line, for scripts and pipes) or, on a
terminal, prompted for twice without echo. It is never an argument: command lines are
visible to every user of the machine (``ps``) and kept in shell histories.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import TextIO

import bcrypt

from sync_exporter.cli_args import parse_args
from sync_exporter.webauth import MAX_PASSWORD_BYTES

#: exporter-toolkit's documented example cost: about 50-100 ms per check, paid once per
#: client thanks to the exporter's cache.
DEFAULT_COST = 10


def _cost(text: str) -> int:
    if not text.isdigit() or not 4 <= int(text) <= 31:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bcrypt cost from 4 to 31")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """Return the subcommand's argument parser."""
    parser = argparse.ArgumentParser(
        prog="sync-exporter hash-password",
        description="Print a bcrypt hash of a password for basic_auth_users in the "
        "--web.config.file. The password comes from standard input (first line) or, on a "
        "terminal, from a prompt; never from the command line.",
    )
    parser.add_argument(
        "--cost",
        type=_cost,
        default=DEFAULT_COST,
        help=f"bcrypt cost, 4 to 31; each step doubles the time (default: {DEFAULT_COST})",
    )
    return parser


def _read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    line = stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def main(argv: Sequence[str], stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Print the hash; exit 0, or 2 for an empty, too long or mismatched password."""
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    try:
        password = _read_password(stdin).removesuffix("\r").encode("utf-8")
    except (ValueError, EOFError, UnicodeError) as exc:
        print(f"sync-exporter hash-password: {exc or 'no password given'}", file=sys.stderr)
        return 2
    problem = None
    if not password:
        problem = "the password is empty"
    elif len(password) > MAX_PASSWORD_BYTES:
        problem = f"the password is longer than bcrypt's {MAX_PASSWORD_BYTES} bytes"
    if problem is not None:
        print(f"sync-exporter hash-password: {problem}", file=sys.stderr)
        return 2
    print(bcrypt.hashpw(password, bcrypt.gensalt(args.cost)).decode("ascii"), file=out)
    return 0
