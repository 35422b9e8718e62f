"""`iter_batches()` as an Arrow C stream (`__arrow_c_stream__`): DuckDB,
pyarrow and polars read it lazily; it shares one listing with `for`; a
stream after the end is empty, one after a failure raises; errors are typed
at the start and named later; Ctrl-C stops a stream being read."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import cxone_cdp
import pytest
from conftest import module_simulator
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, Simulator

pa = pytest.importorskip("pyarrow")

stream_sim = module_simulator("stream_sim", members=3_000)


@pytest.fixture
def q(stream_sim: Simulator) -> Iterator[cxone_cdp.Querier]:
    yield cxone_cdp.Querier(
        stream_sim.base_url, stream_sim.client_id, stream_sim.client_secret, cache_size=0
    )


def expected(sim: Simulator, filters: Any = ()) -> list[str]:
    return [m["memberId"] for m in sim.expected_members(AUDIENCE_ID, filters)]


def test_pyarrow_reads_the_stream(q: cxone_cdp.Querier, stream_sim: Simulator) -> None:
    reader = pa.RecordBatchReader.from_stream(q.iter_batches(AUDIENCE_ID, limit=250))
    assert reader.schema == pa.table(q.members_arrow(AUDIENCE_ID)).schema
    table = reader.read_all()
    assert table.column("memberId").to_pylist() == expected(stream_sim)
    assert table.equals(pa.table(q.members_arrow(AUDIENCE_ID, limit=250)))


def test_duckdb_aggregates_the_stream(q: cxone_cdp.Querier, stream_sim: Simulator) -> None:
    duckdb = pytest.importorskip("duckdb")
    it = q.iter_batches(AUDIENCE_ID, [("is_vip", "eq", False)], limit=200)  # noqa: F841 (read by name)
    got = duckdb.sql(
        "select count(*), count(distinct city), round(sum(lifetime_value), 2) from it"
    ).fetchall()[0]
    members = stream_sim.expected_members(AUDIENCE_ID, [("is_vip", "eq", False)])
    total = sum(m["attributes"].get("lifetime_value", 0) for m in members)
    cities = {m["attributes"]["city"] for m in members}
    assert got == (len(members), len(cities), round(total, 2))


def test_polars_reads_the_stream(q: cxone_cdp.Querier, stream_sim: Simulator) -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame(q.iter_batches(AUDIENCE_ID, limit=500))
    assert df.height == 3_000
    assert df["memberId"].to_list() == expected(stream_sim)


def test_the_stream_is_lazy(stream_sim: Simulator) -> None:
    with Simulator(members=20_000) as sim:
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        reader = pa.RecordBatchReader.from_stream(q.iter_batches(AUDIENCE_ID, limit=100))
        first = reader.read_next_batch()
        assert first.num_rows == 100
        time.sleep(0.3)  # let the prefetch fill its slot
        pages = sim.stats()["by_endpoint"]["members"]
        # The one read, the one waiting, and at most two the walk asked for
        # ahead (on cursor hints, while nothing was waiting): of 200 pages.
        assert pages <= 4, f"{pages} pages fetched for one batch read (bounded prefetch)"
        assert sum(b.num_rows for b in reader) == 19_900


def test_stream_and_iteration_share_one_listing(
    q: cxone_cdp.Querier, stream_sim: Simulator
) -> None:
    it = q.iter_batches(AUDIENCE_ID, limit=700)
    head = pa.record_batch(next(it))
    rest = pa.RecordBatchReader.from_stream(it).read_all()
    ids = head.column("memberId").to_pylist() + rest.column("memberId").to_pylist()
    assert ids == expected(stream_sim)
    # After the end: a new stream is empty but typed; iteration is over.
    again = pa.RecordBatchReader.from_stream(it).read_all()
    assert again.num_rows == 0 and again.schema == rest.schema
    with pytest.raises(StopIteration):
        next(it)


def test_a_schema_take_then_a_scan_loses_nothing(q: cxone_cdp.Querier) -> None:
    it = q.iter_batches(AUDIENCE_ID, limit=1000)
    schema_only = pa.RecordBatchReader.from_stream(it)
    assert "memberId" in schema_only.schema.names
    del schema_only  # released unread, as DuckDB does after binding
    assert pa.RecordBatchReader.from_stream(it).read_all().num_rows == 3_000


def test_an_empty_audience_streams_a_typed_empty_table(q: cxone_cdp.Querier) -> None:
    t = pa.RecordBatchReader.from_stream(q.iter_batches(EMPTY_AUDIENCE_ID)).read_all()
    assert t.num_rows == 0 and t.schema.names[:2] == ["memberId", "joinedAt"]


def test_errors_are_typed_at_the_start_and_named_later(q: cxone_cdp.Querier) -> None:
    it = q.iter_batches("no-such-audience")
    with pytest.raises(cxone_cdp.NotFoundError):
        pa.RecordBatchReader.from_stream(it)
    with pytest.raises(RuntimeError, match="already failed"):
        pa.RecordBatchReader.from_stream(it)
    with Simulator(members=2_000, repeat_cursor_after=3) as sim:
        bad = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        reader = pa.RecordBatchReader.from_stream(bad.iter_batches(AUDIENCE_ID, limit=100))
        with pytest.raises(Exception, match="PaginationError") as e:
            reader.read_all()
        assert not isinstance(e.value, cxone_cdp.CxoneError)  # pyarrow's own error type


CHILD = r"""
import sys, time
import pyarrow as pa
import cxone_cdp
q = cxone_cdp.Querier(sys.argv[1], "sim-client", "sim-secret")
reader = pa.RecordBatchReader.from_stream(q.iter_batches(sys.argv[2], limit=100))
print("reading", flush=True)
try:
    try:
        reader.read_all()
        print("finished", flush=True)
    except Exception as e:
        print("stream-error", type(e).__name__, e, file=sys.stderr, flush=True)
        for _ in range(50):
            time.sleep(0.01)  # the interrupt, raised again, arrives here
        print("no-interrupt", flush=True)
except KeyboardInterrupt:
    print("interrupted", time.time(), flush=True)
"""


def test_ctrl_c_stops_a_stream_being_read() -> None:
    with Simulator(members=200_000, latency=0.05) as sim:
        p = subprocess.Popen(
            [sys.executable, "-c", CHILD, sim.base_url, AUDIENCE_ID],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "reading"
        time.sleep(1.0)
        sent = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        words = out.split()
        # The user gets the KeyboardInterrupt: pyarrow's own signal check
        # raises it, or the stream ends with an "interrupted" error and the
        # interrupt, raised again, reaches the interpreter's signal check.
        assert words and words[0] == "interrupted", (out, err[-500:])
        assert float(words[1]) - sent < 1.5, "stopped within a second or so of Ctrl-C"
        assert "stream-error" not in err or "interrupted (KeyboardInterrupt)" in err, err
