"""Argument parsing shared by the commands: the parser (one-line errors), the
argparse types that check a flag's text, and the arguments several commands
declare alike (AUDIENCE, --filter, --limit, -o, --members).

argparse calls a type on the flag's text; an ArgumentTypeError becomes a
one-line usage error (exit 2) naming the flag, before anything else runs.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from cxone_cdp.cli.exits import EXIT_USAGE
from cxone_cdp.cli.output import one_line, show

#: Upper bound of any duration flag (a year, in seconds).
MAX_SECONDS = 365 * 24 * 3600.0


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `cxone-cdp count: error: ...`, exit 2."""

    def error(self, message: str) -> Any:
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n",
        )


def _named(name: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` under the name argparse shows in its messages."""
    parse.__name__ = name
    return parse


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """A whole number in lo..hi."""

    def parse(text: str) -> int:
        try:
            n = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {show(text)}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {n}")
        return n

    return _named("whole number", parse)


def seconds(*, positive: bool) -> Callable[[str], float]:
    """A finite number of seconds, above 0 (`positive`) or at least 0, at most a year."""

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {show(text)}") from None
        if not (math.isfinite(x) and (x > 0 if positive else x >= 0) and x <= MAX_SECONDS):
            lo = "above 0" if positive else "at least 0"
            raise argparse.ArgumentTypeError(
                f"must be a finite number of seconds, {lo} and at most "
                f"{MAX_SECONDS:.0f}, got {show(text)}"
            )
        return x

    return _named("seconds", parse)


def is_clean(text: str) -> bool:
    """Valid UTF-8 (no lone surrogates from undecodable argv bytes) and no
    control characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(c.isprintable() for c in text)


def text(what: str) -> Callable[[str], str]:
    """A URL, client id or other text flag: not blank, valid UTF-8, no
    control characters."""

    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError("is empty")
        if not is_clean(value):
            raise argparse.ArgumentTypeError(
                f"{show(value)} holds control characters or undecodable bytes"
            )
        return value

    return _named(what, parse)


def filename(what: str) -> Callable[[str], str]:
    """A file path: not empty, no NUL (undecodable bytes are fine: they are
    the file name's own bytes)."""

    def parse(value: str) -> str:
        if not value:
            raise argparse.ArgumentTypeError("is empty")
        if "\x00" in value:
            raise argparse.ArgumentTypeError(f"{show(value)} holds a NUL character")
        return value

    return _named(what, parse)


#: Members of a simulated audience (the simulator holds at most 2**32 - 1).
members_count = int_in(0, 2**32 - 1)


def debug_parent() -> Parser:
    """--debug, for every command but `simulate`."""
    p = Parser(add_help=False)
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks on errors")
    return p


def add_audience(p: argparse.ArgumentParser) -> None:
    p.add_argument("audience", metavar="AUDIENCE", help="audience (segment) id")


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--filter",
        dest="filters",
        metavar="EXPR",
        action="append",
        default=[],
        help="ATTRIBUTE<op>VALUE with op one of = != > < ~, e.g. 'city=Rock & Roll' "
        "(repeatable; all must match)",
    )


def add_query(p: argparse.ArgumentParser, *, limit: bool) -> None:
    """AUDIENCE, --filter and (with `limit`) the page size."""
    add_audience(p)
    add_filters(p)
    if limit:
        p.add_argument(
            "--limit", type=int_in(1, 1000), default=1000, help="page size (1..1000, default 1000)"
        )


def add_output(p: argparse.ArgumentParser, *, required: bool, help: str) -> None:
    p.add_argument(
        "-o", "--output", metavar="PATH", type=filename("PATH"), required=required, help=help
    )


def add_members(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--members", type=members_count, default=10_000, help=help)
