"""`cxone-cdp validate`: a query checked against the schema and the limits,
with its size estimated."""

from __future__ import annotations

import argparse
import json

from cxone_cdp.cli.args import add_query
from cxone_cdp.cli.credentials import querier
from cxone_cdp.cli.exits import EXIT_OK
from cxone_cdp.cli.query import check_local, typed_filters

HELP = "check a query against the schema and limits and estimate its size"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    add_query(p, limit=True)


def run(args: argparse.Namespace) -> int:
    check_local(args.filters, args.audience, args.limit)
    q = querier(args)
    result = q.validate(args.audience, typed_filters(q, args.filters), args.limit)
    print(json.dumps(result))
    return EXIT_OK
