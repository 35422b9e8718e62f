"""DuckDB on a streamed listing: --members (1,000,000) members streamed from
`iter_batches()` (an Arrow C stream) into a DuckDB aggregate, and for
contrast the same aggregate over the whole table (`members_arrow()`), each in
a fresh client process, with the simulator in a process of its own
(`python -m cxone_cdp simulate`). Reports members/s and the peak RSS above
the client's start (after imports and a warm-up query), sampled every 20 ms.

    python bench/bench_duckdb.py [--members 1000000] [--limit 1000]

Needs duckdb and pyarrow (the test extra).

The stream's own memory does not grow with the audience (a group-by like the
one here peaks a few MiB above the start at 1M and at 2M members). Some
DuckDB plans do hold on to the data they scan: an ungrouped
`count(distinct city)` next to other aggregates peaked at +45 MiB (1M) and
+82 MiB (2M) in the same setup, which is DuckDB's, not the stream's.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

CHILD = r"""
import sys, threading, time
import duckdb
import pyarrow                 # loaded before the start mark: DuckDB's Arrow scan uses it
from cxone_cdp import Querier

def rss_kb(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

kind, base_url, aud, limit = sys.argv[1:5]
q = Querier(base_url, "sim-client", "sim-secret", cache_size=0)
q.attributes()
duckdb.execute("set enable_progress_bar = false")
duckdb.sql("select 1").fetchall()          # warm: DuckDB's threads and allocator
start = rss_kb()
peak = [start]
done = threading.Event()

def sample():
    while not done.wait(0.02):
        peak[0] = max(peak[0], rss_kb())

threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
sql = (
    "select city, count(*) as n, sum(lifetime_value), count(*) filter (where is_vip) "
    "from src group by city"
)
if kind == "stream":
    src = q.iter_batches(aud, limit=int(limit))
else:
    src = q.members_arrow(aud, limit=int(limit))
n = sum(row[1] for row in duckdb.sql(sql).fetchall())
secs = time.perf_counter() - t0
done.set()
print(n, start, max(peak[0], rss_kb()), secs)
"""


def simulator(members: int) -> tuple[subprocess.Popen[str], str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "cxone_cdp", "simulate", "--port", "0", "--members", str(members)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    first = p.stdout.readline()
    return p, first.rsplit(" ", 1)[1].strip()


def run(kind: str, base_url: str, limit: int) -> tuple[int, float, float, float]:
    from cxone_cdp.testing import AUDIENCE_ID

    out = (
        subprocess.run(
            [sys.executable, "-c", CHILD, kind, base_url, AUDIENCE_ID, str(limit)],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.splitlines()[-1]
        .split()
    )
    n, start, peak, secs = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    return n, start / 1024, peak / 1024, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--limit", type=int, default=1000)
    a = ap.parse_args()
    sim, base_url = simulator(a.members)
    try:
        for kind, what in (("stream", "iter_batches() stream"), ("table", "members_arrow() table")):
            n, start, peak, secs = run(kind, base_url, a.limit)
            print(
                f"DuckDB aggregate over a {what}: {n:,} members in {secs:.2f} s "
                f"({n / secs:,.0f} members/s), RSS at start {start:.1f} MiB, "
                f"peak {peak:.1f} MiB (+{peak - start:.1f} MiB)",
                flush=True,
            )
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=20)


if __name__ == "__main__":
    main()
