"""members() throughput against the tutorial's querier and a bare
httpx + orjson loop, all against the embedded simulator, in one run; then the
peak RSS of iter_members() over a large audience (in a subprocess).

    python bench/bench_members.py [--members 100000] [--limit 1000] [--runs 3]
                                  [--rss-members 1000000]

Needs httpx, pydantic and orjson (pip install httpx pydantic orjson).
"""

from __future__ import annotations

import argparse
import time

from _common import load_seed, querier, rss, run_bare, run_seed
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def run_ours(sim: Simulator, limit: int) -> int:
    return len(querier(sim).members(AUDIENCE_ID, limit=limit))


def best_of(runs: int, fn, *args) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        n = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rss-members", type=int, default=1_000_000)
    a = ap.parse_args()

    seed = load_seed()
    with Simulator(members=a.members, port=0) as sim:
        results = {}
        results["cxone_cdp members()"] = best_of(a.runs, run_ours, sim, a.limit)
        results["tutorial querier"] = best_of(a.runs, run_seed, seed, sim, a.limit)
        results["bare httpx + orjson"] = best_of(a.runs, run_bare, sim, a.limit)

    print(f"members={a.members} limit={a.limit} best of {a.runs}")
    ours = a.members / results["cxone_cdp members()"][0]
    for name, (secs, n) in results.items():
        rate = n / secs
        print(
            f"  {name:<22} {secs:7.3f} s  {rate:>11,.0f} members/s  "
            f"(n={n}, cxone_cdp is {ours / rate:4.2f}x)"
        )
    for name, (_, n) in results.items():
        if n != a.members:
            print(f"  WARNING: {name} returned {n} members, expected {a.members}")

    if a.rss_members:
        with Simulator(members=a.rss_members, port=0) as sim:
            n, start, peak, secs = rss("iter_members", sim, a.limit)
        print(
            f"iter_members() over {n:,} members: {n / secs:,.0f} members/s, RSS at start "
            f"{start:.1f} MiB, peak {peak:.1f} MiB, peak above start {peak - start:.1f} MiB"
        )


if __name__ == "__main__":
    main()
