"""The benchmark suite (`python3 tasks.py bench`).

Against the embedded simulator with --members members (default 100,000) and
--limit 1000, one run per case, the cases interleaved (the machine is shared
and noisy), best of --runs (3):

- the tutorial's querier (../shared/seed/seed_querier_restored.py),
- a bare httpx-bytes + orjson loop (the best a pure-Python client can do),
- `members()`, `iter_members()`, `members_async()`, `members_arrow()`.

Then memory: --rss-members (1,000,000) members streamed through
`iter_members()` and through `iter_batches()`, each in its own subprocess,
reporting the peak RSS above the process's start. The results (and the
machine: nproc, CPU model, load average) are printed and written to
bench/RESULTS.md (--out).

Needs httpx, pydantic (the tutorial), orjson and pyarrow.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
from _common import load_seed, querier, rss, run_bare, run_seed  # noqa: E402
from cxone_cdp.testing import AUDIENCE_ID, Simulator  # noqa: E402

GOALS = (
    ("members()", "tutorial", 3.0),
    ("members()", "httpx+orjson", 1.2),
    ("members_arrow()", "tutorial", 10.0),
)
RSS_GOAL_MB = 50.0


def cases(sim: Simulator, limit: int) -> dict[str, Callable[[], int]]:
    seed = load_seed()

    def members() -> int:
        return len(querier(sim).members(AUDIENCE_ID, limit=limit))

    def iter_members() -> int:
        n = 0
        for _ in querier(sim).iter_members(AUDIENCE_ID, limit=limit):
            n += 1
        return n

    def members_async() -> int:
        async def go() -> int:
            return len(await querier(sim).members_async(AUDIENCE_ID, limit=limit))

        return asyncio.run(go())

    def members_arrow() -> int:
        return pa.table(querier(sim).members_arrow(AUDIENCE_ID, limit=limit)).num_rows

    return {
        "tutorial": lambda: run_seed(seed, sim, limit),
        "httpx+orjson": lambda: run_bare(sim, limit),
        "members()": members,
        "iter_members()": iter_members,
        "members_async()": members_async,
        "members_arrow()": members_arrow,
    }


def throughput(members: int, limit: int, runs: int) -> dict[str, tuple[float, int]]:
    best: dict[str, tuple[float, int]] = {}
    with Simulator(members=members, port=0) as sim:
        todo = cases(sim, limit)
        for run in range(runs):
            for name, fn in todo.items():
                t0 = time.perf_counter()
                n = fn()
                secs = time.perf_counter() - t0
                print(f"  run {run + 1} {name:<16} {secs:7.3f} s  n={n}", flush=True)
                if name not in best or secs < best[name][0]:
                    best[name] = (secs, n)
    return best


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "load": load,
        "python": platform.python_version(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rss-members", type=int, default=1_000_000, help="0 skips the memory check")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    a = ap.parse_args()

    m0 = machine()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{when}: {a.members:,} members, limit {a.limit}, best of {a.runs}; load {m0['load']}")
    best = throughput(a.members, a.limit, a.runs)
    rate = {k: n / secs for k, (secs, n) in best.items()}

    lines = [
        "# Benchmark results",
        "",
        f"- date: {when}",
        f"- machine: nproc {m0['nproc']}, {m0['cpu']}, Python {m0['python']}",
        f"- load average at the start: {m0['load']} (shared machine: other builds were running)",
        f"- simulator with {a.members:,} members, limit {a.limit}, one run per case, "
        f"cases interleaved, best of {a.runs}",
        "",
        "| case | best (s) | members/s | vs tutorial | vs httpx+orjson |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (secs, n) in best.items():
        flag = "" if n == a.members else f" (returned {n}!)"
        lines.append(
            f"| {name}{flag} | {secs:.3f} | {rate[name]:,.0f} | "
            f"{rate[name] / rate['tutorial']:.2f}x | {rate[name] / rate['httpx+orjson']:.2f}x |"
        )
    lines += ["", "Goals:", ""]
    for case, base, goal in GOALS:
        got = rate[case] / rate[base]
        lines.append(
            f"- {case} >= {goal}x {base}: {got:.2f}x, {'met' if got >= goal else 'NOT met'}"
        )

    if a.rss_members:
        lines += [
            "",
            f"Memory, streaming {a.rss_members:,} members (limit {a.limit}), one subprocess each:",
            "",
            "| case | members | members/s | RSS at start (MiB) | peak (MiB) "
            "| peak above start (MiB) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        with Simulator(members=a.rss_members, port=0) as sim:
            for kind in ("iter_members", "iter_batches"):
                n, start, peak, secs = rss(kind, sim, a.limit)
                above = peak - start
                ok = "met" if above < RSS_GOAL_MB else "NOT met"
                lines.append(
                    f"| {kind}() | {n:,} | {n / secs:,.0f} | {start:.1f} | {peak:.1f} | "
                    f"{above:.1f} ({ok}: < {RSS_GOAL_MB:.0f}) |"
                )
    lines += ["", f"- load average at the end: {machine()['load']}", ""]
    text = "\n".join(lines)
    print(text)
    Path(a.out).write_text(text)
    print(f"written to {a.out}")


if __name__ == "__main__":
    main()
