"""The Arrow path on the Querier: iter_batches() / members_arrow() give
exactly the dict path's members, typed per the attribute schema, over the
same pagination (faults) as members(); a repeated cursor is refused on both
paths alike (test_querier_faults)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _querier_support import querier, requests
from cxone_cdp import errors
from cxone_cdp.testing import AUDIENCE_ID, Simulator

pa = pytest.importorskip("pyarrow")

FLT = [("lifetime_value", "gt", 200)]
TYPES = {"string": pa.utf8(), "number": pa.float64(), "boolean": pa.bool_(), "date": pa.date32()}


def rows_as_members(table, schema: dict[str, str]) -> list[dict]:
    """Arrow rows back into the dict path's shape (types converted by hand)."""
    out = []
    for row in table.to_pylist():
        joined = row.pop("joinedAt")
        member = {
            "memberId": row.pop("memberId"),
            "joinedAt": joined.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "attributes": {},
        }
        for name, value in row.items():
            if schema[name] == "date" and value is not None:
                value = value.isoformat()
            member["attributes"][name] = value
        out.append(member)
    return out


def normalised(members: list[dict]) -> list[dict]:
    """Dict-path members with numbers as floats (Arrow's float64 column)."""
    out = []
    for m in members:
        attrs = {
            k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in m["attributes"].items()
        }
        out.append({**m, "attributes": attrs})
    return sorted(out, key=lambda m: m["memberId"])


def check_table(table, q, expected: list[dict]) -> None:
    schema = q.attributes()
    assert table.schema.names == ["memberId", "joinedAt", *schema]
    assert table.schema.field("memberId").type == pa.utf8()
    assert table.schema.field("joinedAt").type == pa.timestamp("us", tz="UTC")
    for name, ty in schema.items():
        assert table.schema.field(name).type == TYPES[ty], name
    got = rows_as_members(table, schema)
    assert len({m["memberId"] for m in got}) == len(got)
    assert sorted(got, key=lambda m: m["memberId"]) == normalised(expected)


def test_members_arrow_equals_the_dict_path(cdp_simulator):
    q = querier(cdp_simulator)
    for flt in ((), FLT):
        expected = q.members(AUDIENCE_ID, flt, limit=300)
        assert expected
        table = pa.table(q.members_arrow(AUDIENCE_ID, flt, limit=300))
        check_table(table, q, expected)
        joined = table.column("joinedAt").to_pylist()[0]
        assert joined.utcoffset() == dt.timedelta(0)


def test_iter_batches_one_per_page(cdp_simulator):
    q = querier(cdp_simulator)
    expected = q.members(AUDIENCE_ID, limit=250)
    batches = [pa.record_batch(b) for b in q.iter_batches(AUDIENCE_ID, limit=250)]
    assert [b.num_rows for b in batches[:-1]] == [250] * (len(batches) - 1)
    check_table(pa.Table.from_batches(batches), q, expected)


def test_async_twins(cdp_simulator):
    q = querier(cdp_simulator)
    expected = q.members(AUDIENCE_ID, FLT, limit=200)

    async def go():
        table = pa.table(await q.members_arrow_async(AUDIENCE_ID, FLT, limit=200))
        batches = [pa.record_batch(b) async for b in q.iter_batches(AUDIENCE_ID, FLT, limit=200)]
        return table, pa.Table.from_batches(batches)

    table, from_batches = asyncio.run(go())
    check_table(table, q, expected)
    check_table(from_batches, q, expected)


def test_empty_result_is_a_typed_empty_table(cdp_simulator):
    q = querier(cdp_simulator)
    flt = [("lifetime_value", "lt", -1)]
    table = pa.table(q.members_arrow(AUDIENCE_ID, flt))
    assert table.num_rows == 0
    assert table.schema.names[:2] == ["memberId", "joinedAt"]
    assert list(q.iter_batches(AUDIENCE_ID, flt)) == []


