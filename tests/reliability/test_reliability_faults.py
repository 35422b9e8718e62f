"""The fault matrix: a 20,000-member listing under each server fault
returns exactly the simulator's member set (same ids, same whole records) or
raises a typed ``CxoneError`` -- never a partial list without an error.

Every profile runs the listing through ``members()`` and ``iter_members()``
(and the fault-free reference comes from ``sim.expected_members``). Retry
waits are kept small through the Querier's own knobs (``retry_after_cap``,
``backoff_*``), so the whole file stays well under two minutes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from _querier_support import assert_same_members, querier
from cxone_cdp import errors
from cxone_cdp.testing import AUDIENCE_ID, Simulator

N = 20_000
LIMIT = 500  # 40 pages: every periodic fault fires several times per listing


def _listing_outcome(run):
    """('ok', members) or ('error', the typed exception); anything else fails."""
    try:
        return "ok", run()
    except errors.CxoneError as e:
        return "error", e


def _exact_or_typed(sim, q, *, require_ok=True):
    expected = sim.expected_members(AUDIENCE_ID)
    assert len(expected) == N
    for run in (
        lambda: q.members(AUDIENCE_ID, limit=LIMIT),
        lambda: list(q.iter_members(AUDIENCE_ID, limit=LIMIT)),
    ):
        kind, got = _listing_outcome(run)
        if kind == "ok":
            assert_same_members(got, expected)
        else:
            assert not require_ok, f"unexpected {type(got).__name__}: {got}"


# profile -> (simulator faults, Querier overrides)
PROFILES = {
    "429_every_3rd": ({"rate_limit_every": 3, "retry_after_secs": 1}, {}),
    "503_every_4th": ({"unavailable_every": 4}, {}),
    "429_and_503": ({"rate_limit_every": 3, "retry_after_secs": 1, "unavailable_every": 4}, {}),
    "drop_every_5th": ({"drop_every": 5}, {}),
    "empty_page_every_3rd": ({"empty_page_every": 3}, {}),
    "short_pages": ({"short_pages": True}, {}),
    "html_502_every_3rd": ({"html_502_every": 3}, {}),
    "truncated_json_every_3rd": ({"truncated_every": 3}, {}),
}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_fault_profile_gives_the_exact_set(profile):
    faults, kw = PROFILES[profile]
    with Simulator(members=N, port=0, **faults) as sim:
        q = querier(sim, max_retries=8, **kw)
        _exact_or_typed(sim, q)
        c = q._counters()
        if "rate_limit_every" in faults:
            assert c["rate_limited"] > 0  # the fault really fired and was retried
        if any(k in faults for k in ("unavailable_every", "drop_every", "html_502_every")):
            assert c["retries"] > 0


def test_429_honours_retry_after_up_to_the_cap():
    # Retry-After 1 with a cap of 0.2 s: each 429 waits ~0.2 s, not 0 and not 1.
    with Simulator(members=2_000, port=0, rate_limit_every=2, retry_after_secs=1) as sim:
        q = querier(sim, retry_after_cap=0.2, max_retries=4)
        t0 = time.monotonic()
        got = q.members(AUDIENCE_ID, limit=500)  # 4 pages + schema-less: ~2 x 429
        took = time.monotonic() - t0
        assert_same_members(got, sim.expected_members(AUDIENCE_ID))
        limited = q._counters()["rate_limited"]
        assert limited >= 1
        assert took >= 0.2 * limited * 0.9


@pytest.mark.slow
def test_token_revoked_every_2s_during_a_slow_listing():
    # ~80 pages x 40 ms: the listing spans several revocations.
    with Simulator(members=N, port=0, revoke_after=2.0, latency=0.04) as sim:
        q = querier(sim, max_retries=4)
        got = q.members(AUDIENCE_ID, limit=250)
        assert_same_members(got, sim.expected_members(AUDIENCE_ID))
        assert sim.stats()["token_requests"] >= 2
        assert q._counters()["auth_replays"] >= 1


@pytest.mark.slow
async def test_slow_token_endpoint_16_concurrent_listings_one_token():
    flt = [("city", "eq", "Rock & Roll")]
    with Simulator(members=N, port=0, token_delay=0.5) as sim:
        q = querier(sim)
        expected = sim.expected_members(AUDIENCE_ID, flt)
        sim.reset()
        results = await asyncio.gather(
            *(q.members_async(AUDIENCE_ID, flt, limit=1000) for _ in range(8)),
            *(_collect(q.iter_members(AUDIENCE_ID, flt, limit=1000)) for _ in range(8)),
        )
        assert len(results) == 16
        for r in results:
            assert_same_members(r, expected)
        assert sim.stats()["token_requests"] == 1
        assert q._counters()["tokens_fetched"] == 1


async def _collect(it):
    return [m async for m in it]


def test_repeated_cursor_is_a_pagination_error_in_bounded_time():
    with Simulator(members=N, port=0, repeat_cursor_after=5) as sim:
        q = querier(sim)
        for run in (
            lambda: q.members(AUDIENCE_ID, limit=LIMIT),
            lambda: list(q.iter_members(AUDIENCE_ID, limit=LIMIT)),
            lambda: list(q.iter_pages(AUDIENCE_ID, limit=LIMIT)),
        ):
            t0 = time.monotonic()
            with pytest.raises(errors.PaginationError):
                run()
            assert time.monotonic() - t0 < 10  # a loop guard, not a speed claim


@pytest.mark.slow
def test_server_restart_mid_listing():
    # The restart closes open connections; the listing either completes with
    # the exact set (cursors are stateless) or fails with a typed error.
    with Simulator(members=N, port=0, latency=0.01) as sim:
        q = querier(sim, max_retries=8, backoff_base=0.05, backoff_max=0.3)
        expected = sim.expected_members(AUDIENCE_ID)
        got = []
        restarter = None
        outcome = "ok"
        try:
            for i, m in enumerate(q.iter_members(AUDIENCE_ID, limit=250)):
                got.append(m)
                if i == 5_000:
                    restarter = threading.Thread(target=sim.restart)
                    restarter.start()
        except errors.CxoneError:
            outcome = "error"
        if restarter is not None:
            restarter.join()
        assert restarter is not None
        if outcome == "ok":
            assert_same_members(got, expected)
        # The Querier keeps working after the restart.
        assert_same_members(q.members(AUDIENCE_ID, limit=1000), expected)


def test_timeout_shorter_than_latency_is_a_timeout_error_after_retries():
    timeout, retries, backoff_max = 0.2, 2, 0.05
    with Simulator(members=500, port=0, latency=1.0) as sim:
        q = querier(sim, timeout=timeout, max_retries=retries, backoff_max=backoff_max)
        for run in (
            lambda: q.count(AUDIENCE_ID),
            lambda: q.members(AUDIENCE_ID, limit=LIMIT),
            lambda: list(q.iter_members(AUDIENCE_ID, limit=LIMIT)),
        ):
            sim.reset()
            before = q._counters()["http_requests"]
            t0 = time.monotonic()
            with pytest.raises(errors.TimeoutError) as ei:
                run()
            took = time.monotonic() - t0
            assert isinstance(ei.value, TimeoutError)  # also the builtin
            attempts = retries + 1
            # Every attempt was made (and no more), each cut off by the timeout
            # (+1 for the token request of the first run).
            made = q._counters()["http_requests"] - before
            assert attempts <= made <= attempts + 1, made
            lower = attempts * timeout
            upper = attempts * timeout + retries * backoff_max + 2.0  # + token + slack
            assert lower * 0.9 <= took <= upper, (took, lower, upper)
