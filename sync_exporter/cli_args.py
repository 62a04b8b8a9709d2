"""How every command reads its flags and answers misuse, so all of them behave alike.

The convention: a command's ``main(argv) -> int`` returns its exit code and never raises
``SystemExit``, so ``sync-exporter SUBCOMMAND`` (and a test) gets a number back from each.
``--help`` and ``--version`` print to standard output and return 0. A usage error, be it
one argparse finds (an unknown flag, a bad value) or one the command checks after parsing
(flags that exclude each other), prints the usage and ``PROG: error: WHY`` to standard
error, as argparse itself does, and returns 2.

Only the standard library is imported here: the simulator and the alert and dashboard
generators use it without pulling in the exporter.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

#: The exit code of a usage error, argparse's own.
USAGE = 2


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace | int:
    """The parsed ``argv`` (``None``: the process's arguments), or the exit code to return.

    An int means argparse has already answered: 0 after ``--help`` or ``--version``, 2 after
    a usage error (both printed as described in the module docstring).
    """
    try:
        return parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # argparse exits with an int status; anything else is misuse
        return exc.code if isinstance(exc.code, int) else USAGE


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """Report a misuse argparse cannot see exactly as argparse reports its own; return 2."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return USAGE


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting the integers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse
