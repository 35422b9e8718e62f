"""The async API: ``await`` the ``_async`` twins and ``async for`` the iterators.

python examples/async_members.py
"""

from __future__ import annotations

import asyncio

import cxone_cdp
from cxone_cdp.testing import AUDIENCE_ID, SUBSET_AUDIENCE_ID, Simulator


async def run(q: cxone_cdp.Querier) -> dict[str, int]:
    """Counts two audiences at once, lists one, and streams the other."""
    total, subset = await asyncio.gather(
        q.count_async(AUDIENCE_ID), q.count_async(SUBSET_AUDIENCE_ID)
    )
    vips = await q.members_async(AUDIENCE_ID, [("is_vip", "eq", True)])

    streamed = 0
    async for member in q.iter_members(SUBSET_AUDIENCE_ID, limit=500):
        streamed += 1
        if streamed == 1:
            print("first streamed member:", member["memberId"])

    pages = 0
    async for page in q.iter_pages(AUDIENCE_ID, limit=1000):
        pages += 1
        if page.next_cursor is None:
            break
    return {
        "total": total,
        "subset": subset,
        "vips": len(vips),
        "streamed": streamed,
        "pages": pages,
    }


def main(members: int = 5_000) -> dict[str, int]:
    """Runs :func:`run` against the embedded simulator."""
    with Simulator(members=members) as sim:
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        result = asyncio.run(run(q))
        print(result)
        return result


if __name__ == "__main__":
    main()
