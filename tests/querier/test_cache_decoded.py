"""The response cache keeps decoded pages (tapes for the dicts, record
batches for Arrow) beside the bodies, bounded by bytes; and async listings
that build their dicts on the event loop's thread stay complete when many run
at once."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest
from _querier_support import bare_querier as make
from _querier_support import page_requests
from cxone_cdp.testing import AUDIENCE_ID, Simulator

MEMBERS = 2500  # three pages of 1000
LIMIT = 1000


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=MEMBERS, port=0) as s:
        yield s


def test_cache_stats_report_the_byte_bound_and_the_decoded_share(sim):
    q = make(sim)
    stats = q.cache_stats()
    assert stats["max_bytes"] == 8 * 2**20
    assert (stats["bytes"], stats["decoded_bytes"]) == (0, 0)
    q.members(AUDIENCE_ID, limit=LIMIT)
    stats = q.cache_stats()
    assert stats["entries"] == 3
    # Each page is held as its body and its tape.
    assert 0 < stats["decoded_bytes"] < stats["bytes"] <= stats["max_bytes"]
    q.members_arrow(AUDIENCE_ID, limit=LIMIT)  # the same pages, a second form
    more = q.cache_stats()
    assert more["entries"] == 3 and more["decoded_bytes"] > stats["decoded_bytes"]
    assert more["bytes"] - more["decoded_bytes"] == stats["bytes"] - stats["decoded_bytes"]


def test_the_byte_bound_holds_and_evicts(sim):
    one_page = make(sim)
    one_page.members(AUDIENCE_ID, limit=LIMIT)
    page_bytes = one_page.cache_stats()["bytes"] // 3
    bound = page_bytes * 2 - 1  # not room for all three
    q = make(sim, cache_max_bytes=bound)
    assert q.cache_stats()["max_bytes"] == bound
    q.members(AUDIENCE_ID, limit=LIMIT)
    stats = q.cache_stats()
    assert stats["bytes"] <= bound
    assert stats["entries"] < 3 and stats["evictions"] >= 1
    assert make(sim, cache_max_bytes=0).cache_stats()["capacity"] == 0


def test_decoded_pages_from_the_cache_equal_fresh_ones(sim):
    fresh = make(sim, cache_size=0)
    want = fresh.members(AUDIENCE_ID, limit=LIMIT)
    want_table = pa.table(fresh.members_arrow(AUDIENCE_ID, limit=LIMIT))
    q = make(sim)
    assert q.members(AUDIENCE_ID, limit=LIMIT) == want  # fills: bodies and tapes
    before = page_requests(sim)
    # Tapes from the cache, for every dict form.
    assert q.members(AUDIENCE_ID, limit=LIMIT) == want
    assert list(q.iter_members(AUDIENCE_ID, limit=LIMIT)) == want
    assert [m for p in q.iter_pages(AUDIENCE_ID, limit=LIMIT) for m in p.items] == want
    assert asyncio.run(q.members_async(AUDIENCE_ID, limit=LIMIT)) == want
    # Bodies from the cache decoded into batches once, then batches.
    for _ in range(2):
        assert pa.table(q.members_arrow(AUDIENCE_ID, limit=LIMIT)).equals(want_table)
    batches = [pa.record_batch(b) for b in q.iter_batches(AUDIENCE_ID, limit=LIMIT)]
    assert pa.Table.from_batches(batches).equals(want_table)
    assert page_requests(sim) == before, "every page came from the cache"
    # The handed-out lists are the caller's own: changing one changes no hit.
    got = q.members(AUDIENCE_ID, limit=LIMIT)
    got[0]["memberId"] = "changed"
    got[1]["attributes"].clear()
    assert q.members(AUDIENCE_ID, limit=LIMIT) == want


def test_concurrent_async_listings_are_complete_and_their_own(sim):
    filters = [[("lifetime_value", ">", v)] for v in (0, 500, 1000, 2000, 3000, 4000)]
    sync = make(sim, cache_size=0)
    want = [sync.members(AUDIENCE_ID, f, LIMIT) for f in filters]
    assert len({len(w) for w in want}) == len(want), "the filters select different members"

    async def go():
        q = make(sim, cache_size=0)
        lists = asyncio.gather(*(q.members_async(AUDIENCE_ID, f, LIMIT) for f in filters))

        async def streamed(f):
            return [m async for m in q.iter_members(AUDIENCE_ID, f, LIMIT)]

        async def batched(f):
            it = q.iter_batches(AUDIENCE_ID, f, LIMIT)
            return sum([pa.record_batch(b).num_rows async for b in it])

        more = asyncio.gather(streamed(filters[1]), batched(filters[2]))
        return await lists, await more

    got, (streamed, rows) = asyncio.run(go())
    assert got == want
    assert streamed == want[1] and rows == len(want[2])


def test_an_async_listing_hands_over_dicts_the_collector_tracks(sim):
    import gc

    q = make(sim, cache_size=0)
    got = asyncio.run(q.members_async(AUDIENCE_ID, limit=LIMIT))
    assert len(got) == MEMBERS
    # Each member holds its attributes dict, so the collector must see it
    # (it was hidden from the collector only while the listing ran).
    assert all(gc.is_tracked(m) for m in got)
    assert got == make(sim, cache_size=0).members(AUDIENCE_ID, limit=LIMIT)


def test_streaming_iterators_read_the_cache_but_never_fill_it(sim):
    want = make(sim, cache_size=0).members(AUDIENCE_ID, limit=LIMIT)
    q = make(sim)
    assert list(q.iter_members(AUDIENCE_ID, limit=LIMIT)) == want
    assert [m for p in q.iter_pages(AUDIENCE_ID, limit=LIMIT) for m in p.items] == want
    batches = [pa.record_batch(b) for b in q.iter_batches(AUDIENCE_ID, limit=LIMIT)]
    assert sum(b.num_rows for b in batches) == MEMBERS
    assert pa.RecordBatchReader.from_stream(q.iter_batches(AUDIENCE_ID, limit=LIMIT)).read_all()
    assert q.cache_stats()["entries"] == 0
    # A listing fills it; the iterators then read it without adding to it.
    assert q.members(AUDIENCE_ID, limit=LIMIT) == want
    filled = q.cache_stats()
    before = page_requests(sim)
    assert list(q.iter_members(AUDIENCE_ID, limit=LIMIT)) == want
    batches = [pa.record_batch(b) for b in q.iter_batches(AUDIENCE_ID, limit=LIMIT)]
    assert sum(b.num_rows for b in batches) == MEMBERS
    assert page_requests(sim) == before, "the iterators were served from the cache"
    after = q.cache_stats()
    assert after["entries"] == filled["entries"]
    assert after["decoded_bytes"] == filled["decoded_bytes"]
