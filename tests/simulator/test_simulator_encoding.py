"""The awkward city values: they round-trip when the client percent-encodes
the filter as the contract says, and go wrong the way the contract implies
when it does not."""

from __future__ import annotations

import urllib.parse

import pytest
from conftest import SimHttp, assert_error, enc

AWKWARD = ["São Paulo", "Rock & Roll", "a+b=c", "100%", "x#y"]


def _expected(http: SimHttp, city: str) -> int:
    return len(http.sim.expected_members(filters=[("city", "eq", city)]))


@pytest.mark.parametrize("city", AWKWARD)
def test_encoded_values_round_trip(http: SimHttp, city: str) -> None:
    want = _expected(http, city)
    assert want > 0
    q = "filter=" + enc(f"city={city}")
    assert http.count(q).json() == {"count": want}
    items = http.walk(q + "&limit=37")
    assert len(items) == want
    assert {m["attributes"]["city"] for m in items} == {city}
    # '+' for spaces (form encoding) is accepted too.
    plus = "filter=" + urllib.parse.quote_plus(f"city={city}")
    assert http.count(plus).json() == {"count": want}


def test_contract_example_on_the_wire(http: SimHttp) -> None:
    r = http.count("filter=city%3DRock%20%26%20Roll")
    assert r.json()["count"] == _expected(http, "Rock & Roll") > 0


def test_unencoded_ampersand_splits_the_parameter(http: SimHttp) -> None:
    # The client encoded spaces but not '&': the server sees `filter=city=Rock `
    # and a stray parameter ` Roll`.
    r = http.page("filter=city=Rock%20&%20Roll")
    assert_error(r, 400, "invalid_request")
    assert "Roll" in r.json()["message"]
    # Only the first half, on its own: nobody lives in "Rock ".
    assert http.count("filter=city=Rock%20").json() == {"count": 0}


def test_unencoded_plus_becomes_a_space(http: SimHttp) -> None:
    want = _expected(http, "a+b=c")
    assert want > 0
    # `a+b=c` sent raw decodes to "a b=c": a different (empty) result.
    assert http.count("filter=city=a+b=c").json() == {"count": 0}


def test_unencoded_percent_is_refused(http: SimHttp) -> None:
    assert_error(http.count("filter=city=100%"), 400, "invalid_request")
    # Double encoding is just as wrong: the server sees the literal "100%25".
    assert http.count("filter=" + enc(enc("city=100%"))).status in (200, 400)
    assert http.count("filter=city%3D100%2525").json() == {"count": 0}


def test_unencoded_hash_cuts_the_query(http: SimHttp) -> None:
    want = _expected(http, "x#y")
    assert want > 0
    # '#' starts the URL fragment: the HTTP client never sends "y".
    r = http.count("filter=city=x#y")
    assert r.json() == {"count": 0}


def test_non_utf8_encoding_is_refused(http: SimHttp) -> None:
    latin1 = urllib.parse.quote("city=São Paulo", encoding="latin-1")
    assert_error(http.count("filter=" + latin1), 400, "invalid_request")
    utf8 = urllib.parse.quote("city=São Paulo")
    assert http.count("filter=" + utf8).json()["count"] == _expected(http, "São Paulo")
