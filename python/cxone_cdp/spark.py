"""Read CDP audiences into Spark DataFrames: a PySpark (Spark 4) Python Data Source.

    from cxone_cdp.spark import CxoneDataSource

    spark.dataSource.register(CxoneDataSource)
    df = (
        spark.read.format("cxone_cdp")
        .option("audience", "a1b2c3d4-...")
        .option("filter", "city=Rock & Roll;lifetime_value>100")
        .option("partitionBy", "lifetime_value")
        .option("numPartitions", 8)
        .load()
    )

Options (names are case-insensitive):

``audience``
    One audience id. Or ``audiences``: several, comma-separated; the frame
    then gets an ``audienceId`` column (first).
``filter``
    Filters in the wire form ``<attribute><op><value>`` with op one of
    ``=``, ``!=``, ``>``, ``<``, ``~`` (contains), several separated by ``;``,
    read by the client's own filter grammar (the CLI's ``--filter`` form).
    The attribute runs up to the first of ``= ! > < ~``; the value is the
    rest, taken as is (spaces included; no quoting), typed by the attribute's
    schema type (number: a decimal literal, date: ``YYYY-MM-DD``, boolean:
    ``true``/``false``). A literal ``;`` in a value is written ``\\;`` (and a
    literal backslash before ``;`` as ``\\\\``). More filter options may be
    given as ``filter.<anything>`` (e.g. ``filter.1``, ``filter.vip``); all
    are combined with AND.
``partitionBy``, ``numPartitions``, ``streamsPerPartition``
    Split every audience into about ``numPartitions`` (default 8) Spark
    partitions of roughly equal size on a number, date or string attribute.
    Each Spark partition holds ``streamsPerPartition`` (default 4) disjoint
    sub-queries (plus the plan's equality sub-queries, usually tiny) that its
    task lists at once on threads: a listing is latency-bound, so one task
    slot keeps several requests in flight. The sub-queries are
    ``Querier.plan_partitions(partitions=numPartitions * streamsPerPartition)``,
    verified with counts before any member is read: if members lack the
    attribute the read fails at planning instead of losing them. Without
    ``partitionBy`` each audience is one partition of one stream.
``limit``
    Page size of each members request (1..1000, default 1000); not a row cap.
``base_url``, ``token_url``, ``client_id``, ``client_secret``
    Connection settings; each falls back to the environment variables
    ``CXONE_CDP_BASE_URL``, ``CXONE_CDP_TOKEN_URL``, ``CXONE_CDP_CLIENT_ID``
    and ``CXONE_CDP_CLIENT_SECRET``, read where the Querier is built (the
    driver for the schema and the plan, each executor for its partitions).
    Prefer the environment for the secret: an option travels inside the
    pickled reader (never in a partition, a plan or a log line) and Spark
    shows options in plans and its UI, redacted only by
    ``spark.redaction.regex`` (which matches ``secret`` by default).
``ca_bundle``, ``proxy``
    The network settings of ``Querier(ca_bundle=..., proxy=...)``, falling
    back to ``CXONE_CDP_CA_BUNDLE`` and ``CXONE_CDP_PROXY``: a PEM file of CA
    certificates trusted besides the system's (it must exist at that path on
    the driver and every executor), and an ``http://`` or ``https://`` proxy
    for every call. Give proxy credentials (``http://user:password@host:port``)
    in ``CXONE_CDP_PROXY``, not in the option: Spark's default redaction does
    not match ``proxy``.

Columns (the Arrow layout of the native client): ``memberId`` (string),
``joinedAt`` (timestamp, UTC), then one column per attribute in the order of
the attributes endpoint: string -> string, number -> double, boolean ->
boolean, date -> date. Attributes of unknown types are left out; a missing
value is a null.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from cxone_cdp import Querier
from cxone_cdp._spark_options import _Settings, parse_filters  # the options, read without Spark

__all__ = [
    "AUDIENCE_COLUMN",
    "CxoneDataSource",
    "CxoneReader",
    "MemberPartition",
    "PartitionGroup",
    "member_batches",
    "parse_filters",
    "register",
    "spark_schema",
]

log = logging.getLogger("cxone_cdp.spark")

#: Name of the column holding the audience id in multi-audience reads.
AUDIENCE_COLUMN = "audienceId"
#: Audiences planned at once on the driver.
PLAN_CONCURRENCY = 8

_SPARK_TYPES: dict[str, DataType] = {
    "string": StringType(),
    "number": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
}


def register(spark: Any) -> None:
    """Register the ``cxone_cdp`` format with a SparkSession."""
    spark.dataSource.register(CxoneDataSource)


# -- schema ----------------------------------------------------------------------


def spark_schema(attributes: Mapping[str, str], *, audience_column: bool = False) -> StructType:
    """The frame's schema for an attribute schema (``name -> type`` in the
    endpoint's order): the native Arrow layout, optionally led by ``audienceId``."""
    fields = [StructField(AUDIENCE_COLUMN, StringType(), False)] if audience_column else []
    fields += [
        StructField("memberId", StringType(), False),
        StructField("joinedAt", TimestampType(), True),
    ]
    taken = {f.name for f in fields}
    for name, ty in attributes.items():
        spark_type = _SPARK_TYPES.get(ty)
        if spark_type is not None and name not in taken:
            fields.append(StructField(name, spark_type, True))
            taken.add(name)
    return StructType(fields)


