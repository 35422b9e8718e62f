"""The dict path, strategy by strategy: how long the Python thread spends to
turn members page bodies (fetched from the simulator) into dicts.

    maturin develop --release --features dict-bench   # builds `_native._dict_bench`
    python bench/bench_dict.py [--members 100000] [--limit 1000] [--repeat 5]

- tree:          the Querier's path: parse to a Rust Json tree off the GIL
                 (in the pipeline that happens in the background), then build
                 dicts with interned keys; only the build is timed
- tree_dropper:  the same, trees freed on the dropper thread
- tape:          the Querier's path now: decode to a flat page tape off the
                 GIL, then build dicts (keys made once per page); only the
                 build is timed
- tree_parse, tape_parse: the off-GIL decode alone (the runtime thread's
                 share per page), for the tree and the tape
- pythonize:     pythonize (the crate the small conversions use) over the
                 page parsed to a serde_json Value off the GIL; only the
                 build is timed
- jiter_keys:    jiter PythonParse (StringCacheMode::Keys) bytes -> objects,
                 all under the GIL (the whole parse is timed)
- jiter_all:     the same caching every short string
- orjson:        orjson.loads per page (for reference)
"""

from __future__ import annotations

import argparse
import time

import orjson
from _common import bare_pages
from cxone_cdp import _native
from cxone_cdp.testing import Simulator


def orjson_mode(bodies: list[bytes]) -> tuple[int, float]:
    t0 = time.perf_counter()
    out: list = []
    for b in bodies:
        out.extend(orjson.loads(b)["items"])
    return len(out), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with Simulator(members=a.members, port=0) as sim:
        bodies = [body for body, _ in bare_pages(sim, a.limit)]
    modes = ["tree", "tree_dropper", "tape", "pythonize", "jiter_keys", "jiter_all", "orjson"]
    modes += ["tree_parse", "tape_parse"]
    best = {m: float("inf") for m in modes}
    for _ in range(a.repeat):
        for m in modes:  # interleaved
            n, secs = orjson_mode(bodies) if m == "orjson" else _native._dict_bench(bodies, m)
            assert n == a.members, (m, n)
            best[m] = min(best[m], secs)
    print(f"{a.members:,} members in {len(bodies)} pages, best of {a.repeat} (Python-thread time)")
    for m in modes:
        print(
            f"  {m:<13} {best[m] * 1e3:8.1f} ms  {a.members / best[m]:>12,.0f} members/s  "
            f"({best['tree'] / best[m]:.2f}x tree's speed)"
        )


if __name__ == "__main__":
    main()
