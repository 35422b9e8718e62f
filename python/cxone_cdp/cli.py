"""The `cxone-cdp` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cxone-cdp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="query the embedded simulator and print members and metrics")
    args = parser.parse_args(argv)
    print(f"{args.command}: not implemented yet", file=sys.stderr)
    return 2
