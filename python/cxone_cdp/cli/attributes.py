"""`cxone-cdp attributes`: the CDP attribute schema."""

from __future__ import annotations

import argparse
import json

from cxone_cdp.cli.credentials import querier
from cxone_cdp.cli.exits import EXIT_OK

HELP = "list the CDP attribute schema"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    attrs = querier(args).attributes()
    if args.json:
        print(json.dumps(attrs))
    else:
        width = max((len(n) for n in attrs), default=0)
        for name, ty in attrs.items():
            print(f"{name:<{width}}  {ty}")
    return EXIT_OK
