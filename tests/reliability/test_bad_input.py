"""The bad-input matrix: every public entry point, fed hostile input,
raises a typed ``cxone_cdp.errors.ValidationError`` and the simulator counts
ZERO requests (token included)."""

from __future__ import annotations

import asyncio
import inspect
import math

import pytest
from _querier_support import querier, requests
from cxone_cdp import Querier, errors
from cxone_cdp.compat import CXoneAudienceQuerier
from cxone_cdp.testing import AUDIENCE_ID, Simulator

MB = 1_000_000


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=200, port=0) as s:
        yield s


def _run(make):
    """Calls `make()` inside a running event loop (as a caller of the async
    twins would) and drives whatever it returned (awaitable, iterator, async
    iterator) to completion."""

    async def go():
        result = make()
        if inspect.isawaitable(result):
            return await result
        if hasattr(result, "__next__"):
            return list(result)
        if hasattr(result, "__anext__"):
            return [x async for x in result]
        return result

    return asyncio.run(go())


def _compat_querier(sim):
    """The tutorial-compatible querier on `sim` (no completion callback)."""
    base_url, token_url = sim.base_url, sim.token_url
    return CXoneAudienceQuerier(
        "org", sim.client_id, sim.client_secret, None, base_url=base_url, token_url=token_url
    )


def _compat(sim, aud, filters, limit):
    c = _compat_querier(sim)
    payload = {"audience_id": aud, "filters": filters, "limit": limit}
    return c.validate_and_query(payload, "q-1")


async def _aiter(it):
    return [x async for x in it]


# entry point -> call(q, sim, audience_id, filters, limit); limit=None means "not passed"
ENTRY = {
    "members": lambda q, s, a, f, n: q.members(a, f, n),
    "members_async": lambda q, s, a, f, n: q.members_async(a, f, n),
    "iter_members": lambda q, s, a, f, n: q.iter_members(a, f, n),
    "iter_members_async": lambda q, s, a, f, n: _aiter(q.iter_members(a, f, n)),
    "iter_pages": lambda q, s, a, f, n: q.iter_pages(a, f, n),
    "iter_pages_async": lambda q, s, a, f, n: _aiter(q.iter_pages(a, f, n)),
    "validate": lambda q, s, a, f, n: q.validate(a, f, n),
    "validate_async": lambda q, s, a, f, n: q.validate_async(a, f, n),
    "count": lambda q, s, a, f, n: q.count(a, f),
    "count_async": lambda q, s, a, f, n: q.count_async(a, f),
    "compat": lambda q, s, a, f, n: _compat(s, a, f, n),
}
NO_LIMIT = {"count", "count_async"}

