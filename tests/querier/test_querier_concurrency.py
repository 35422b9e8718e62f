"""Concurrency, event loops and signals."""

import _thread
import asyncio
import itertools
import threading

import pytest
from _querier_support import assert_same_members, querier
from cxone_cdp.testing import AUDIENCE_ID, Simulator


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=2000, port=0) as s:
        yield s


async def test_16_concurrent_listings_fetch_one_token():
    with Simulator(members=1000, port=0, token_delay=0.2) as sim:
        q = querier(sim)
        expected = sim.expected_members(AUDIENCE_ID, [("is_vip", "eq", True)])
        sim.reset()

        async def one():
            return [
                m async for m in q.iter_members(AUDIENCE_ID, [("is_vip", "eq", True)], limit=100)
            ]

        results = await asyncio.gather(*(one() for _ in range(16)))
        for r in results:
            assert_same_members(r, expected)
        assert sim.stats()["token_requests"] == 1
        assert q._counters()["tokens_fetched"] == 1


async def test_32_concurrent_members_async_on_one_querier(sim):
    q = querier(sim)
    cities = ["São Paulo", "Rock & Roll", "a+b=c", "100%", "x#y"]
    flts = [
        [("city", "eq", cities[i % len(cities)]), ("lifetime_value", "gt", i * 10)]
        for i in range(32)
    ]
    results = await asyncio.gather(*(q.members_async(AUDIENCE_ID, f, limit=100) for f in flts))
    for f, r in zip(flts, results, strict=True):
        assert_same_members(r, sim.expected_members(AUDIENCE_ID, f))


async def test_members_async_lets_the_loop_run_between_steps():
    # Pages from the response cache come faster than their dicts are built,
    # so most steps find them already waiting and build them at once: each
    # still gives the loop a turn. The longest stretch without one is a step
    # (at most four pages of 100), far from the whole listing.
    with Simulator(members=50_000, port=0) as sim:
        q = querier(sim, cache_size=1000, cache_max_bytes=1 << 30)
        await q.members_async(AUDIENCE_ID, limit=500)  # fills the cache
        loop = asyncio.get_running_loop()
        turns: list[float] = []
        done = False

        def tick() -> None:
            turns.append(loop.time())
            if not done:
                loop.call_soon(tick)

        loop.call_soon(tick)
        start = loop.time()
        members = await q.members_async(AUDIENCE_ID, limit=500)
        end = loop.time()
        done = True
        assert len(members) == 50_000
        stamps = [start, *(t for t in turns if start <= t <= end), end]
        longest = max(b - a for a, b in itertools.pairwise(stamps))
        assert longest < 0.5 * (end - start), (longest, end - start, len(stamps))


def test_sync_call_inside_a_running_event_loop(sim):
    q = querier(sim)
    expected = sim.expected_members(AUDIENCE_ID, [("city", "eq", "100%")])

    async def notebook_cell():
        # As in Jupyter: a plain sync call while this thread runs a loop.
        got = q.members(AUDIENCE_ID, [("city", "eq", "100%")])
        first = next(iter(q.iter_members(AUDIENCE_ID, limit=5)))
        return got, first

    got, first = asyncio.run(notebook_cell())
    assert_same_members(got, expected)
    assert "memberId" in first


def test_sync_calls_from_many_threads(sim):
    q = querier(sim)
    expected = sim.expected_members(AUDIENCE_ID, [("is_vip", "eq", False)])
    out = []

    def work():
        out.append(q.members(AUDIENCE_ID, [("is_vip", "eq", False)], limit=200))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 8
    for r in out:
        assert_same_members(r, expected)


def test_ctrl_c_interrupts_a_blocked_sync_call():
    with Simulator(members=5000, port=0, latency=0.5) as sim:
        q = querier(sim)
        timer = threading.Timer(0.3, _thread.interrupt_main)
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                q.members(AUDIENCE_ID, limit=10)
        finally:
            timer.cancel()


async def test_cancelling_an_async_call():
    with Simulator(members=5000, port=0, latency=0.5) as sim:
        q = querier(sim)
        task = asyncio.ensure_future(q.members_async(AUDIENCE_ID, limit=10))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The querier keeps working afterwards.
        assert await q.count_async(AUDIENCE_ID) == 5000
