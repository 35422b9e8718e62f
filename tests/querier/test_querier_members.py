"""Member listings compared exactly with what the simulator holds."""

import asyncio
import datetime

import pytest
from _querier_support import CITY_VALUES, assert_same_members, querier
from cxone_cdp import Page
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, Simulator


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=3000, port=0) as s:
        yield s


@pytest.fixture
def q(sim):
    return querier(sim)


@pytest.mark.parametrize("city", CITY_VALUES)
def test_every_encoding_sensitive_city(sim, q, city):
    expected = sim.expected_members(AUDIENCE_ID, [("city", "eq", city)])
    assert expected, "the simulator should hold members in every city"
    got = q.members(AUDIENCE_ID, [("city", "eq", city)], limit=97)
    assert_same_members(got, expected)
    assert q.count(AUDIENCE_ID, [("city", "=", city)]) == len(expected)


@pytest.mark.parametrize(
    "flt",
    [
        ("lifetime_value", "gt", 500),
        ("lifetime_value", "<", 250.5),
        ("is_vip", "eq", True),
        ("is_vip", "neq", True),
        ("last_purchase_date", "gt", datetime.date(2024, 6, 1)),
        ("last_purchase_date", "lt", "2024-03-01"),
        ("city", "contains", "Paulo"),
        ("city", "~", "%"),
    ],
)
def test_typed_filters(sim, q, flt):
    expected = sim.expected_members(AUDIENCE_ID, [flt])
    got = q.members(AUDIENCE_ID, [flt], limit=1000)
    assert_same_members(got, expected)


def test_combined_filters_and_types_of_values(sim, q):
    flts = [("lifetime_value", "gt", 100), ("city", "neq", "Rock & Roll"), ("is_vip", "=", False)]
    expected = sim.expected_members(AUDIENCE_ID, flts)
    got = q.members(AUDIENCE_ID, flts)
    assert_same_members(got, expected)
    m = got[0]
    assert set(m) >= {"memberId", "joinedAt", "attributes"}
    a = m["attributes"]
    assert isinstance(a["is_vip"], bool)
    assert isinstance(a["lifetime_value"], (int, float)) and not isinstance(
        a["lifetime_value"], bool
    )
    assert isinstance(a["last_purchase_date"], str)


def test_whole_audience_and_empty_audience(sim, q):
    assert_same_members(q.members(AUDIENCE_ID), sim.expected_members(AUDIENCE_ID))
    assert q.members(EMPTY_AUDIENCE_ID) == []
    assert q.count(EMPTY_AUDIENCE_ID) == 0


def test_attributes_and_validate(sim, q):
    attrs = q.attributes()
    assert attrs["city"] == "string" and attrs["lifetime_value"] == "number"
    assert attrs["is_vip"] == "boolean" and attrs["last_purchase_date"] == "date"
    assert q.refresh_attributes() == attrs
    v = q.validate(AUDIENCE_ID, [("city", "eq", "x#y"), ("lifetime_value", "gt", 1)], 10)
    expected = sim.expected_members(
        AUDIENCE_ID, [("city", "eq", "x#y"), ("lifetime_value", "gt", 1)]
    )
    assert v == {"audience_id": AUDIENCE_ID, "filters": 2, "complexity": 3, "count": len(expected)}
    from cxone_cdp.errors import ValidationError

    with pytest.raises(ValidationError):
        q.validate(EMPTY_AUDIENCE_ID, require_nonzero=True)
    assert q.validate(EMPTY_AUDIENCE_ID)["count"] == 0


def test_iter_members_sync_and_async(sim, q):
    flt = [("lifetime_value", "gt", 300)]
    expected = sim.expected_members(AUDIENCE_ID, flt)
    assert_same_members(list(q.iter_members(AUDIENCE_ID, flt, limit=50)), expected)

    async def collect():
        return [m async for m in q.iter_members(AUDIENCE_ID, flt, limit=50)]

    assert_same_members(asyncio.run(collect()), expected)