# case -> (audience_id, filters, limit)
OK_F = [("city", "eq", "x")]
CASES = {
    # audience ids
    "aud None": (None, OK_F, 10),
    "aud int": (42, OK_F, 10),
    "aud bytes": (b"abc", OK_F, 10),
    "aud empty": ("", OK_F, 10),
    "aud slash": ("a/b", OK_F, 10),
    "aud query": ("a?b=1", OK_F, 10),
    "aud dotdot": ("../x", OK_F, 10),
    "aud hash": ("a#b", OK_F, 10),
    "aud space": ("a b", OK_F, 10),
    "aud control": ("a\x01b", OK_F, 10),
    "aud surrogate": ("a\ud800", OK_F, 10),
    "aud 1MB": ("a" * MB, OK_F, 10),
    # filter shapes and operators
    "filters int": (AUDIENCE_ID, 5, 10),
    "filters str": (AUDIENCE_ID, "city=x", 10),
    "filter None": (AUDIENCE_ID, [None], 10),
    "filter 2-tuple": (AUDIENCE_ID, [("city", "eq")], 10),
    "attr None": (AUDIENCE_ID, [(None, "eq", "x")], 10),
    "attr empty": (AUDIENCE_ID, [("", "eq", "x")], 10),
    "attr 1MB": (AUDIENCE_ID, [("a" * MB, "eq", "x")], 10),
    "op unknown": (AUDIENCE_ID, [("city", "like", "x")], 10),
    "op empty": (AUDIENCE_ID, [("city", "", "x")], 10),
    "op None": (AUDIENCE_ID, [("city", None, "x")], 10),
    "51 filters": (AUDIENCE_ID, [("lifetime_value", "gt", i) for i in range(51)], 10),
    "complexity 101": (AUDIENCE_ID, [("city", "contains", "a")] * 20 + [("city", "eq", "b")], 10),
    # values
    "value None": (AUDIENCE_ID, [("city", "eq", None)], 10),
    "value empty": (AUDIENCE_ID, [("city", "eq", "")], 10),
    "value nan": (AUDIENCE_ID, [("lifetime_value", "gt", math.nan)], 10),
    "value inf": (AUDIENCE_ID, [("lifetime_value", "gt", math.inf)], 10),
    "value -inf": (AUDIENCE_ID, [("lifetime_value", "lt", -math.inf)], 10),
    "value 1MB": (AUDIENCE_ID, [("city", "eq", "x" * MB)], 10),
    "value control": (AUDIENCE_ID, [("city", "eq", "a\x00b")], 10),
    "value newline": (AUDIENCE_ID, [("city", "eq", "a\r\nb")], 10),
    "value surrogate": (AUDIENCE_ID, [("city", "eq", "\ud800")], 10),
    "value object": (AUDIENCE_ID, [("city", "eq", object())], 10),
    # limits
    "limit 0": (AUDIENCE_ID, OK_F, 0),
    "limit 1001": (AUDIENCE_ID, OK_F, 1001),
    "limit -1": (AUDIENCE_ID, OK_F, -1),
    "limit str": (AUDIENCE_ID, OK_F, "10"),
    "limit True": (AUDIENCE_ID, OK_F, True),
    "limit 1.5": (AUDIENCE_ID, OK_F, 1.5),
    "limit nan": (AUDIENCE_ID, OK_F, math.nan),
    "limit huge": (AUDIENCE_ID, OK_F, 2**70),
}


@pytest.mark.parametrize("entry", list(ENTRY))
@pytest.mark.parametrize("case", list(CASES))
def test_bad_query_input_is_a_validation_error_and_sends_nothing(sim, entry, case):
    aud, filters, limit = CASES[case]
    if entry in NO_LIMIT and case.startswith("limit"):
        pytest.skip("count takes no limit")
    q = querier(sim)
    sim.reset()
    with pytest.raises(errors.ValidationError):
        _run(lambda: ENTRY[entry](q, sim, aud, filters, limit))
    assert requests(sim) == 0, sim.stats()


@pytest.mark.parametrize(
    "cursor",
    ["", "a\nb", "\ud800", 42, b"abc"],
    ids=["empty", "newline", "surrogate", "int", "bytes"],
)
def test_bad_cursor(sim, cursor):
    q = querier(sim)
    sim.reset()
    with pytest.raises(errors.ValidationError):
        list(q.iter_pages(AUDIENCE_ID, cursor=cursor))
    assert requests(sim) == 0


GOOD = {"base_url": "http://127.0.0.1:9", "client_id": "id", "client_secret": "secret"}
CTOR = {
    "base_url None": {"base_url": None},
    "base_url int": {"base_url": 42},
    "base_url empty": {"base_url": ""},
    "base_url no scheme": {"base_url": "example.com"},
    "base_url ftp": {"base_url": "ftp://example.com"},
    "base_url space": {"base_url": "http://a b"},
    "base_url surrogate": {"base_url": "http://\ud800"},
    "base_url 1MB": {"base_url": "http://" + "a" * MB},
    "base_url 70k": {"base_url": "http://" + "a" * 70_000},
    "base_url no host": {"base_url": "http://:80/"},
    "token_url 1MB": {"token_url": "http://" + "a" * MB},
    "client_id None": {"client_id": None},
    "client_id empty": {"client_id": ""},
    "client_secret None": {"client_secret": None},
    "client_secret empty": {"client_secret": ""},
    "client_secret bytes": {"client_secret": b"secret"},
    "token_url int": {"token_url": 42},
    "token_url empty": {"token_url": ""},
    "scopes int": {"scopes": 42},
    "scopes list of int": {"scopes": [1]},
    "scopes empty word": {"scopes": [""]},
    "timeout str": {"timeout": "10"},
    "timeout None": {"timeout": None},
    "timeout nan": {"timeout": math.nan},
    "timeout inf": {"timeout": math.inf},
    "timeout 0": {"timeout": 0},
    "timeout -1": {"timeout": -1},
    "timeout 1e300": {"timeout": 1e300},
    "connect_timeout nan": {"connect_timeout": math.nan},
    "connect_timeout 1e300": {"connect_timeout": 1e300},
    "max_retries -1": {"max_retries": -1},
    "max_retries str": {"max_retries": "3"},
    "max_retries 1.5": {"max_retries": 1.5},
    "max_retries None": {"max_retries": None},
    "backoff_base nan": {"backoff_base": math.nan},
    "backoff_base -1": {"backoff_base": -1.0},
    "backoff_max inf": {"backoff_max": math.inf},
    "backoff_max str": {"backoff_max": "1"},
    "retry_after_cap nan": {"retry_after_cap": math.nan},
    "cache_size -1": {"cache_size": -1},
    "cache_size str": {"cache_size": "5"},
    "cache_ttl nan": {"cache_ttl": math.nan},
    "webhook_url int": {"webhook_url": 42},
    "webhook_secret int": {"webhook_secret": 42},
    "audit_path int": {"audit_path": 42},
}