FAULTS = {
    "empty_pages": {"empty_page_every": 3},
    "short_pages": {"short_pages": True},
    "rate_limited": {"rate_limit_every": 4, "retry_after_secs": 1},
    "truncated_bodies": {"truncated_every": 3},
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_faults_still_give_the_exact_set(name):
    with Simulator(members=1500, port=0, **FAULTS[name]) as sim:
        q = querier(sim, max_retries=8)
        expected = sim.expected_members(AUDIENCE_ID, FLT)
        check_table(pa.table(q.members_arrow(AUDIENCE_ID, FLT, limit=50)), q, expected)
        batches = [pa.record_batch(b) for b in q.iter_batches(AUDIENCE_ID, limit=100)]
        assert all(b.num_rows > 0 for b in batches)
        check_table(pa.Table.from_batches(batches), q, sim.expected_members(AUDIENCE_ID))
        if name == "rate_limited":
            assert q._counters()["rate_limited"] > 0


def test_bad_input_raises_before_any_request(cdp_simulator):
    q = querier(cdp_simulator)
    before = requests(cdp_simulator)
    with pytest.raises(errors.ValidationError):
        q.members_arrow(AUDIENCE_ID, limit=0)
    with pytest.raises(errors.ValidationError):
        q.iter_batches("", limit=10)
    assert requests(cdp_simulator) == before


@pytest.mark.parametrize("kind", ["members", "batches"])
def test_background_walk_holds_a_bounded_number_of_pages(kind):
    # While the consumer waits for a page, the core's walk asks for up to
    # two more on cursor hints; while it is busy, one page for each page it
    # takes. Here it waits only for page 1, then finds each page already in
    # the one-slot channel: with page k held (k >= 3) and page k+1 waiting,
    # exactly k+1 pages have been asked for.
    with Simulator(members=5000, port=0) as sim:
        q = querier(sim)
        q.attributes()
        base = sim.stats()["api_requests"]

        def asked(at_least: int) -> int:
            deadline = time.monotonic() + 10
            while sim.stats()["api_requests"] - base < at_least and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            return sim.stats()["api_requests"] - base

        it = iter(
            q.iter_members(AUDIENCE_ID, limit=100)
            if kind == "members"
            else q.iter_batches(AUDIENCE_ID, limit=100)
        )
        per_page = 100 if kind == "members" else 1
        next(it)  # page 1 is held; page 2 waits in the channel
        assert asked(2) in (2, 3, 4)
        for k in range(2, 9):
            for _ in range(per_page):
                next(it)  # the rest of page k-1, then page k is taken
            n = asked(k + 1)
            if k == 2:
                assert n in (3, 4), n  # page 4 perhaps asked for while page 1 was awaited
            else:
                assert n == k + 1, f"{n} pages asked for with page {k} held"


# -- a tiny server whose members carry unknown and miss known attributes ---------

ATTRS = [
    {"name": "city", "type": "string"},
    {"name": "score", "type": "number"},
    {"name": "vip", "type": "boolean"},
    {"name": "since", "type": "date"},
    {"name": "blob", "type": "geo"},  # a type we do not know: no column
]
ODD_MEMBERS = [
    {
        "memberId": "a",
        "joinedAt": "2024-01-02T03:04:05Z",
        "attributes": {"city": "Oslo", "score": 1, "vip": True, "since": "2024-01-01", "new": 5},
    },
    {"memberId": "b", "joinedAt": "2024-01-02T03:04:05+01:00", "attributes": {}},
    {"memberId": "c", "joinedAt": "2024-01-02T03:04:05Z", "attributes": {"blob": [1, 2]}},
]


class OddHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply({"access_token": "t", "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self):
        if self.path.startswith("/api/v2/cdp/attributes"):
            self.reply({"items": ATTRS})
        elif "cursor=p2" in self.path:
            self.reply({"items": ODD_MEMBERS[2:], "nextPageToken": None})
        else:
            self.reply({"items": ODD_MEMBERS[:2], "nextPageToken": "p2"})


def test_unknown_and_missing_attributes_become_nulls():
    from cxone_cdp import Querier

    server = ThreadingHTTPServer(("127.0.0.1", 0), OddHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        q = Querier(base, "id", "secret", token_url=base + "/oauth/token")
        table = pa.table(q.members_arrow("aud", limit=2))
        assert table.schema.names == ["memberId", "joinedAt", "city", "score", "vip", "since"]
        assert table.to_pylist() == [
            {
                "memberId": "a",
                "joinedAt": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
                "city": "Oslo",
                "score": 1.0,
                "vip": True,
                "since": dt.date(2024, 1, 1),
            },
            {
                "memberId": "b",
                "joinedAt": dt.datetime(2024, 1, 2, 2, 4, 5, tzinfo=dt.timezone.utc),
                "city": None,
                "score": None,
                "vip": None,
                "since": None,
            },
            {
                "memberId": "c",
                "joinedAt": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
                "city": None,
                "score": None,
                "vip": None,
                "since": None,
            },
        ]
        assert [pa.record_batch(b).num_rows for b in q.iter_batches("aud", limit=2)] == [2, 1]
    finally:
        server.shutdown()
        server.server_close()


# -- DataFrame conveniences -------------------------------------------------------


def test_to_pandas(cdp_simulator):
    pd = pytest.importorskip("pandas")
    q = querier(cdp_simulator)
    df = q.to_pandas(AUDIENCE_ID, FLT, limit=500)
    assert isinstance(df, pd.DataFrame)
    expected = q.members(AUDIENCE_ID, FLT)
    assert sorted(df["memberId"]) == sorted(m["memberId"] for m in expected)
    assert str(df["joinedAt"].dtype).startswith("datetime64")


def test_to_polars(cdp_simulator):
    pl = pytest.importorskip("polars")
    q = querier(cdp_simulator)
    df = q.to_polars(AUDIENCE_ID, FLT, limit=500)
    assert isinstance(df, pl.DataFrame)
    assert df.height == q.count(AUDIENCE_ID, FLT)
    assert df.schema["lifetime_value"] == pl.Float64


def test_missing_extra_is_a_clear_import_error(cdp_simulator, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "polars", None)
    q = querier(cdp_simulator)
    before = requests(cdp_simulator)
    with pytest.raises(ImportError, match=r"cxone-cdp\[polars\]"):
        q.to_polars(AUDIENCE_ID)
    assert requests(cdp_simulator) == before
