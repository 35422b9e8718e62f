"""Cost of a response-cache hit returning a page of 100 members to Python.

    python bench/bench_cache.py [--pages 100] [--runs 5]

A listing of `pages` pages of 100 members is run once to fill the cache,
then again `runs` times with every page a cache hit (the simulator must see
no page request). Reported per page, in microseconds:

* hit (members):   `Querier.members()` over cached pages, whole call / pages
* hit (iter_pages): `Querier.iter_pages()` over cached pages, per page
* dict building:   building the same 100 member dicts in Python (a dict
                   comprehension copying each member and its attributes),
                   which any client pays to hand members to Python
* json.loads:      parsing the raw page body with the stdlib, for scale

"hit overhead" is hit (members) minus dict building: what the cache lookup,
the page parse and the conversion cost beyond the dicts themselves.
No timing is asserted anywhere; this only reports.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

from _common import querier
from cxone_cdp.testing import AUDIENCE_ID, Simulator

PAGE = 100


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    pages = args.pages

    with Simulator(members=PAGE * pages, port=0) as sim:
        q = querier(sim, cache_size=pages + 10)
        members = q.members(AUDIENCE_ID, limit=PAGE)  # fills the cache
        assert len(members) == PAGE * pages
        sim.reset()

        (m_best, m_med) = best_of(args.runs, lambda: q.members(AUDIENCE_ID, limit=PAGE))

        def walk_pages() -> None:
            for _ in q.iter_pages(AUDIENCE_ID, limit=PAGE):
                pass

        (p_best, p_med) = best_of(args.runs, walk_pages)
        assert sim.stats()["by_endpoint"].get("members", 0) == 0, "every page was a hit"
        stats = q.cache_stats()

        first_page = members[:PAGE]

        def build_dicts() -> None:
            for _ in range(pages):
                [
                    {
                        "memberId": m["memberId"],
                        "joinedAt": m["joinedAt"],
                        "attributes": {k: v for k, v in m["attributes"].items()},
                    }
                    for m in first_page
                ]

        (d_best, d_med) = best_of(args.runs, build_dicts)

        token = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    sim.token_url,
                    data=(
                        f"grant_type=client_credentials&client_id={sim.client_id}"
                        f"&client_secret={sim.client_secret}&scope=audiences:read"
                    ).encode(),
                ),
                timeout=10,
            ).read()
        )["access_token"]
        req = urllib.request.Request(
            f"{sim.base_url}/api/v2/audiences/{AUDIENCE_ID}/members?limit={PAGE}",
            headers={"Authorization": f"Bearer {token}"},
        )
        body = urllib.request.urlopen(req, timeout=10).read()
        (j_best, j_med) = best_of(args.runs, lambda: [json.loads(body) for _ in range(pages)])

    us = 1e6 / pages
    print(f"{pages} cached pages of {PAGE} members, best (median) of {args.runs} runs, per page:")
    print(f"  hit (members):    {m_best * us:8.1f} us  ({m_med * us:.1f})")
    print(f"  hit (iter_pages): {p_best * us:8.1f} us  ({p_med * us:.1f})")
    print(f"  dict building:    {d_best * us:8.1f} us  ({d_med * us:.1f})")
    print(f"  json.loads:       {j_best * us:8.1f} us  ({j_med * us:.1f})")
    print(f"  hit overhead (members - dict building): {(m_best - d_best) * us:.1f} us")
    print(f"  cache: {stats['hits']} hits, {stats['misses']} misses, {stats['bytes']} bytes held")


if __name__ == "__main__":
    main()
