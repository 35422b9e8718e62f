"""Quick start, sync API: count, validate and list an audience.

Runs against the embedded simulator (no network beyond 127.0.0.1). To use a
real tenant, build the Querier with ``cxone_cdp.Querier.from_env()`` instead.

    python examples/quickstart.py
"""

from __future__ import annotations

import cxone_cdp
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def main(members: int = 5_000) -> int:
    """Lists the Rock & Roll members worth more than 100; returns how many."""
    with Simulator(members=members) as sim:
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        print(q)
        print("attributes:", q.attributes())

        flt: list[tuple[str, str, str | int]] = [
            ("city", "eq", "Rock & Roll"),
            ("lifetime_value", "gt", 100),
        ]
        print("count:", q.count(AUDIENCE_ID, flt))

        try:
            q.validate(AUDIENCE_ID, [("lifetime_value", "contains", "9")])
        except cxone_cdp.ValidationError as e:
            print("refused before any request:", e)

        rows = q.members(AUDIENCE_ID, flt, limit=1000)
        for m in rows[:3]:
            print(m["memberId"], m["attributes"]["lifetime_value"])
        print(repr(q.metrics()))
        return len(rows)


if __name__ == "__main__":
    main()
