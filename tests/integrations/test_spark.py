"""The Spark data source against the simulator, on one local[2] SparkSession.

Needs the optional ``spark`` extra (``pip install 'cxone-cdp[spark]'``) and a
Java runtime; the module is skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip(
    "pyspark",
    reason="pyspark is not installed: `python3 tasks.py test` installs the 'spark' extra where "
    "Java 17+ runs (or pip install 'cxone-cdp[spark]')",
)


def _java_major() -> int | None:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr)
    if m is None:
        return None
    return int(m.group(2) or 0) if m.group(1) == "1" else int(m.group(1))


_JAVA = _java_major()
if _JAVA is None or _JAVA < 17:
    pytest.skip(
        f"{'no Java runtime' if _JAVA is None else f'Java {_JAVA}'} (java on PATH or "
        "JAVA_HOME): Spark 4 needs Java 17+",
        allow_module_level=True,
    )

import pyarrow as pa  # noqa: E402
from conftest import module_simulator  # noqa: E402
from cxone_cdp import Querier, ValidationError  # noqa: E402
from cxone_cdp.spark import (  # noqa: E402
    CxoneDataSource,
    MemberPartition,
    PartitionGroup,
    _arrow_schema,
    _Settings,
    group_partitions,
    parse_filters,
    plan_input_partitions,
    read_concurrently,
    spark_schema,
)
from cxone_cdp.testing import (  # noqa: E402
    AUDIENCE_ID,
    EMPTY_AUDIENCE_ID,
    SUBSET_AUDIENCE_ID,
)

SECRET = "hush-5ecret-value-0042"
ENV = (
    "CXONE_CDP_BASE_URL",
    "CXONE_CDP_TOKEN_URL",
    "CXONE_CDP_CLIENT_ID",
    "CXONE_CDP_CLIENT_SECRET",
)


sim = module_simulator("sim", members=3_000)
#: Every 25th member lacks lifetime_value; a distinctive secret, given as options.
sim_missing = module_simulator(
    "sim_missing", members=1_000, missing_attribute_every=25, client_secret=SECRET
)


@pytest.fixture(scope="module")
def event_log(tmp_path_factory):
    """Spark's event log: what its UI and history server show (plans, options)."""
    return tmp_path_factory.mktemp("spark-events")


