"""Bad input: a typed ValidationError, and not one request sent."""

import datetime
import math

import pytest
from _querier_support import querier, requests
from cxone_cdp import ValidationError
from cxone_cdp.testing import AUDIENCE_ID, Simulator


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=100, port=0) as s:
        yield s


LOCAL_BAD = {
    "unknown operator": dict(filters=[("city", "like", "x")]),
    "operator typo": dict(filters=[("city", "=>", "x")]),
    "contains on a number": dict(filters=[("lifetime_value", "contains", 5)]),
    "too many filters": dict(filters=[("lifetime_value", "eq", i) for i in range(51)]),
    "too complex": dict(filters=[("city", "contains", "a")] * 21),
    "limit zero": dict(limit=0),
    "limit too big": dict(limit=1001),
    "limit negative": dict(limit=-5),
    "limit bool": dict(limit=True),
    "limit float": dict(limit=10.0),
    "None value": dict(filters=[("city", "eq", None)]),
    "nan": dict(filters=[("lifetime_value", "gt", math.nan)]),
    "inf": dict(filters=[("lifetime_value", "gt", math.inf)]),
    "surrogate": dict(filters=[("city", "eq", "a\ud800b")]),
    "control chars": dict(filters=[("city", "eq", "a\nb")]),
    "empty value": dict(filters=[("city", "eq", "")]),
    "datetime": dict(filters=[("last_purchase_date", "gt", datetime.datetime(2024, 1, 1))]),
    "huge int": dict(filters=[("lifetime_value", "gt", 10**30)]),
    "list value": dict(filters=[("city", "eq", ["x"])]),
    "two-tuple": dict(filters=[("city", "eq")]),
    "bare tuple": dict(filters=("city", "eq", "x")),
    "string filters": dict(filters="city=x"),
    "dict filters": dict(filters={"city": "x"}),
    "non-str attribute": dict(filters=[(1, "eq", "x")]),
    "bad attribute name": dict(filters=[("ci ty", "eq", "x")]),
    "empty audience": dict(audience_id=""),
    "slash audience": dict(audience_id="a/b"),
    "query audience": dict(audience_id="a?b=1"),
    "hash audience": dict(audience_id="a#b"),
    "dotdot audience": dict(audience_id=".."),
    "space audience": dict(audience_id="a b"),
    "control audience": dict(audience_id="a\x00b"),
    "non-str audience": dict(audience_id=42),
}


@pytest.mark.parametrize("case", sorted(LOCAL_BAD))
def test_bad_input_sends_nothing(sim, case):
    q = querier(sim)
    sim.reset()
    kw = dict(audience_id=AUDIENCE_ID, filters=(), limit=100)
    kw.update(LOCAL_BAD[case])
    aud = kw.pop("audience_id")
    with pytest.raises(ValidationError):
        q.members(aud, **kw)
    with pytest.raises(ValidationError):
        q.iter_members(aud, **kw)
    with pytest.raises(ValidationError):
        q.validate(aud, **kw)
    assert requests(sim) == 0


SCHEMA_BAD = {
    "unknown attribute": [("nope", "eq", "x")],
    "text for a number": [("lifetime_value", "eq", "abc")],
    "int for a bool": [("is_vip", "eq", 1)],
    "bool for a number": [("lifetime_value", "eq", True)],
    "gt on a bool": [("is_vip", "gt", True)],
    "bad date text": [("last_purchase_date", "eq", "2024-13-01")],
    "number for a string": [("city", "eq", 5)],
    "contains on a date": [("last_purchase_date", "contains", "2024")],
}


@pytest.mark.parametrize("case", sorted(SCHEMA_BAD))
def test_schema_errors_send_nothing_once_schema_is_known(sim, case):
    q = querier(sim)
    q.attributes()  # the schema is fetched once and kept
    sim.reset()
    with pytest.raises(ValidationError):
        q.members(AUDIENCE_ID, SCHEMA_BAD[case])
    with pytest.raises(ValidationError):
        q.count(AUDIENCE_ID, SCHEMA_BAD[case])
    with pytest.raises(ValidationError):
        list(q.iter_members(AUDIENCE_ID, SCHEMA_BAD[case]))
    assert requests(sim) == 0


async def test_async_bad_input_raises_before_awaiting(sim):
    q = querier(sim)
    sim.reset()
    with pytest.raises(ValidationError):
        q.members_async(AUDIENCE_ID, [("city", "like", "x")])
    with pytest.raises(ValidationError):
        await q.count_async("a/b")
    assert requests(sim) == 0


def test_webhook_input(sim):
    q = querier(sim)
    sim.reset()
    for args in [
        ("", "https://x/cb", ["e"]),
        ("n", "ftp://x", ["e"]),
        ("n", "https://x", []),
        ("n", "https://x", "e"),
    ]:
        with pytest.raises(ValidationError):
            q.register_webhook(*args)
    assert requests(sim) == 0
