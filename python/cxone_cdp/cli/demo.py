"""`cxone-cdp demo`: the embedded simulator queried with a Querier, printing
the count, the first five members and the client's metrics."""

from __future__ import annotations

import argparse
import itertools

from cxone_cdp import Querier
from cxone_cdp.cli.args import add_filters, add_members
from cxone_cdp.cli.exits import EXIT_OK
from cxone_cdp.cli.query import check_local, typed_filters
from cxone_cdp.testing import AUDIENCE_ID, Simulator

HELP = "query the embedded simulator and print members and metrics"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    add_members(p, "members of the simulated audience")
    add_filters(p)


def run(args: argparse.Namespace) -> int:
    check_local(args.filters, AUDIENCE_ID)
    with Simulator(members=args.members) as sim:
        q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
        filters = typed_filters(q, args.filters)
        count = q.count(AUDIENCE_ID, filters)
        print(
            f"audience {AUDIENCE_ID}: {count:,} members"
            + (f" matching {args.filters}" if args.filters else "")
        )
        it = q.iter_members(AUDIENCE_ID, filters, limit=5)
        try:
            for m in itertools.islice(it, 5):
                a = m["attributes"]
                print(
                    f"  {m['memberId']}  {a['city']:<12} {a['lifecycle_stage']:<9} "
                    f"value={a['lifetime_value']:<8} vip={a['is_vip']!s:<5} "
                    f"last={a['last_purchase_date']}"
                )
        finally:
            it.close()
        print("client metrics:")
        for k, v in q.metrics().items():
            print(f"  {k}: {v}")
        stats = sim.stats()
        print(
            f"simulator: {stats['token_requests']} token request(s), "
            f"{stats['api_requests']} API request(s), by status {stats['by_status']}"
        )
    return EXIT_OK