@pytest.fixture(scope="module")
def spark(sim, event_log):
    from pyspark.sql import SparkSession

    # The connection comes from the environment (inherited by the JVM and its
    # Python workers, so it must be set before the session starts).
    saved = {k: os.environ.get(k) for k in (*ENV, "PYSPARK_PYTHON", "SPARK_LOCAL_IP")}
    os.environ.update(
        CXONE_CDP_BASE_URL=sim.base_url,
        CXONE_CDP_TOKEN_URL=sim.token_url,
        CXONE_CDP_CLIENT_ID=sim.client_id,
        CXONE_CDP_CLIENT_SECRET=sim.client_secret,
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cxone-cdp-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", event_log.as_uri())
        .config("spark.eventLog.compress", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.dataSource.register(CxoneDataSource)
    yield session
    session.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _ids(rows, column="memberId"):
    return [r[column] for r in rows]


def _expected_ids(sim, audience=AUDIENCE_ID, filters=()):
    return {m["memberId"] for m in sim.expected_members(audience, filters)}


def _row(member):
    """A simulator member as the frame's row (dict)."""
    a = member["attributes"]
    joined = dt.datetime.fromisoformat(member["joinedAt"].replace("Z", "+00:00"))
    return {
        "memberId": member["memberId"],
        # Spark hands timestamps back as naive local times.
        "joinedAt": joined.astimezone().replace(tzinfo=None),
        "lifecycle_stage": a["lifecycle_stage"],
        "last_purchase_date": dt.date.fromisoformat(a["last_purchase_date"]),
        "city": a["city"],
        "lifetime_value": float(a["lifetime_value"]),
        "is_vip": a["is_vip"],
    }


# -- without a session ---------------------------------------------------------------


def test_filter_option_syntax():
    assert parse_filters("city=Rock & Roll;lifetime_value>100") == [
        ("city", "=", "Rock & Roll"),
        ("lifetime_value", ">", "100"),
    ]
    assert parse_filters(" city=a+b=c ; city!=x#y;city~Pau;;") == [
        ("city", "=", "a+b=c "),
        ("city", "!=", "x#y"),
        ("city", "~", "Pau"),
    ]
    assert parse_filters(r"city=a\;b;city<z\\") == [("city", "=", "a;b"), ("city", "<", "z\\")]
    for bad in ("city", "city!x", "=x"):
        with pytest.raises(ValidationError):
            parse_filters(bad)
    s = _Settings.from_options({"audience": "a", "filter": "city=x", "filter.2": "is_vip=true"})
    types = {"city": "string", "is_vip": "boolean", "lifetime_value": "number"}
    assert s.filters(types) == [("city", "=", "x"), ("is_vip", "=", True)]
    with pytest.raises(ValidationError, match="decimal"):
        _Settings.from_options({"audience": "a", "filter": "lifetime_value>1e5"}).filters(types)
    with pytest.raises(ValidationError, match="not found"):
        _Settings.from_options({"audience": "a", "filter": "nope=1"}).filters(types)
    for opts in (
        {},
        {"audience": "a", "audiences": "b"},
        {"audiences": " , "},
        {"audience": "a", "numPartitions": "4"},
        {"audience": "a", "partitionBy": "city", "numPartitions": "0"},
        {"audience": "a", "limit": "5000"},
    ):
        with pytest.raises(ValidationError):
            _Settings.from_options(opts)
    s = _Settings.from_options(
        {"audiences": "x, y", "PARTITIONBY": "city", "client_secret": SECRET}
    )
    assert (s.audiences, s.partition_by, s.num_partitions, s.multi) == (("x", "y"), "city", 8, True)
    assert SECRET not in repr(s)


def test_schema_is_the_arrow_layout(spark, sim):
    df = spark.read.format("cxone_cdp").option("audience", AUDIENCE_ID).load()
    got = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
    assert got == [
        ("memberId", "string"),
        ("joinedAt", "timestamp"),
        ("lifecycle_stage", "string"),
        ("last_purchase_date", "date"),
        ("city", "string"),
        ("lifetime_value", "double"),
        ("is_vip", "boolean"),
    ]
    assert spark_schema({"a": "number", "b": "weird"}, audience_column=True).fieldNames() == [
        "audienceId",
        "memberId",
        "joinedAt",
        "a",
    ]


def test_filtered_read_has_the_members_values(spark, sim):
    df = (
        spark.read.format("cxone_cdp")
        .option("audience", AUDIENCE_ID)
        .option("filter", "city=Rock & Roll;lifetime_value>100")
        .load()
    )
    expected = sim.expected_members(AUDIENCE_ID, ["city=Rock & Roll", "lifetime_value>100"])
    assert len(expected) > 10
    rows = sorted((r.asDict() for r in df.collect()), key=lambda r: r["memberId"])
    assert rows == sorted((_row(m) for m in expected), key=lambda r: r["memberId"])


@pytest.mark.parametrize(
    ("by", "streams"),
    [("lifetime_value", None), ("last_purchase_date", None), ("city", None), ("city", "1")],
)
def test_partitioned_read_equals_the_unpartitioned_set(spark, sim, by, streams):
    reader = spark.read.format("cxone_cdp").option("audience", AUDIENCE_ID)
    reader = reader.option("partitionBy", by).option("numPartitions", 3)
    if streams is not None:
        reader = reader.option("streamsPerPartition", streams)
    df = reader.load()
    assert df.rdd.getNumPartitions() == 3
    ids = _ids(df.select("memberId").collect())
    assert len(ids) == len(set(ids)), "duplicates"
    assert set(ids) == _expected_ids(sim), "gaps"


def test_partitions_group_the_plans_sub_queries(sim):
    q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
    settings = _Settings.from_options(
        {"audience": AUDIENCE_ID, "partitionBy": "lifetime_value", "numPartitions": "3"}
    )
    assert settings.streams == 4
    groups = plan_input_partitions(settings, q)
    assert len(groups) == 3 and all(isinstance(g, PartitionGroup) for g in groups)
    assert [g.index for g in groups] == [0, 1, 2]
    parts = [p for g in groups for p in g.parts]
    # 12 ranges and the equality sub-queries between them, each in one group,
    # consecutive in value order.
    assert [p.index for p in parts] == list(range(len(parts)))
    assert 12 <= len(parts) <= 23
    sizes = [g.expected_count for g in groups]
    assert sum(sizes) == sim.members
    assert max(sizes) - min(sizes) <= sim.members * 0.2, sizes
    # Grouping alone: every part once, no empty group, at most `groups`.
    fake = [MemberPartition("a", i, (), c) for i, c in enumerate([0, 5, 0, 0, 90, 5, 0])]
    for n in (1, 2, 3, 7, 10):
        gs = group_partitions(fake, n, 2)
        assert [p for g in gs for p in g.parts] == fake
        assert 1 <= len(gs) <= n and all(g.parts for g in gs)
        assert [g.index for g in gs] == list(range(len(gs)))
    assert len(group_partitions([MemberPartition("a", 0, (), 0)] * 3, 4, 2)) == 1
    assert group_partitions([], 4, 2) == []


def test_read_concurrently_merges_streams_and_raises_their_errors(sim):
    q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
    target = _arrow_schema(spark_schema(q.attributes()))
    plan = q.plan_partitions(AUDIENCE_ID, by="lifetime_value", partitions=6)
    parts = [
        MemberPartition(AUDIENCE_ID, p["index"], tuple(p["filters"]), p["expected_count"])
        for p in plan
    ]
    for streams in (1, 3, 16):
        rows: dict[int, int] = {}
        ids: list[str] = []
        done = []
        for part, batch in read_concurrently(q, parts, 200, target, streams):
            if batch is None:
                done.append(part.index)
                continue
            assert batch.schema == target
            rows[part.index] = rows.get(part.index, 0) + batch.num_rows
            ids.extend(batch.column("memberId").to_pylist())
        assert sorted(done) == [p.index for p in parts]
        assert all(rows.get(p.index, 0) == p.expected_count for p in parts)
        assert len(ids) == len(set(ids)) and set(ids) == _expected_ids(sim)
    # Stopping early leaves no thread behind; an error in a stream is raised.
    gen = read_concurrently(q, parts, 100, target, 4)
    next(gen)
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("cxone-cdp-stream")]
    bad = [*parts, MemberPartition(AUDIENCE_ID, 99, (("nope", "eq", 1),), 1)]
    with pytest.raises(ValidationError, match="nope"):
        for _ in read_concurrently(q, bad, 1000, target, 3):
            pass
    assert isinstance(target, pa.Schema)


def test_plan_that_cannot_cover_every_member_is_refused(spark, sim_missing, caplog):
    caplog.set_level(logging.DEBUG, logger="cxone_cdp")
    opts = {
        "audience": AUDIENCE_ID,
        "base_url": sim_missing.base_url,
        "token_url": sim_missing.token_url,
        "client_id": sim_missing.client_id,
        "client_secret": SECRET,
    }
    df = spark.read.format("cxone_cdp").options(**opts).option("partitionBy", "lifetime_value")
    with pytest.raises(Exception, match="partition_cover_incomplete|lack the attribute") as e:
        df.load().collect()
    assert SECRET not in str(e.value)
    # Partitioned by an attribute every member has, the read is complete.
    ok = spark.read.format("cxone_cdp").options(**opts).option("partitionBy", "city").load()
    assert set(_ids(ok.select("memberId").collect())) == _expected_ids(sim_missing)
    assert SECRET not in caplog.text


def test_three_audiences_in_one_read(spark, sim):
    auds = [AUDIENCE_ID, SUBSET_AUDIENCE_ID, EMPTY_AUDIENCE_ID]
    df = (
        spark.read.format("cxone_cdp")
        .option("audiences", ",".join(auds))
        .option("partitionBy", "city")
        .option("numPartitions", 3)
        .option("filter", "is_vip=false")
        .load()
    )
    assert df.schema.fieldNames()[0] == "audienceId"
    rows = df.select("audienceId", "memberId").collect()
    got: dict[str, list[str]] = {}
    for r in rows:
        got.setdefault(r["audienceId"], []).append(r["memberId"])
    for aud in auds:
        ids = got.get(aud, [])
        assert len(ids) == len(set(ids))
        assert set(ids) == _expected_ids(sim, aud, ["is_vip=false"]), aud
    assert 0 < len(got[SUBSET_AUDIENCE_ID]) < len(got[AUDIENCE_ID])
    assert EMPTY_AUDIENCE_ID not in got


def test_secrets_stay_out_of_plans_partitions_and_logs(
    spark, sim_missing, caplog, capsys, event_log
):
    caplog.set_level(logging.DEBUG, logger="cxone_cdp")
    opts = {
        "audiences": f"{AUDIENCE_ID},{SUBSET_AUDIENCE_ID}",
        "partitionBy": "city",
        "numPartitions": "3",
        "base_url": sim_missing.base_url,
        "token_url": sim_missing.token_url,
        "client_id": sim_missing.client_id,
        "client_secret": SECRET,
    }
    df = spark.read.format("cxone_cdp").options(**opts).load()
    n = df.count()
    assert n == len(sim_missing.expected_members(AUDIENCE_ID)) + len(
        sim_missing.expected_members(SUBSET_AUDIENCE_ID)
    )
    # The plan as Spark shows it (explain, the query execution).
    plan_text = df._jdf.queryExecution().toString()
    assert "cxone_cdp" in plan_text.lower() or "PythonDataSource" in plan_text, plan_text
    assert SECRET not in plan_text
    for mode in ("extended", "formatted", "cost"):
        df.explain(mode=mode)
    shown = capsys.readouterr()
    assert shown.out.strip() and SECRET not in shown.out + shown.err
    # What Spark's UI and history server show: the event log (SQL plans,
    # job and stage descriptions, the session's properties).
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    events = "".join(f.read_text(errors="replace") for f in event_log.rglob("*") if f.is_file())
    assert "SparkListenerSQLExecutionStart" in events and "BatchScan cxone_cdp" in events
    assert SECRET not in events
    # The reader's partitions, as Spark pickles and shows them.
    source = CxoneDataSource(dict(opts))
    reader = source.reader(source.schema())
    parts = reader.partitions()
    assert parts and all(isinstance(p, PartitionGroup) for p in parts)
    for p in parts:
        assert SECRET not in repr(p) and SECRET.encode() not in pickle.dumps(p)
    assert SECRET not in repr(reader)
    assert sum(p.expected_count for p in parts) == n
    assert SECRET not in caplog.text
    assert "partition(s)" in caplog.text  # the planning was logged
