"""Short, useful reprs (what a notebook shows), never with a secret; the
metrics are a real dict with a compact repr and an HTML view."""

from __future__ import annotations

import json
import pickle

import cxone_cdp
import pytest
from _querier_support import querier
from cxone_cdp import Metrics
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, Simulator

SECRET = "s3cret-for-repr-tests"
KEY_SECRET = "key-s3cret-for-repr-tests"
MEMBERS = 2500


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=MEMBERS, client_secret=SECRET, access_key_secret=KEY_SECRET) as s:
        yield s


@pytest.fixture
def q(sim):
    return querier(sim)


def test_querier_repr(sim, q):
    r = repr(q)
    assert r == (
        f"Querier(base_url={sim.base_url!r}, client_id={sim.client_id!r}, "
        "auth='client_credentials', cache='on')"
    )
    assert SECRET not in r and SECRET not in str(q)


@pytest.mark.parametrize("opts", [{"cache_size": 0}, {"cache_ttl": 0}])
def test_querier_repr_cache_off(sim, opts):
    assert repr(querier(sim, **opts)).endswith("cache='off')")


def test_querier_repr_access_key(sim):
    q = cxone_cdp.Querier(
        sim.base_url,
        sim.client_id,
        SECRET,
        auth="access_key",
        access_key_id=sim.access_key_id,
        access_key_secret=KEY_SECRET,
        token_url=sim.auth_token_url,
    )
    r = repr(q)
    assert "auth='access_key'" in r and f"access_key_id={sim.access_key_id!r}" in r
    assert KEY_SECRET not in r and SECRET not in r


def test_member_iterator_repr_counts(q):
    it = q.iter_members(AUDIENCE_ID, limit=1000)
    assert repr(it) == f"MemberIterator(audience_id={AUDIENCE_ID!r}, pages=0, members=0)"
    next(it)
    next(it)
    assert repr(it) == f"MemberIterator(audience_id={AUDIENCE_ID!r}, pages=1, members=2)"
    n = 2 + sum(1 for _ in it)
    assert n == MEMBERS
    assert repr(it) == (
        f"MemberIterator(audience_id={AUDIENCE_ID!r}, pages=3, members={MEMBERS}, done)"
    )


def test_member_iterator_repr_close(q):
    it = q.iter_members(AUDIENCE_ID, limit=100)
    next(it)
    it.close()
    assert repr(it).endswith("members=1, done)")


async def test_member_iterator_repr_async(q):
    it = q.iter_members(AUDIENCE_ID, limit=1000)
    got = [m async for m in it]
    assert len(got) == MEMBERS
    assert repr(it).endswith(f"pages=3, members={MEMBERS}, done)")


def test_page_iterator_repr(q):
    it = q.iter_pages(AUDIENCE_ID, limit=1000)
    page = next(it)
    assert repr(it) == f"PageIterator(audience_id={AUDIENCE_ID!r}, pages=1, members=1000)"
    assert repr(page).startswith("Page(items=<1000 members>, cursor=None, next_cursor=")
    rest = list(it)
    assert [len(p) for p in rest] == [1000, 500]
    assert repr(it).endswith(f"pages=3, members={MEMBERS}, done)")


async def test_page_iterator_repr_async(q):
    it = q.iter_pages(EMPTY_AUDIENCE_ID)
    pages = [p async for p in it]
    assert repr(it) == (
        f"PageIterator(audience_id={EMPTY_AUDIENCE_ID!r}, pages={len(pages)}, members=0, done)"
    )


def test_batch_iterator_repr(q):
    pytest.importorskip("pyarrow")
    it = q.iter_batches(AUDIENCE_ID, limit=1000)
    assert repr(it) == f"BatchIterator(audience_id={AUDIENCE_ID!r}, pages=0, rows=0)"
    next(it)
    assert repr(it) == f"BatchIterator(audience_id={AUDIENCE_ID!r}, pages=1, rows=1000)"
    list(it)
    assert repr(it).endswith(f"pages=3, rows={MEMBERS}, done)")


def test_iterator_repr_after_error(sim, q):
    it = q.iter_members("not-an-audience-0000")
    with pytest.raises(cxone_cdp.NotFoundError):
        next(it)
    assert repr(it).endswith("pages=0, members=0, done)")


def test_simulator_repr(sim):
    r = repr(sim)
    assert r == f"<cxone_cdp.testing.Simulator {sim.base_url} members={MEMBERS}>"
    assert SECRET not in r and KEY_SECRET not in r
    native = sim._sim
    assert repr(native) == f"<Simulator {sim.base_url} members={MEMBERS}>"
    stopped = Simulator(members=7, client_secret=SECRET)
    assert repr(stopped) == "<cxone_cdp.testing.Simulator stopped members=7>"


def test_metrics_is_a_dict_with_compact_repr(q):
    before = q.metrics()
    assert isinstance(before, Metrics) and isinstance(before, dict)
    assert before["queries_total"] == 0 and before["latency_p50_ms"] is None
    q.members(AUDIENCE_ID, limit=1000)
    m = q.metrics()
    assert m["queries_total"] == 1 and m["members_returned"] == MEMBERS
    assert m == dict(m) and json.loads(json.dumps(m)) == dict(m)
    assert pickle.loads(pickle.dumps(m)) == m
    r = repr(m)
    assert r.startswith("Metrics(queries_total=1, queries_failed=0, ")
    assert f"members_returned={MEMBERS}" in r and "latency_p50_ms=" in r
    assert r.endswith("more)") and len(r) < 250
    assert SECRET not in r


def test_metrics_html(q):
    q.count(AUDIENCE_ID)
    m = q.metrics()
    h = m._repr_html_()
    assert h.startswith('<table class="cxone-cdp-metrics">') and h.endswith("</table>")
    for section in ("Queries", "Latency (ms)", "HTTP", "Cache"):
        assert f">{section}<" in h
    for key in m:
        if key not in {"total", "success", "failed", "latency_sum"}:
            assert f"<td>{key}</td>" in h, key
    assert h.count("<tr>") == len(m) - 4 + 5  # one row per figure and per section


def test_metrics_html_escapes_and_lists_unknown_keys():
    h = Metrics({"queries_total": 1, "<b>odd</b>": "<x>"})._repr_html_()
    assert "&lt;b&gt;odd&lt;/b&gt;" in h and "&lt;x&gt;" in h and "<b>" not in h
    assert ">Other<" in h
    assert repr(Metrics({"queries_total": 2})) == "Metrics(queries_total=2)"
