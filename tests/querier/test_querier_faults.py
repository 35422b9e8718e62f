"""Faulty servers still give the exact member set (or a typed error)."""

import pytest
from _querier_support import assert_same_members, querier
from cxone_cdp import errors
from cxone_cdp.testing import AUDIENCE_ID, Simulator

FLT = [("lifetime_value", "gt", 200)]

FAULTS = {
    "empty_pages": {"empty_page_every": 3},
    "short_pages": {"short_pages": True},
    "rate_limited": {"rate_limit_every": 4, "retry_after_secs": 1},
    "unavailable": {"unavailable_every": 3},
    "dropped_connections": {"drop_every": 5},
    "token_revocation": {"revoke_after": 0.3, "latency": 0.02},
    "html_502": {"html_502_every": 4},
    "truncated_bodies": {"truncated_every": 3},
    "everything_at_once": {
        "empty_page_every": 5,
        "short_pages": True,
        "rate_limit_every": 7,
        "unavailable_every": 6,
        "drop_every": 11,
    },
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_faults_still_give_the_exact_set(name):
    with Simulator(members=2000, port=0, **FAULTS[name]) as sim:
        q = querier(sim, max_retries=8)
        expected = sim.expected_members(AUDIENCE_ID, FLT)
        got = q.members(AUDIENCE_ID, FLT, limit=50)
        assert_same_members(got, expected)
        got = list(q.iter_members(AUDIENCE_ID, limit=100))
        assert_same_members(got, sim.expected_members(AUDIENCE_ID))
        if name == "rate_limited":
            assert q._counters()["rate_limited"] > 0
        if name == "token_revocation":
            assert sim.stats()["token_requests"] >= 2


@pytest.mark.parametrize(
    ("listing", "stream"),
    [("members", "iter_members"), ("members_arrow", "iter_batches")],
    ids=["dicts", "arrow"],
)
def test_repeated_cursor_is_a_pagination_error(listing, stream):
    """The whole listing and the stream of the dict path and of the Arrow path alike."""
    with Simulator(members=2000, port=0, repeat_cursor_after=3) as sim:
        q = querier(sim)
        with pytest.raises(errors.PaginationError):
            getattr(q, listing)(AUDIENCE_ID, limit=50)
        with pytest.raises(errors.PaginationError):
            list(getattr(q, stream)(AUDIENCE_ID, limit=50))


def test_persistent_503_is_a_server_error_after_retries():
    with Simulator(members=100, port=0, unavailable_every=1) as sim:
        q = querier(sim, max_retries=2)
        sim.reset()
        with pytest.raises(errors.ServerError) as ei:
            q.count(AUDIENCE_ID)
        assert ei.value.status == 503
        assert q._counters()["retries"] >= 2


def test_persistent_429_is_a_rate_limit_error_with_retry_after():
    with Simulator(members=100, port=0, rate_limit_every=1, retry_after_secs=7) as sim:
        q = querier(sim, max_retries=1)
        with pytest.raises(errors.RateLimitError) as ei:
            q.count(AUDIENCE_ID)
        assert ei.value.status == 429 and ei.value.retry_after == 7


def test_wrong_secret_is_an_authentication_error_not_retried():
    with Simulator(members=100, port=0) as sim:
        from cxone_cdp import Querier

        q = Querier(sim.base_url, sim.client_id, "wrong-secret-123", token_url=sim.token_url)
        sim.reset()
        with pytest.raises(errors.AuthenticationError) as ei:
            q.count(AUDIENCE_ID)
        assert ei.value.code == "invalid_client"
        assert sim.stats()["token_requests"] == 1
        assert "wrong-secret-123" not in str(ei.value)


def test_unknown_audience_is_not_found():
    with Simulator(members=100, port=0) as sim:
        q = querier(sim)
        with pytest.raises(errors.NotFoundError) as ei:
            q.count("no-such-audience")
        assert ei.value.status == 404 and ei.value.correlation_id


def test_missing_scope_is_permission_denied():
    with Simulator(members=100, port=0) as sim:
        q = querier(sim, scopes=["cdp:read"])
        with pytest.raises(errors.PermissionDeniedError) as ei:
            q.count(AUDIENCE_ID)
        assert ei.value.status == 403
