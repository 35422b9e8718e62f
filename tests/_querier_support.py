"""Helpers shared by the Querier tests (not a test module)."""

from __future__ import annotations

from cxone_cdp import Querier

CITY_VALUES = ["São Paulo", "Rock & Roll", "a+b=c", "100%", "x#y"]


def bare_querier(sim, **kw) -> Querier:
    """A Querier on `sim` with the default retry settings."""
    return Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url, **kw)


def page_requests(sim) -> int:
    """Members page requests the simulator has answered."""
    return sim.stats()["by_endpoint"].get("members", 0)


def querier(sim, **kw) -> Querier:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    kw.setdefault("retry_after_cap", 0.05)
    kw.setdefault("max_retries", 6)
    return Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url, **kw)


def by_id(members):
    return sorted(members, key=lambda m: m["memberId"])


def assert_same_members(got, expected):
    assert len(got) == len(expected)
    ids = [m["memberId"] for m in got]
    assert len(set(ids)) == len(ids), "duplicate members"
    assert by_id(got) == by_id(expected)


def requests(sim) -> int:
    s = sim.stats()
    return s["token_requests"] + s["api_requests"]