def _arrow_schema(schema: StructType) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    # The exact Arrow schema Spark expects from read() (timestamps in UTC).
    return to_arrow_schema(schema, timezone="UTC")


# -- batches ----------------------------------------------------------------------


def _conform(batch: pa.RecordBatch, target: pa.Schema, audience_id: str) -> pa.RecordBatch:
    """A native batch in the target schema: columns by name, cast where the
    types differ, nulls for missing columns, the audience id added."""
    n = batch.num_rows
    names = batch.schema.names
    arrays = []
    for f in target:
        if f.name == AUDIENCE_COLUMN and AUDIENCE_COLUMN not in names:
            arrays.append(pa.array([audience_id] * n, type=f.type))
        elif f.name in names:
            col = batch.column(names.index(f.name))
            arrays.append(col if col.type == f.type else col.cast(f.type))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def member_batches(
    querier: Any,
    audience_id: str,
    filters: Sequence[tuple[str, str, Any]],
    limit: int,
    target: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    """The members of one (sub-)query as Arrow record batches in ``target``'s
    schema, from the native ``Querier.iter_batches`` (the one Arrow path)."""
    for b in querier.iter_batches(audience_id, list(filters), limit):
        rb = b if isinstance(b, pa.RecordBatch) else pa.record_batch(b)
        if rb.num_rows:
            yield _conform(rb, target, audience_id)


# -- the data source ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberPartition(InputPartition):
    """One sub-query of one audience. Plain data, picklable, shown freely:
    it holds no connection setting."""

    audience_id: str
    index: int
    filters: tuple[tuple[str, str, Any], ...]
    expected_count: int


@dataclass(frozen=True)
class PartitionGroup(InputPartition):
    """One Spark partition: sub-queries of one audience (consecutive in the
    plan's value order) that its task lists at once, ``streams`` at a time.
    Plain data like :class:`MemberPartition`."""

    audience_id: str
    index: int
    parts: tuple[MemberPartition, ...]
    streams: int

    @property
    def expected_count(self) -> int:
        return sum(p.expected_count for p in self.parts)


def group_partitions(
    parts: Sequence[MemberPartition], groups: int, streams: int
) -> list[PartitionGroup]:
    """Splits one audience's sub-queries (in plan order) into at most
    ``groups`` runs of about equal expected size: sub-query ``i`` goes to
    the group its middle member falls into. Every sub-query is in exactly
    one group; empty groups are left out."""
    if not parts:
        return []
    total = sum(p.expected_count for p in parts)
    buckets: list[list[MemberPartition]] = [[] for _ in range(groups)]
    before = 0
    for p in parts:
        if total:
            g = min(groups - 1, (2 * before + p.expected_count) * groups // (2 * total))
        else:
            g = 0
        buckets[g].append(p)
        before += p.expected_count
    aud = parts[0].audience_id
    return [
        PartitionGroup(aud, i, tuple(b), streams) for i, b in enumerate(b for b in buckets if b)
    ]


async def _plan_audience(
    q: Querier, settings: _Settings, audience_id: str, filters: list[tuple[str, str, Any]]
) -> list[PartitionGroup]:
    if settings.partition_by:
        plan = await q.plan_partitions_async(
            audience_id,
            filters,
            by=settings.partition_by,
            partitions=settings.num_partitions * settings.streams,
        )
        parts = [
            MemberPartition(
                audience_id, p["index"], tuple(tuple(f) for f in p["filters"]), p["expected_count"]
            )
            for p in plan
        ]
    else:
        v = await q.validate_async(audience_id, filters, settings.limit)
        parts = [MemberPartition(audience_id, 0, tuple(filters), v["count"])]
    groups = group_partitions(parts, settings.num_partitions, settings.streams)
    log.info(
        "cxone_cdp: audience %s: %d partition(s) of %d sub-queries%s, %d members expected",
        audience_id,
        len(groups),
        len(parts),
        f" by {settings.partition_by}" if settings.partition_by else "",
        sum(p.expected_count for p in parts),
    )
    return groups


async def _plan_all(q: Querier, settings: _Settings) -> list[PartitionGroup]:
    filters = settings.filters(await q.attributes_async())
    gate = asyncio.Semaphore(PLAN_CONCURRENCY)

    async def one(aud: str) -> list[PartitionGroup]:
        async with gate:
            return await _plan_audience(q, settings, aud, filters)

    plans = await asyncio.gather(*(one(a) for a in settings.audiences))
    return [p for plan in plans for p in plan]


def plan_input_partitions(
    settings: _Settings, querier: Querier | None = None
) -> list[PartitionGroup]:
    """Every audience's Spark partitions (planned concurrently, verified by counts)."""
    q = querier or settings.connection.querier()
    return asyncio.run(_plan_all(q, settings))


_DONE = object()


def read_concurrently(
    querier: Any,
    parts: Sequence[MemberPartition],
    limit: int,
    target: pa.Schema,
    streams: int,
) -> Iterator[tuple[MemberPartition, pa.RecordBatch | None]]:
    """The batches of several sub-queries, listed ``streams`` at a time on
    threads (largest first), in arrival order: ``(part, batch)`` per batch and
    ``(part, None)`` once ``part`` is complete. The native iterators wait with
    the GIL released, so the threads' requests overlap. An error in any
    stream is raised here; closing the generator stops the threads after
    their current page."""
    if streams <= 1 or len(parts) <= 1:
        for p in parts:
            for b in member_batches(querier, p.audience_id, p.filters, limit, target):
                yield p, b
            yield p, None
        return
    todo = iter(sorted(parts, key=lambda p: -p.expected_count))
    take = threading.Lock()
    stop = threading.Event()
    out: queue.Queue[Any] = queue.Queue(maxsize=2 * streams)

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                with take:
                    p = next(todo, None)
                if p is None:
                    break
                for b in member_batches(querier, p.audience_id, p.filters, limit, target):
                    if not put((p, b)):
                        return
                put((p, None))
        except BaseException as e:  # handed to the reading thread
            put(e)
        finally:
            put(_DONE)

    threads = [
        threading.Thread(target=work, name=f"cxone-cdp-stream-{i}", daemon=True)
        for i in range(min(streams, len(parts)))
    ]
    for t in threads:
        t.start()
    running = len(threads)
    try:
        while running:
            item = out.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)


class CxoneReader(DataSourceReader):
    """Plans on the driver (``partitions``), reads in the executors (``read``)."""

    def __init__(self, settings: _Settings, schema: StructType) -> None:
        self._settings = settings
        self._schema = schema

    def __repr__(self) -> str:
        return f"CxoneReader(audiences={list(self._settings.audiences)!r})"

    def partitions(self) -> Sequence[InputPartition]:
        return plan_input_partitions(self._settings)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        if isinstance(partition, MemberPartition):
            partition = PartitionGroup(partition.audience_id, partition.index, (partition,), 1)
        assert isinstance(partition, PartitionGroup)
        q = self._settings.connection.querier()
        target = _arrow_schema(self._schema)
        rows: dict[int, int] = {}
        for part, batch in read_concurrently(
            q, partition.parts, self._settings.limit, target, partition.streams
        ):
            if batch is not None:
                rows[part.index] = rows.get(part.index, 0) + batch.num_rows
                yield batch
            elif rows.get(part.index, 0) != part.expected_count:
                log.warning(
                    "cxone_cdp: audience %s sub-query %d read %d members, %d were counted at "
                    "planning (the audience changed in between?)",
                    part.audience_id,
                    part.index,
                    rows.get(part.index, 0),
                    part.expected_count,
                )


class CxoneDataSource(DataSource):
    """``spark.read.format("cxone_cdp")``: CDP audience members (see the module doc)."""

    @classmethod
    def name(cls) -> str:
        return "cxone_cdp"

    def schema(self) -> StructType:
        settings = _Settings.from_options(self.options)
        attributes = settings.connection.querier().attributes()
        return spark_schema(attributes, audience_column=settings.multi)

    def reader(self, schema: StructType) -> DataSourceReader:
        return CxoneReader(_Settings.from_options(self.options), schema)
