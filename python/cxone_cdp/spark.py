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
    ``=``, ``!=``, ``>``, ``<``, ``~`` (contains), several separated by ``;``.
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

Columns (the Arrow layout of the native client): ``memberId`` (string),
``joinedAt`` (timestamp, UTC), then one column per attribute in the order of
the attributes endpoint: string -> string, number -> double, boolean ->
boolean, date -> date. Attributes of unknown types are left out; a missing
value is a null.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from cxone_cdp.errors import ValidationError

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
#: Sub-queries listed at once by one task, unless ``streamsPerPartition`` says.
DEFAULT_STREAMS = 4
#: Most ranges one audience's plan may have (the planner's limit).
MAX_SUBQUERIES = 1024

_SPARK_TYPES: dict[str, DataType] = {
    "string": StringType(),
    "number": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
}


def register(spark: Any) -> None:
    """Register the ``cxone_cdp`` format with a SparkSession."""
    spark.dataSource.register(CxoneDataSource)


# -- options -------------------------------------------------------------------

_OPS = ("!=", "=", ">", "<", "~")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def _split_expressions(text: str) -> list[str]:
    """Splits at unescaped ``;`` (``\\;`` is a literal ``;``, ``\\\\`` a backslash)."""
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ";\\":
            cur.append(text[i + 1])
            i += 2
            continue
        if c == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return [e for e in out if e.strip()]


def parse_filters(text: str) -> list[tuple[str, str, str]]:
    """``"city=Rock & Roll;lifetime_value>100"`` -> ``[("city", "=", "Rock & Roll"),
    ("lifetime_value", ">", "100")]``: the CLI's wire-expression rules (the
    attribute runs up to the first of ``= ! > < ~``, the value is the rest,
    untouched), values still as text. Raises ValidationError."""
    out = []
    for expr in _split_expressions(text):
        m = re.search(r"[=!><~]", expr)
        if m is None:
            raise ValidationError(f"filter {expr!r} has no operator (=, !=, >, <, ~)")
        attr, rest = expr[: m.start()].strip(), expr[m.start() :]
        op = next((o for o in _OPS if rest.startswith(o)), None)
        if op is None:
            raise ValidationError(f"filter {expr!r}: '!' must be followed by '='")
        if not attr:
            raise ValidationError(f"filter {expr!r} has no attribute name")
        out.append((attr, op, rest[len(op) :]))
    return out


def _typed(attr: str, op: str, text: str, types: Mapping[str, str]) -> tuple[str, str, Any]:
    """A Querier filter tuple with the value typed by the attribute's type."""
    ty = types.get(attr)
    if ty is None:
        known = ", ".join(sorted(types))
        raise ValidationError(f"filter attribute {attr!r} not found in CDP schema (known: {known})")
    value: Any = text
    if ty == "number":
        if not _DECIMAL.fullmatch(text):
            raise ValidationError(f"filter on {attr!r}: {text!r} is not a decimal number")
        value = int(text) if "." not in text else float(text)
    elif ty == "boolean":
        if text not in ("true", "false"):
            raise ValidationError(f"filter on {attr!r}: {text!r} is not true or false")
        value = text == "true"
    elif ty == "date":
        try:
            if len(text) != 10:
                raise ValueError
            value = _dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"filter on {attr!r}: {text!r} is not a YYYY-MM-DD date"
            ) from None
    return (attr, op, value)


@dataclass(frozen=True)
class _Connection:
    """Connection settings given as options; the rest comes from the
    environment where the Querier is built. The secret is never shown."""

    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    def querier(self) -> Querier:
        """This process's Querier for these settings (and the environment):
        Spark reuses its Python workers, so a worker's partitions share one
        connection pool, one token and one attribute schema."""
        key = (
            self,
            tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("CXONE_CDP_"))),
        )
        with _QUERIERS_LOCK:
            q = _QUERIERS.get(key)
            if q is None:
                given = {
                    "base_url": self.base_url,
                    "token_url": self.token_url,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                }
                q = Querier.from_env(**{k: v for k, v in given.items() if v})
                if len(_QUERIERS) >= 8:
                    _QUERIERS.clear()
                _QUERIERS[key] = q
            return q


