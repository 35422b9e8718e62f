"""The simulator's membership clock: `advance()` moves an audience on (leaves,
joins, attribute changes), deterministically; counts, listings and
`expected_members` follow; a listing under way finishes on the membership it
started with; the CLI simulator takes the same advance over HTTP."""

from __future__ import annotations

import json
from typing import Any

import cxone_cdp
import pytest
from conftest import RemoteSim, SimHttp, assert_error, cli_simulator, enc
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, SUBSET_AUDIENCE_ID, Simulator


def ids(members: list[dict[str, Any]]) -> list[str]:
    return [m["memberId"] for m in members]


def by_id(members: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["memberId"]: m for m in members}


def test_advance_moves_membership_and_everything_follows() -> None:
    with Simulator(members=500) as sim:
        h = SimHttp(sim)
        before = sim.expected_members()
        assert sim.epoch == 0 and sim.members == 500
        moved = sim.advance(joined=7, left=5, changed=11)
        assert moved["epoch"] == 1 and sim.epoch == 1
        assert [len(moved[k]) for k in ("joined", "left", "changed")] == [7, 5, 11]
        after = sim.expected_members()
        assert sim.members == len(after) == 502
        # Leavers are gone, joiners come last, the rest keep their order.
        assert set(moved["left"]) <= set(ids(before))
        assert not set(moved["left"]) & set(ids(after))
        assert ids(after)[-7:] == moved["joined"]
        kept = [i for i in ids(before) if i not in set(moved["left"])]
        assert ids(after)[:-7] == kept
        # Changed members keep id and joinedAt; their values move on.
        old, new = by_id(before), by_id(after)
        for i in moved["changed"]:
            assert new[i]["joinedAt"] == old[i]["joinedAt"]
            assert (
                new[i]["attributes"]["lifecycle_stage"] != old[i]["attributes"]["lifecycle_stage"]
            )
        unchanged = set(kept) - set(moved["changed"])
        assert all(new[i] == old[i] for i in unchanged)
        # count and members agree, over the wire and through the client.
        assert h.count().json() == {"count": 502}
        assert h.walk("limit=37") == after
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        assert q.count(AUDIENCE_ID) == 502
        assert q.members(AUDIENCE_ID, limit=100) == after
        # Filters see the new values.
        vips = [("is_vip", "eq", True)]
        want = [m for m in after if m["attributes"]["is_vip"] is True]
        assert sim.expected_members(AUDIENCE_ID, vips) == want
        assert q.count(AUDIENCE_ID, vips) == len(want)
        assert q.members(AUDIENCE_ID, vips) == want


def test_a_listing_under_way_finishes_on_its_snapshot() -> None:
    """A cursor carries the epoch its listing started in: the contract binds a
    cursor to its query (unchanged here) and makes the same cursor give the
    same page, so the old listing completes consistently; a new one sees the
    change."""
    with Simulator(members=300) as sim:
        h = SimHttp(sim)
        before = sim.expected_members()
        first = h.page("limit=100").json()
        cursor = first["nextPageToken"]
        sim.advance(joined=3, left=40, changed=10)
        rest: list[dict[str, Any]] = []
        c = cursor
        while c:
            doc = h.page("limit=100&cursor=" + enc(c)).json()
            rest += doc["items"]
            c = doc["nextPageToken"]
        assert first["items"] + rest == before
        # The same cursor again: the same page.
        again = h.page("limit=100&cursor=" + enc(cursor)).json()
        assert again["items"] == before[100:200]
        # A new listing sees the new membership.
        assert h.walk("limit=100") == sim.expected_members()
        assert len(h.walk("limit=100")) == 263
        # The cursor is still bound to its query.
        assert_error(h.page("limit=50&cursor=" + enc(cursor)), 400, "invalid_cursor")


def test_the_subset_audience_follows_and_the_empty_one_stays_empty() -> None:
    with Simulator(members=600) as sim:
        subset = ids(sim.expected_members(SUBSET_AUDIENCE_ID))
        moved = sim.advance(left=200)
        gone = set(moved["left"]) & set(subset)
        assert gone, "a third of the leavers were in the subset"
        now = ids(sim.expected_members(SUBSET_AUDIENCE_ID))
        assert now == [i for i in subset if i not in gone]
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        assert q.count(SUBSET_AUDIENCE_ID) == len(now)
        assert sim.expected_members(EMPTY_AUDIENCE_ID) == []


def test_deterministic_across_runs_and_refuses_the_impossible() -> None:
    def run() -> list[dict[str, Any]]:
        with Simulator(members=200) as sim:
            a = sim.advance(joined=2, left=3, changed=4)
            b = sim.advance(left=1, changed=1)
            return [a, b, {"members": sim.expected_members()}]

    assert run() == run()
    with Simulator(members=10) as sim:
        with pytest.raises(ValueError, match="exceed the 10 current members"):
            sim.advance(left=6, changed=5)
        with pytest.raises(ValueError, match="non-negative"):
            sim.advance(left=-1)
        assert sim.epoch == 0 and sim.members == 10
        sim.advance(left=10)
        assert sim.members == 0 and sim.expected_members() == []
        assert sim.advance() == {"epoch": 2, "joined": [], "left": [], "changed": []}


def test_advance_over_http() -> None:
    with Simulator(members=100) as sim:
        h = SimHttp(sim)

        def post(body: bytes) -> Any:
            return h.request("POST", "/_sim/advance", body=body)

        r = post(json.dumps({"joined": 4, "left": 2, "changed": 1}).encode())
        assert r.status == 200
        doc = r.json()
        assert doc["epoch"] == 1 and len(doc["joined"]) == 4
        assert h.request("GET", "/_sim/membership").json() == {"epoch": 1, "members": 102}
        assert h.count().json() == {"count": 102}
        assert sim.expected_members()[-4:] == [
            m for m in sim.expected_members() if m["memberId"] in doc["joined"]
        ]
        for bad in (b"[1]", b"{nope", b'{"left": -1}', b'{"gone": 1}', b'{"left": 1000}'):
            assert_error(post(bad), 400, "invalid_body")
        assert post(b"").json()["epoch"] == 2


def test_the_cli_simulator_takes_advances_over_http() -> None:
    with cli_simulator("--members", "50") as (_, first):
        url = first.rsplit(" ", 1)[1].strip()
        h = SimHttp(RemoteSim(url))  # type: ignore[arg-type]
        r = h.request("POST", "/_sim/advance", body=b'{"joined": 5, "left": 10}')
        assert r.status == 200 and len(r.json()["left"]) == 10
        assert h.count().json() == {"count": 45}
        assert len(h.walk()) == 45