@pytest.mark.parametrize("case", list(CTOR))
def test_bad_constructor_input_is_a_validation_error(case):
    kw = {**GOOD, **CTOR[case]}
    args = [kw.pop("base_url"), kw.pop("client_id"), kw.pop("client_secret")]
    with pytest.raises(errors.ValidationError):
        Querier(*args, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"org_name": None},
        {"org_name": "a/b"},
        {"org_name": ""},
        {"client_id": None},
        {"client_secret": ""},
        {"base_url": "nope"},
    ],
    ids=lambda kw: next(iter(kw.items())).__repr__(),
)
def test_bad_compat_constructor(kw):
    args = {"org_name": "org", "client_id": "id", "client_secret": "s", "webhook_url": None, **kw}
    with pytest.raises(errors.ValidationError):
        CXoneAudienceQuerier(
            args.pop("org_name"),
            args.pop("client_id"),
            args.pop("client_secret"),
            args.pop("webhook_url"),
            **args,
        )


@pytest.mark.parametrize(
    "payload",
    [
        None,
        42,
        "x",
        {},
        {"audience_id": AUDIENCE_ID, "filters": "city=x"},
        {"audience_id": AUDIENCE_ID, "offset": -1},
        {"audience_id": AUDIENCE_ID, "offset": "1"},
        {"audience_id": AUDIENCE_ID, "filters": [{"attribute_name": "city"}]},
    ],
    ids=["None", "int", "str", "empty", "filters str", "offset -1", "offset str", "filter keys"],
)
def test_bad_compat_payload(sim, payload):
    c = _compat_querier(sim)
    sim.reset()
    with pytest.raises(errors.ValidationError):
        asyncio.run(c.validate_and_query(payload, "q"))
    assert requests(sim) == 0


@pytest.mark.parametrize(
    "args",
    [
        (None, "http://127.0.0.1/cb", ["e"]),
        ("", "http://127.0.0.1/cb", ["e"]),
        ("n", None, ["e"]),
        ("n", "not a url", ["e"]),
        ("n", "http://127.0.0.1/cb", None),
        ("n", "http://127.0.0.1/cb", [1]),
        ("n", "http://127.0.0.1/cb", "e"),
        ("n" * MB, "http://127.0.0.1/cb", ["e"]),
        ("n\x00", "http://127.0.0.1/cb", ["e"]),
    ],
    ids=[
        "name None",
        "name empty",
        "url None",
        "url bad",
        "events None",
        "events int",
        "events str",
        "name 1MB",
        "name control",
    ],
)
@pytest.mark.parametrize("is_async", [False, True])
def test_bad_webhook_input(sim, args, is_async):
    q = querier(sim)
    sim.reset()
    with pytest.raises(errors.ValidationError):
        if is_async:
            _run(lambda: q.register_webhook_async(*args))
        else:
            q.register_webhook(*args)
    assert requests(sim) == 0


@pytest.mark.parametrize("option", ["latency", "token_delay", "revoke_after", "token_lifetime"])
@pytest.mark.parametrize("seconds", [1e300, math.inf, math.nan, -1.0])
def test_simulator_refuses_hostile_durations(option, seconds):
    # 1e300 panicked in Duration::from_secs_f64 (src/py/simulator.rs `seconds`).
    with pytest.raises(ValueError):
        Simulator(members=1, **{option: seconds}).start()