def test_iter_members_stops_early_without_fetching_everything(sim, q):
    sim.reset()
    it = q.iter_members(AUDIENCE_ID, limit=10)
    first = [next(it) for _ in range(5)]
    assert len(first) == 5
    del it
    # At most a couple of pages were fetched ahead (plus schema and token).
    assert sim.stats()["api_requests"] <= 5


def test_iter_pages_and_resume_from_cursor(sim, q):
    pages = list(q.iter_pages(AUDIENCE_ID, limit=400))
    assert all(isinstance(p, Page) for p in pages)
    assert pages[0].cursor is None and pages[-1].next_cursor is None
    for a, b in zip(pages[:-1], pages[1:], strict=True):
        assert b.cursor == a.next_cursor
    flat = [m for p in pages for m in p.items]
    assert_same_members(flat, sim.expected_members(AUDIENCE_ID))
    # Resume from the third page's cursor: the rest, exactly.
    resumed = list(q.iter_pages(AUDIENCE_ID, limit=400, cursor=pages[2].cursor))
    assert [m["memberId"] for p in resumed for m in p.items] == [
        m["memberId"] for p in pages[2:] for m in p.items
    ]

    async def collect():
        return [p async for p in q.iter_pages(AUDIENCE_ID, limit=400)]

    assert [len(p) for p in asyncio.run(collect())] == [len(p) for p in pages]


def test_register_webhook(sim, q):
    out = q.register_webhook("done", sim.callback_url, ["audience.query.completed"])
    assert out["name"] == "done" and out["enabled"] is True and out["id"]
    assert any(w.get("id") == out["id"] for w in sim.webhooks())


async def test_async_twins(sim, q):
    flt = [("city", "eq", "São Paulo")]
    expected = sim.expected_members(AUDIENCE_ID, flt)
    assert_same_members(await q.members_async(AUDIENCE_ID, flt), expected)
    assert await q.count_async(AUDIENCE_ID, flt) == len(expected)
    assert (await q.attributes_async())["city"] == "string"
    assert (await q.validate_async(AUDIENCE_ID, flt))["count"] == len(expected)
    hook = await q.register_webhook_async("a", "https://example.invalid/cb", ["x"], enabled=False)
    assert hook["enabled"] is False


def test_from_env_and_overrides(sim, monkeypatch):
    from cxone_cdp import Querier, ValidationError

    monkeypatch.setenv("CXONE_CDP_BASE_URL", sim.base_url)
    monkeypatch.setenv("CXONE_CDP_TOKEN_URL", sim.token_url)
    monkeypatch.setenv("CXONE_CDP_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("CXONE_CDP_CLIENT_SECRET", sim.client_secret)
    q = Querier.from_env(max_retries=1)
    assert q.count(EMPTY_AUDIENCE_ID) == 0
    assert repr(q) == (
        f"Querier(base_url={sim.base_url!r}, client_id={sim.client_id!r}, "
        "auth='client_credentials', cache='on')"
    )
    q = Querier.from_env(client_id="someone-else")
    assert q.client_id == "someone-else"
    monkeypatch.delenv("CXONE_CDP_CLIENT_SECRET")
    with pytest.raises(ValidationError, match="CXONE_CDP_CLIENT_SECRET"):
        Querier.from_env()


def test_iter_pages_rejects_bad_cursor_and_server_rejects_foreign_cursor(sim, q):
    from cxone_cdp import BadRequestError, ValidationError

    with pytest.raises(ValidationError):
        q.iter_pages(AUDIENCE_ID, cursor="")
    first = next(iter(q.iter_pages(AUDIENCE_ID, limit=10)))
    # A cursor is bound to its query: reusing it with another limit is a 400.
    with pytest.raises(BadRequestError) as ei:
        list(q.iter_pages(AUDIENCE_ID, limit=20, cursor=first.next_cursor))
    assert ei.value.status == 400 and ei.value.code == "invalid_cursor"
