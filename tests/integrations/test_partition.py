"""Querier.plan_partitions against the simulator: disjoint, complete, verified plans."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from conftest import module_simulator
from cxone_cdp import ValidationError
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, SUBSET_AUDIENCE_ID

from tests._querier_support import assert_same_members, querier

sim = module_simulator("sim", members=4_000)
sim_missing = module_simulator("sim_missing", members=2_000, missing_attribute_every=40)


def _read(q, audience, plan):
    out = []
    for p in plan:
        part = q.members(audience, p["filters"])
        assert len(part) == p["expected_count"]
        out.extend(part)
    return out


@pytest.mark.parametrize(
    ("by", "ty"),
    [("lifetime_value", (int, float)), ("last_purchase_date", dt.date), ("city", str)],
)
def test_plan_covers_every_member_once(sim, by, ty):
    q = querier(sim)
    plan = q.plan_partitions(AUDIENCE_ID, by=by, partitions=5)
    assert [p["index"] for p in plan] == list(range(len(plan)))
    assert 5 <= len(plan) <= 9  # k boundaries give 2k + 1 partitions
    assert sum(p["expected_count"] for p in plan) == 4_000
    for p in plan:
        assert p["audience_id"] == AUDIENCE_ID and p["by"] == by
        for attr, op, value in p["filters"]:
            assert attr == by and op in ("lt", "eq", "gt")
            assert isinstance(value, ty) and not isinstance(value, bool)
    assert_same_members(_read(q, AUDIENCE_ID, plan), sim.expected_members(AUDIENCE_ID))
    # Plain data: picklable, no credentials.
    blob = pickle.dumps(plan)
    assert sim.client_secret.encode() not in blob and b"sim-secret" not in blob
    assert pickle.loads(blob) == plan


def test_plan_keeps_the_callers_filters(sim):
    q = querier(sim)
    base = [("is_vip", "eq", False), ("city", "neq", "Rock & Roll")]
    plan = q.plan_partitions(AUDIENCE_ID, base, by="lifetime_value", partitions=4)
    assert all(p["filters"][:2] == base for p in plan)
    expected = sim.expected_members(AUDIENCE_ID, base)
    assert sum(p["expected_count"] for p in plan) == len(expected)
    assert_same_members(_read(q, AUDIENCE_ID, plan), expected)
    # The middle partitions are equal-sized within a few percent (even indexes are ranges).
    ranges = [p["expected_count"] for p in plan if p["index"] % 2 == 0]
    assert max(ranges) - min(ranges) <= len(expected) / 4 * 0.3 + 2


async def test_async_twin_and_other_audiences(sim):
    q = querier(sim)
    plan = await q.plan_partitions_async(SUBSET_AUDIENCE_ID, by="lifecycle_stage", partitions=3)
    expected = sim.expected_members(SUBSET_AUDIENCE_ID)
    assert 0 < len(expected) < 4_000
    assert_same_members(_read(q, SUBSET_AUDIENCE_ID, plan), expected)
    empty = await q.plan_partitions_async(EMPTY_AUDIENCE_ID, by="city")
    assert [p["expected_count"] for p in empty] == [0]


def test_members_lacking_the_attribute_are_refused(sim_missing):
    q = querier(sim_missing)
    with pytest.raises(ValidationError) as e:
        q.plan_partitions(AUDIENCE_ID, by="lifetime_value", partitions=4)
    assert e.value.code == "partition_cover_incomplete"
    assert "50 lack" in str(e.value) and "1950" in str(e.value)
    # Another attribute, or one partition, is fine.
    plan = q.plan_partitions(AUDIENCE_ID, by="city", partitions=4)
    assert sum(p["expected_count"] for p in plan) == 2_000
    assert len(q.plan_partitions(AUDIENCE_ID, by="lifetime_value", partitions=1)) == 1


def test_bad_arguments_are_validation_errors(sim):
    q = querier(sim)
    before = sim.stats()["api_requests"]
    for kwargs in (
        {"by": "city", "partitions": 0},
        {"by": "city", "partitions": 5000},
        {"by": "city", "partitions": "8"},
        {"by": "", "partitions": 2},
        {"by": 3, "partitions": 2},
    ):
        with pytest.raises(ValidationError):
            q.plan_partitions(AUDIENCE_ID, **kwargs)
    # No room next to 49 filters of complexity 98 for two more conditions.
    crowded = [("city", "neq", f"c{i}") for i in range(49)]
    with pytest.raises(ValidationError, match="no room"):
        q.plan_partitions(AUDIENCE_ID, crowded, by="lifetime_value", partitions=3)
    assert sim.stats()["api_requests"] == before
    with pytest.raises(ValidationError):
        q.plan_partitions(AUDIENCE_ID, by="is_vip", partitions=2)
    with pytest.raises(ValidationError, match="not found"):
        q.plan_partitions(AUDIENCE_ID, by="nope", partitions=2)
