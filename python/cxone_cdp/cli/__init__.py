"""The `cxone-cdp` command line.

One module per command (`attributes`, `count`, `validate`, `export`, `diff`,
`demo`, `simulate`), named as its command and declaring its `--help` texts
(`HELP`, `DESCRIPTION`), `configure(parser)` (its arguments) and
`run(args) -> exit code`; `build_parser` registers them all alike. The shared
parts are `args` (parser, argument types, the arguments several commands
share), `credentials` (connection flags, environment, secrets, the Querier),
`query` (the `--filter` expressions), `output` (messages, output files) and
`exits` (exit codes).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Protocol

from cxone_cdp.cli import attributes, count, demo, diff, export, simulate, validate
from cxone_cdp.cli.args import Parser, debug_parent
from cxone_cdp.cli.credentials import connection_parent
from cxone_cdp.cli.exits import EXIT_API, EXIT_INTERRUPTED, UsageError, exit_code
from cxone_cdp.cli.output import log, one_line
from cxone_cdp.errors import CxoneError

__all__ = ["build_parser", "main"]


class Command(Protocol):
    """A command's module: it is named as the command and declares its
    `--help` texts, its arguments and what it runs."""

    __name__: str

    @property
    def HELP(self) -> str: ...
    @property
    def DESCRIPTION(self) -> str | None: ...
    def configure(self, p: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def build_parser() -> argparse.ArgumentParser:
    """The `cxone-cdp` parser with every subcommand."""
    parser = Parser(prog="cxone-cdp", description="The `cxone-cdp` command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    debug = debug_parent()
    api = [debug, connection_parent()]
    # Each command with the shared flags it takes (--debug, the connection), in --help's order.
    commands: dict[Command, list[Parser]] = {
        attributes: api,
        count: api,
        validate: api,
        export: api,
        diff: [debug],
        demo: [debug],
        simulate: [],
    }
    for command, parents in commands.items():
        name = command.__name__.rsplit(".", 1)[1]
        help, description = command.HELP, command.DESCRIPTION
        p = sub.add_parser(name, parents=parents, help=help, description=description)
        p.set_defaults(func=command.run)
        command.configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one command (`argv`, else `sys.argv[1:]`); returns its exit code.
    Every error ends as one line on stderr (`--debug` adds the traceback)."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    if not debug:
        logging.getLogger("cxone_cdp").setLevel(logging.WARNING)
        log.setLevel(logging.INFO)
    try:
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        msg = "interrupted"
        if getattr(args, "checkpoint", None):
            msg += f"; continue with --resume --checkpoint {args.checkpoint}"
        print(f"cxone-cdp: {msg}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, CxoneError) as e:
        if debug:
            traceback.print_exc()
        print(f"cxone-cdp: error: {one_line(str(e))}", file=sys.stderr)
        return exit_code(e)
    except Exception as e:  # a bug or an unforeseen local failure: still one line
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"cxone-cdp: error: {one_line(f'{type(e).__name__}: {e}')}{hint}", file=sys.stderr)
        return EXIT_API