_QUERIERS: dict[Any, Querier] = {}
_QUERIERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Settings:
    audiences: tuple[str, ...]
    multi: bool
    filter_texts: tuple[str, ...]
    partition_by: str | None
    num_partitions: int
    streams: int
    limit: int
    connection: _Connection

    @staticmethod
    def from_options(options: Mapping[str, str]) -> _Settings:
        opts = {str(k).lower(): str(v) for k, v in options.items()}
        one, many = opts.get("audience"), opts.get("audiences")
        if (one is None) == (many is None):
            raise ValidationError("give exactly one of the options 'audience' or 'audiences'")
        if many is not None:
            auds = tuple(a.strip() for a in many.split(",") if a.strip())
            if not auds:
                raise ValidationError("option 'audiences' names no audience")
        else:
            auds = (str(one).strip(),)
        filters = [v for k, v in sorted(opts.items()) if k == "filter" or k.startswith("filter.")]

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            raw = opts.get(name.lower())
            if raw is None:
                return default
            try:
                n = int(raw)
            except ValueError:
                raise ValidationError(f"option {name!r} must be an integer, got {raw!r}") from None
            if not lo <= n <= hi:
                raise ValidationError(f"option {name!r} must be between {lo} and {hi}, got {n}")
            return n

        by = opts.get("partitionby") or None
        n = integer("numPartitions", 8 if by else 1, 1, 1024)
        if by is None and n != 1:
            raise ValidationError(
                "option 'numPartitions' needs 'partitionBy' (the attribute to split on)"
            )
        streams = integer("streamsPerPartition", DEFAULT_STREAMS if by else 1, 1, 64)
        if by is None and streams != 1:
            raise ValidationError(
                "option 'streamsPerPartition' needs 'partitionBy' (the attribute to split on)"
            )
        if n * streams > MAX_SUBQUERIES:
            raise ValidationError(
                f"numPartitions x streamsPerPartition must be at most {MAX_SUBQUERIES}, "
                f"got {n} x {streams}"
            )
        return _Settings(
            audiences=auds,
            multi=many is not None,
            filter_texts=tuple(filters),
            partition_by=by,
            num_partitions=n,
            streams=streams,
            limit=integer("limit", 1000, 1, 1000),
            connection=_Connection(
                base_url=opts.get("base_url"),
                token_url=opts.get("token_url"),
                client_id=opts.get("client_id"),
                client_secret=opts.get("client_secret"),
            ),
        )

    def filters(self, types: Mapping[str, str]) -> list[tuple[str, str, Any]]:
        return [
            _typed(a, op, v, types)
            for text in self.filter_texts
            for a, op, v in parse_filters(text)
        ]


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


def _column(values: list[Any], ty: pa.DataType) -> pa.Array:
    """Values of one column as ``ty``; a value that does not fit is a null."""
    if pa.types.is_string(ty) or pa.types.is_large_string(ty):
        return pa.array([v if isinstance(v, str) else None for v in values], type=ty)
    if pa.types.is_floating(ty):
        return pa.array(
            [
                float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                for v in values
            ],
            type=ty,
        )
    if pa.types.is_boolean(ty):
        return pa.array([v if isinstance(v, bool) else None for v in values], type=ty)
    if pa.types.is_date(ty) or pa.types.is_timestamp(ty):
        text = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
        try:
            return text.cast(ty)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out = []
            for v in text.to_pylist():
                try:
                    out.append(pa.array([v], type=pa.string()).cast(ty)[0].as_py())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    out.append(None)
            return pa.array(out, type=ty)
    try:
        return pa.array(values, type=ty)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.nulls(len(values), type=ty)


def _batch_from_members(
    items: Sequence[Mapping[str, Any]], target: pa.Schema, audience_id: str
) -> pa.RecordBatch:
    arrays = []
    for f in target:
        if f.name == AUDIENCE_COLUMN:
            arrays.append(pa.array([audience_id] * len(items), type=f.type))
        elif f.name in ("memberId", "joinedAt"):
            arrays.append(_column([m.get(f.name) for m in items], f.type))
        else:
            arrays.append(_column([(m.get("attributes") or {}).get(f.name) for m in items], f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


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
    schema. The one place that chooses the Arrow path: the native
    ``Querier.iter_batches`` when this build has it, else batches built from
    ``iter_pages``."""
    iter_batches = getattr(querier, "iter_batches", None)
    if iter_batches is not None:
        for b in iter_batches(audience_id, list(filters), limit):
            rb = b if isinstance(b, pa.RecordBatch) else pa.record_batch(b)
            if rb.num_rows:
                yield _conform(rb, target, audience_id)
        return
    for page in querier.iter_pages(audience_id, list(filters), limit):
        items = page.items
        if items:
            yield _batch_from_members(items, target, audience_id)


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
