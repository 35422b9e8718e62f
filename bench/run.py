"""The benchmark suite (`python3 tasks.py bench`): everything in one run.

Against the embedded simulator with --members members (default 100,000) and
--limit 1000, the cases interleaved (the machine is shared and noisy), best
of --runs (7):

- two floors: the **bytes-only walk** of the same pages (http.client, the
  cursor cut out of the body: the network floor) and **orjson.loads over
  the same page bodies already in memory** (the CPU floor of building these
  dicts);
- the tutorial's querier (../shared/seed/seed_querier_restored.py);
- `members()`, `iter_members()`, `members_async()`, `members_arrow()`,
  `iter_batches()`, each with its ratio to both floors and to the tutorial.

Then, in the same run:

- concurrency: --concurrency (16) listings with different filters, as
  `members_async()` gathered on one event loop against the same listings
  run one after another with `members()` (CPU-bound), and the same with
  --latency (50 ms) added to every API call (finished against the slowest
  single listing);
- the response cache: `members_arrow()` and `members()` answered from it
  (per page, against a fresh listing and the orjson floor);
- `Querier()` construction, and the first call's cost (token + attributes);
- memory: --rss-members (1,000,000) members streamed through
  `iter_members()` and `iter_batches()`, each in its own subprocess, with
  the simulator in **another process** (`python -m cxone_cdp simulate`; an
  in-process simulator holds its own rendered pages), peak RSS above the
  consumer's start.

The goals are judged on the best times; after them the same ratios are
given as the median of each run's own ratio (both cases ran back to back),
which one lucky run cannot move.

The results (and the machine: nproc, CPU model, load average) are printed,
written to bench/RESULTS.md (--out) and drawn into bench/results.png (--plot,
needs matplotlib). No goal here is a test; this only reports.

Needs httpx, pydantic (the tutorial), orjson and pyarrow.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from _common import (
    bytes_walk,
    load_seed,
    machine,
    page_bodies,
    querier,
    rss_out_of_process,
    run_seed,
)
from cxone_cdp.testing import AUDIENCE_ID, Simulator

BENCH = Path(__file__).resolve().parent
BYTES = "bytes-only walk"
ORJSON = "orjson.loads floor"
ORJSON_GC_OFF = "orjson.loads floor, gc off"
TUTORIAL = "tutorial"
RSS_GOAL_MIB = 10.0


def cases(sim: Simulator, limit: int, bodies: list[bytes]) -> dict[str, Callable[[], int]]:
    seed = load_seed()

    def orjson_floor() -> int:
        items: list[Any] = []
        for b in bodies:
            items.extend(orjson.loads(b)["items"])
        return len(items)

    def orjson_floor_gc_off() -> int:
        # members() pauses the collector while it builds a page; this floor
        # does the same for the whole loop.
        gc.disable()
        try:
            return orjson_floor()
        finally:
            gc.enable()

    def members() -> int:
        return len(querier(sim).members(AUDIENCE_ID, limit=limit))

    def iter_members() -> int:
        return sum(1 for _ in querier(sim).iter_members(AUDIENCE_ID, limit=limit))

    def members_async() -> int:
        async def go() -> int:
            return len(await querier(sim).members_async(AUDIENCE_ID, limit=limit))

        return asyncio.run(go())

    def members_arrow() -> int:
        return pa.table(querier(sim).members_arrow(AUDIENCE_ID, limit=limit)).num_rows

    def iter_batches() -> int:
        it = querier(sim).iter_batches(AUDIENCE_ID, limit=limit)
        return sum(pa.record_batch(b).num_rows for b in it)

    return {
        BYTES: lambda: bytes_walk(sim, limit)[1],
        ORJSON: orjson_floor,
        ORJSON_GC_OFF: orjson_floor_gc_off,
        TUTORIAL: lambda: run_seed(seed, sim, limit),
        "members()": members,
        "iter_members()": iter_members,
        "members_async()": members_async,
        "members_arrow()": members_arrow,
        "iter_batches()": iter_batches,
    }


#: Every run's time of every case, in run order (for the paired ratios).
TIMES: dict[str, list[float]] = {}


def best_of(todo: dict[str, Callable[[], int]], runs: int) -> dict[str, tuple[float, int]]:
    """Each case once per run, interleaved; the best time of each (every
    time is kept in TIMES)."""
    best: dict[str, tuple[float, int]] = {}
    for run in range(runs):
        for name, fn in todo.items():
            t0 = time.perf_counter()
            n = fn()
            secs = time.perf_counter() - t0
            print(f"  run {run + 1} {name:<22} {secs:8.4f} s  n={n}", flush=True)
            TIMES.setdefault(name, []).append(secs)
            if name not in best or secs < best[name][0]:
                best[name] = (secs, n)
    return best


def filters(n: int) -> list[list[str]]:
    """n different filters, each matching nearly every member (so neither
    cache answers one listing with another's pages)."""
    return [[("lifetime_value", ">", i * 10)] for i in range(n)]


def concurrency(sim: Simulator, limit: int, n: int, runs: int) -> dict[str, tuple[float, int]]:
    fs = filters(n)

    def sequential() -> int:
        # All results kept, as gather keeps them (the same memory and GC work).
        q = querier(sim)
        lists = [q.members(AUDIENCE_ID, f, limit) for f in fs]
        return sum(map(len, lists))

    def gathered() -> int:
        async def go() -> int:
            q = querier(sim)
            out = await asyncio.gather(*(q.members_async(AUDIENCE_ID, f, limit) for f in fs))
            return sum(map(len, out))

        return asyncio.run(go())

    def slowest_single() -> int:
        # Each listing alone; the time recorded is the slowest one's.
        q = querier(sim)
        q.attributes()
        worst, total = 0.0, 0
        for f in fs:
            t0 = time.perf_counter()
            total += len(q.members(AUDIENCE_ID, f, limit))
            worst = max(worst, time.perf_counter() - t0)
        slowest_single.worst = worst  # type: ignore[attr-defined]
        return total

    out = best_of(
        {f"{n} x members() in sequence": sequential, f"{n} x members_async() gathered": gathered},
        runs,
    )
    slowest_single()
    out["slowest single members()"] = (slowest_single.worst, 0)  # type: ignore[attr-defined]
    return out


def with_latency(members: int, limit: int, n: int, latency: float) -> dict[str, tuple[float, int]]:
    fs = filters(n)
    with Simulator(members=members, port=0, latency=latency) as sim:
        q = querier(sim)
        q.attributes()
        single: list[float] = []
        for f in fs:
            t0 = time.perf_counter()
            q.members(AUDIENCE_ID, f, limit)
            single.append(time.perf_counter() - t0)

        async def go() -> int:
            q2 = querier(sim)
            await q2.attributes_async()
            t0 = time.perf_counter()
            out = await asyncio.gather(*(q2.members_async(AUDIENCE_ID, f, limit) for f in fs))
            go.secs = time.perf_counter() - t0  # type: ignore[attr-defined]
            return sum(map(len, out))

        total = asyncio.run(go())
    return {
        "slowest single": (max(single), 0),
        f"{n} gathered": (go.secs, total),  # type: ignore[attr-defined]
        f"{n} in sequence (sum)": (sum(single), 0),
    }


def cache_cases(sim: Simulator, limit: int, pages: int, runs: int) -> dict[str, tuple[float, int]]:
    q = querier(sim, cache_size=pages + 10, cache_max_bytes=1 << 30)
    q.members_arrow(AUDIENCE_ID, limit=limit)  # fills the cache (both forms
    q.members(AUDIENCE_ID, limit=limit)  # of every page)
    before = sim.stats()["api_requests"]
    out = best_of(
        {
            "members_arrow() from the cache": lambda: (
                q.members_arrow(AUDIENCE_ID, limit=limit).num_rows
            ),
            "members_arrow() from the cache, then pa.table()": lambda: (
                pa.table(q.members_arrow(AUDIENCE_ID, limit=limit)).num_rows
            ),
            "members() from the cache": lambda: len(q.members(AUDIENCE_ID, limit=limit)),
        },
        runs,
    )
    served = sim.stats()["api_requests"] - before
    stats = q.cache_stats()
    print(f"  cache: {served} requests reached the simulator; cache_stats() = {stats}")
    return out


def construction(sim: Simulator) -> tuple[float, float]:
    """Best `Querier()` construction of 200, and the median first call
    (`attributes()`: the token, then the schema) of 20 fresh Queriers."""
    best = float("inf")
    for _ in range(200):
        t0 = time.perf_counter()
        q = querier(sim)
        best = min(best, time.perf_counter() - t0)
        del q
    firsts = []
    for _ in range(20):
        q = querier(sim)
        t0 = time.perf_counter()
        q.attributes()
        firsts.append(time.perf_counter() - t0)
    firsts.sort()
    return best, firsts[len(firsts) // 2]


def ms(secs: float) -> str:
    return f"{secs * 1000:,.1f}"


def table(best: dict[str, tuple[float, int]], expect: int) -> list[str]:
    b, o, t = best[BYTES][0], best[ORJSON][0], best[TUTORIAL][0]
    lines = [
        "| case | best (ms) | members/s | time / bytes-only walk | speed / orjson floor "
        "| speed / tutorial |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (secs, n) in best.items():
        flag = "" if n == expect else f" (returned {n}!)"
        lines.append(
            f"| {name}{flag} | {ms(secs)} | {n / secs:,.0f} | {secs / b:.2f}x | {o / secs:.2f}x "
            f"| {t / secs:.2f}x |"
        )
    return lines


def goals(
    best: dict[str, tuple[float, int]],
    conc: dict[str, tuple[float, int]],
    lat,
    cache,
    n: int,
    pages: int,
    build: float,
) -> list[str]:
    def t(name: str, src=best) -> float:
        return src[name][0]

    def line(text: str, got: float, ok: bool) -> str:
        return f"- {text}: {got:.2f}, {'met' if ok else 'NOT met'}"

    seq, gat = t(f"{n} x members() in sequence", conc), t(f"{n} x members_async() gathered", conc)
    arrow_hit = t("members_arrow() from the cache", cache) / pages * 1e6
    return [
        line(
            "members() speed / orjson floor >= 1.0",
            t(ORJSON) / t("members()"),
            t(ORJSON) >= t("members()"),
        ),
        line(
            "members() speed / orjson floor with gc off >= 1.0",
            t(ORJSON_GC_OFF) / t("members()"),
            t(ORJSON_GC_OFF) >= t("members()"),
        ),
        line(
            "members_async() time / members() time <= 1.10",
            t("members_async()") / t("members()"),
            t("members_async()") <= 1.10 * t("members()"),
        ),
        line(f"{n} gathered members_async() time / {n} in sequence <= 1.0", gat / seq, gat <= seq),
        line(
            f"with latency, {n} gathered time / slowest single (close to 1)",
            t(f"{n} gathered", lat) / t("slowest single", lat),
            t(f"{n} gathered", lat) <= 1.5 * t("slowest single", lat),
        ),
        line(
            "members_arrow() time / bytes-only walk <= 1.5",
            t("members_arrow()") / t(BYTES),
            t("members_arrow()") <= 1.5 * t(BYTES),
        ),
        line(
            "members_arrow() speed / tutorial >= 12",
            t(TUTORIAL) / t("members_arrow()"),
            t(TUTORIAL) >= 12 * t("members_arrow()"),
        ),
        line("members_arrow() cache hit, us a page < 20", arrow_hit, arrow_hit < 20),
        line(
            "members() from the cache, speed / orjson floor (dicts as fast as they build)",
            t(ORJSON) / t("members() from the cache", cache) * 1.0,
            True,
        ).replace(", met", ""),
        line("Querier() construction, ms < 1", build * 1000, build < 1e-3),
    ]


def paired(n: int) -> list[str]:
    """The same ratios as the median over runs of each run's own ratio (the
    two cases of a run ran back to back): steadier than a ratio of bests
    on a shared machine, where one lucky run moves a best."""
    pairs = [
        ("members_async() time / members() time", "members_async()", "members()"),
        (
            f"{n} gathered members_async() time / {n} in sequence",
            f"{n} x members_async() gathered",
            f"{n} x members() in sequence",
        ),
        ("members_arrow() time / bytes-only walk", "members_arrow()", BYTES),
        ("members_arrow() speed / tutorial", TUTORIAL, "members_arrow()"),
    ]
    out = []
    for text, a, b in pairs:
        ratios = sorted(x / y for x, y in zip(TIMES[a], TIMES[b], strict=True))
        shown = " ".join(f"{r:.2f}" for r in ratios)
        out.append(f"- {text}: median {statistics.median(ratios):.2f} (runs: {shown})")
    return out


def plot(path: Path, best: dict[str, tuple[float, int]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in best if k not in (BYTES, ORJSON, ORJSON_GC_OFF)]
    secs = [best[k][0] * 1000 for k in names]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.barh(names, secs, color="#4878a8")
    for floor, colour in ((BYTES, "#c44e52"), (ORJSON, "#55a868"), (ORJSON_GC_OFF, "#8172b2")):
        ax.axvline(
            best[floor][0] * 1000,
            color=colour,
            linestyle="--",
            label=f"{floor}: {best[floor][0] * 1000:.0f} ms",
        )
    ax.set_xlabel("time per listing (ms, best of the run; lower is better)")
    ax.set_title(title, fontsize=10)
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--latency-members", type=int, default=10_000)
    ap.add_argument("--rss-members", type=int, default=1_000_000, help="0 skips the memory check")
    ap.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--plot", default=str(BENCH / "results.png"), help="'' skips the plot")
    a = ap.parse_args()
    n, pages = a.concurrency, -(-a.members // a.limit)

    m0 = machine()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = f"{a.members:,} members, limit {a.limit}, best of {a.runs}"
    print(f"{when}: {head}; load {m0['load']}", flush=True)
    with Simulator(members=a.members, port=0) as sim:
        bodies = page_bodies(sim, a.limit)
        best = best_of(cases(sim, a.limit, bodies), a.runs)
        print("concurrency (CPU-bound):", flush=True)
        conc = concurrency(sim, a.limit, n, a.runs)
        print("response cache:", flush=True)
        cache = cache_cases(sim, a.limit, pages, a.runs)
        build, first = construction(sim)
    print(f"concurrency with {a.latency * 1000:.0f} ms latency:", flush=True)
    lat = with_latency(a.latency_members, a.limit, n, a.latency)
    gc.collect()

    lines = [
        "# Benchmark results",
        "",
        f"- date: {when}",
        f"- machine: nproc {m0['nproc']}, {m0['cpu']}, Python {m0['python']}",
        f"- load average at the start: {m0['load']} (shared machine: other builds were running)",
        f"- embedded simulator (in process) with {head}, cases interleaved",
        "",
        *table(best, a.members),
        "",
        f"Concurrency: {n} listings with different filters (`lifetime_value>0`, `>10`, ...), "
        "CPU-bound, same simulator:",
        "",
        "| case | best (ms) | members |",
        "|---|---:|---:|",
        *(f"| {k} | {ms(s)} | {c:,} |" for k, (s, c) in conc.items()),
        "",
        f"With {a.latency * 1000:.0f} ms added to every API call ({a.latency_members:,} members, "
        f"{-(-a.latency_members // a.limit)} pages a listing):",
        "",
        "| case | ms |",
        "|---|---:|",
        *(f"| {k} | {ms(s)} |" for k, (s, _) in lat.items()),
        "",
        f"Response cache ({pages} pages held, no request reaches the simulator):",
        "",
        "| case | best (ms) | us a page |",
        "|---|---:|---:|",
        *(f"| {k} | {ms(s)} | {s / pages * 1e6:,.1f} |" for k, (s, _) in cache.items()),
        "",
        f"- `Querier()` construction: {build * 1e6:,.0f} us (best of 200)",
        f"- the first call (`attributes()`: token + schema): {first * 1000:,.2f} ms (median of 20)",
        "",
        "Goals:",
        "",
        *goals(best, conc, lat, cache, n, pages, build),
        "",
        "The same ratios, paired run by run (median of the runs' own ratios):",
        "",
        *paired(n),
    ]
    if a.rss_members:
        lines += [
            "",
            f"Memory: {a.rss_members:,} members streamed (limit {a.limit}), one consumer "
            "subprocess each, the simulator in another process (`python -m cxone_cdp simulate`); "
            "with the default response cache (50 pages, 8 MiB) and without it:",
            "",
            "| case | members | members/s | RSS at start (MiB) | peak (MiB) "
            "| peak above start (MiB) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for kind, (count, start, peak, secs) in rss_out_of_process(a.rss_members, a.limit):
            above = peak - start
            ok = "met" if above < RSS_GOAL_MIB else "NOT met"
            lines.append(
                f"| {kind} | {count:,} | {count / secs:,.0f} | {start:.1f} | {peak:.1f} | "
                f"{above:.1f} ({ok}: < {RSS_GOAL_MIB:.0f}) |"
            )
    lines += ["", f"- load average at the end: {machine()['load']}", ""]
    text = "\n".join(lines)
    print(text)
    Path(a.out).write_text(text)
    print(f"written to {a.out}")
    if a.plot:
        plot(Path(a.plot), best, f"{when}: {head} (embedded simulator)")


if __name__ == "__main__":
    main()
