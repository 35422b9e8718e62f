"""`cxone-cdp count`: the number of members matching the filters."""

from __future__ import annotations

import argparse

from cxone_cdp.cli.args import add_query
from cxone_cdp.cli.credentials import querier
from cxone_cdp.cli.exits import EXIT_OK
from cxone_cdp.cli.query import check_local, typed_filters

HELP = "count the members matching filters"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    add_query(p, limit=False)


def run(args: argparse.Namespace) -> int:
    check_local(args.filters, args.audience)
    q = querier(args)
    print(q.count(args.audience, typed_filters(q, args.filters)))
    return EXIT_OK
