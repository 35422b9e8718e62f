"""members() throughput against the tutorial's querier and a bare
httpx + orjson loop, all against the embedded simulator, in one run; then the
peak RSS of iter_members() over a large audience (in a subprocess).

    python bench/bench_members.py [--members 100000] [--limit 1000] [--runs 3]
                                  [--rss-members 1000000]

Needs httpx, pydantic and orjson (pip install httpx pydantic orjson).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import time
import uuid

import httpx
import orjson
from cxone_cdp import Querier
from cxone_cdp.testing import AUDIENCE_ID, Simulator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(REPO, "..", "shared", "seed", "seed_querier_restored.py")


def load_seed():
    spec = importlib.util.spec_from_file_location("seed_querier_restored", SEED)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_ours(sim: Simulator, limit: int) -> int:
    q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
    return len(q.members(AUDIENCE_ID, limit=limit))


def run_seed(seed, sim: Simulator, limit: int) -> int:
    async def go() -> int:
        q = seed.CXoneAudienceQuerier(
            "bench", sim.client_id, sim.client_secret, sim.callback_url, base_url=sim.base_url
        )
        payload = seed.AudienceQueryPayload(audience_id=AUDIENCE_ID, limit=limit)
        try:
            return len(await q.validate_and_query(payload, str(uuid.uuid4())))
        finally:
            await q.client.aclose()
            await q.auth.client.aclose()

    return asyncio.run(go())


def run_bare(sim: Simulator, limit: int) -> int:
    with httpx.Client(timeout=60) as c:
        tok = c.post(
            sim.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "scope": "audiences:read",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}"}
        url = f"{sim.base_url}/api/v2/audiences/{AUDIENCE_ID}/members"
        items: list = []
        cursor = None
        while True:
            params = {"limit": str(limit)}
            if cursor:
                params["cursor"] = cursor
            r = c.get(url, params=params, headers=headers)
            r.raise_for_status()
            page = orjson.loads(r.content)
            items.extend(page["items"])
            cursor = page.get("nextPageToken")
            if not cursor:
                return len(items)


def best_of(runs: int, fn, *args) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        n = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, n


RSS_CHILD = r"""
import sys, threading, time
from cxone_cdp import Querier

def rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

base_url, token_url, cid, secret, aud, limit = sys.argv[1:7]
q = Querier(base_url, cid, secret, token_url=token_url)
q.attributes()                       # warm: token, schema, runtime threads
start = rss_kb("VmRSS")
peak = start
n = 0
t0 = time.perf_counter()
for m in q.iter_members(aud, limit=int(limit)):
    n += 1
    if n % 20000 == 0:
        peak = max(peak, rss_kb("VmRSS"))
peak = max(peak, rss_kb("VmRSS"), rss_kb("VmHWM"))
print(n, start, peak, time.perf_counter() - t0)
"""


def rss_of_iter_members(members: int, limit: int) -> tuple[int, int, int, float]:
    with Simulator(members=members, port=0) as sim:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                RSS_CHILD,
                sim.base_url,
                sim.token_url,
                sim.client_id,
                sim.client_secret,
                AUDIENCE_ID,
                str(limit),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    n, start, peak, secs = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    return n, start, peak, secs


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
        n, start, peak, secs = rss_of_iter_members(a.rss_members, a.limit)
        print(
            f"iter_members() over {n:,} members: {n / secs:,.0f} members/s, RSS at start "
            f"{start / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
            f"peak above start {(peak - start) / 1024:.1f} MiB"
        )


if __name__ == "__main__":
    main()
