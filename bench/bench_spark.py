"""Partitioned vs single-stream reads of a large audience over a slow API.

Against the embedded simulator with added latency per API call (default
1,000,000 members, 50 ms a call, pages of 1000), one run each:

1. planning: ``Querier.plan_partitions`` (count requests only), timed alone;
2. plain Python, Arrow batches (``cxone_cdp.spark.member_batches``, the
   function the Spark reader uses): one stream vs the plan's sub-queries
   listed at once (``cxone_cdp.spark.read_concurrently``, what a Spark task
   does with its share);
3. Spark (local[2]): ``spark.read.format("cxone_cdp")`` written to the
   ``noop`` sink (every row and column read), one partition vs partitioned,
   for each ``numPartitions x streamsPerPartition`` given with ``--spark-split``
   (the planning on the driver included; the planning alone is step 1).

    python bench/bench_spark.py [--members 1000000] [--latency 0.05]
                                [--partitions 32] [--by lifetime_value] [--no-spark]
                                [--master local[2]] [--spark-split 8x4 --spark-split 2x16]

Needs pyarrow and, for step 3, pyspark and Java (pip install 'cxone-cdp[spark]').
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pyarrow as pa
from _common import querier
from cxone_cdp import Querier
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def arrow_target(q: Querier) -> pa.Schema:
    from cxone_cdp.spark import _arrow_schema, spark_schema

    return _arrow_schema(spark_schema(q.attributes()))


def read_stream(q: Querier, filters, target) -> int:
    from cxone_cdp.spark import member_batches

    return sum(b.num_rows for b in member_batches(q, AUDIENCE_ID, filters, 1000, target))


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    shown = f"{out:,} rows" if isinstance(out, int) else ""
    print(f"  {label:<46} {dt:8.2f} s   {shown}")
    return dt, out


def plain(sim: Simulator, partitions: int, by: str) -> dict[str, float]:
    q = querier(sim)
    target = arrow_target(q)
    res: dict[str, float] = {}
    print("plain Python (Arrow batches built from pages):")
    res["single"], n1 = timed("single stream", lambda: read_stream(q, [], target))
    res["plan"], plan = timed(
        f"plan {partitions} partitions by {by}",
        lambda: q.plan_partitions(AUDIENCE_ID, by=by, partitions=partitions),
    )
    print(
        f"    -> {len(plan)} sub-queries, sizes {min(p['expected_count'] for p in plan):,}"
        f"..{max(p['expected_count'] for p in plan):,}"
    )

    def partitioned() -> int:
        from cxone_cdp.spark import MemberPartition, read_concurrently

        parts = [
            MemberPartition(AUDIENCE_ID, p["index"], tuple(p["filters"]), p["expected_count"])
            for p in plan
        ]
        return sum(
            b.num_rows
            for _, b in read_concurrently(q, parts, 1000, target, partitions)
            if b is not None
        )

    res["threads"], n2 = timed(f"the {len(plan)} sub-queries, {partitions} at once", partitioned)
    assert n1 == n2 == sim.members, (n1, n2)
    return res


def spark_runs(sim: Simulator, splits: list[str], by: str, master: str) -> dict[str, float]:
    # Spark's Python workers are this interpreter; the connection goes as options.
    os.environ.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    names = ("base_url", "token_url", "client_id", "client_secret")
    connection = {name: getattr(sim, name) for name in names}
    from cxone_cdp.spark import CxoneDataSource
    from pyspark.sql import SparkSession

    res: dict[str, float] = {}
    print(f"Spark {master} (noop sink):")
    t = time.perf_counter()
    spark = (
        SparkSession.builder.master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    res["start"] = time.perf_counter() - t
    print(f"  {'session start':<46} {res['start']:8.2f} s")
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(CxoneDataSource)

    def run(**opts) -> None:
        read = spark.read.format("cxone_cdp").options(**connection, audience=AUDIENCE_ID)
        df = read.options(**opts).load()
        df.write.format("noop").mode("overwrite").save()

    res["warmup"], _ = timed("warm-up (small filtered read)", lambda: run(filter="city=x#y"))
    res["single"], _ = timed("one partition", lambda: run())
    for split in splits:
        n, streams = split.split("x")
        res[split], _ = timed(
            f"partitionBy {by}, numPartitions {n}, streamsPerPartition {streams}",
            lambda n=n, streams=streams: run(
                partitionBy=by, numPartitions=n, streamsPerPartition=streams
            ),
        )
    spark.stop()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--partitions", type=int, default=32)
    ap.add_argument("--by", default="lifetime_value")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument(
        "--spark-split",
        action="append",
        help="numPartitions x streamsPerPartition for a Spark run (repeatable; default 8x4)",
    )
    ap.add_argument(
        "--master",
        default="local[2]",
        help="Spark master; task slots bound the partitions read at once (local[16] for I/O)",
    )
    args = ap.parse_args()
    print(
        f"{args.members:,} members, {args.latency * 1000:.0f} ms per API call, pages of 1000, "
        f"{os.cpu_count()} cores"
    )
    with Simulator(members=args.members, latency=args.latency) as sim:
        p = plain(sim, args.partitions, args.by)
        print(
            f"  => partitioned / single: {p['single'] / (p['plan'] + p['threads']):.1f}x faster "
            f"(planning included)"
        )
        if not args.no_spark:
            splits = args.spark_split or ["8x4"]
            s = spark_runs(sim, splits, args.by, args.master)
            for split in splits:
                print(f"  => Spark {split} / single: {s['single'] / s[split]:.1f}x faster")


if __name__ == "__main__":
    main()
