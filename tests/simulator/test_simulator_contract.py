"""The simulator against the wire contract, over plain HTTP (urllib)."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from conftest import ALL_SCOPES, Reply, SimHttp, assert_error, enc
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID

# ---------------------------------------------------------------- token


def test_token_grants_requested_scopes(http: SimHttp) -> None:
    r = http.token_reply(scope="cdp:read audiences:read")
    assert r.status == 200
    doc = r.json()
    assert doc["token_type"] == "Bearer"
    assert isinstance(doc["access_token"], str) and doc["access_token"]
    assert doc["expires_in"] == 3600
    assert set(doc["scope"].split()) == {"cdp:read", "audiences:read"}
    default = http.token_reply().json()
    assert set(default["scope"].split()) == set(ALL_SCOPES.split())


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "audiences:read admin:all"}, 400, "invalid_scope"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
    ],
)
def test_token_errors(http: SimHttp, form: dict[str, str], status: int, error: str) -> None:
    r = http.token_reply(**form)
    assert r.status == status
    assert r.json()["error"] == error
    assert b"sim-secret" not in r.body


def test_token_missing_fields_and_wrong_body(http: SimHttp) -> None:
    r = http.request(
        "POST",
        "/oauth/token",
        body=b"client_id=sim-client&client_secret=sim-secret",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (r.status, r.json()["error"]) == (400, "invalid_request")
    r = http.request(
        "POST",
        "/oauth/token",
        body=json.dumps({"grant_type": "client_credentials"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert (r.status, r.json()["error"]) == (400, "invalid_request")


def test_token_http_basic_credentials(http: SimHttp) -> None:
    import base64

    basic = base64.b64encode(b"sim-client:sim-secret").decode()
    r = http.request(
        "POST",
        "/oauth/token",
        body=b"grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
        },
    )
    assert r.status == 200


# ---------------------------------------------------------------- auth and scopes


def test_missing_and_bad_tokens_are_401(http: SimHttp) -> None:
    for path in ["/api/v2/cdp/attributes", http.members_path(), http.members_path() + "/count"]:
        assert_error(http.request("GET", path), 401, "unauthorized")
        assert_error(http.request("GET", path, token="not-a-token"), 401, "unauthorized")
    assert_error(http.request("POST", "/api/v2/webhooks", body=b"{}"), 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v2/cdp/attributes", "cdp:read"),
        ("GET", f"/api/v2/audiences/{AUDIENCE_ID}/members", "audiences:read"),
        ("GET", f"/api/v2/audiences/{AUDIENCE_ID}/members/count", "audiences:read"),
        ("POST", "/api/v2/webhooks", "webhooks:write"),
    ],
)
def test_scopes_are_enforced(http: SimHttp, method: str, path: str, scope: str) -> None:
    others = " ".join(s for s in ALL_SCOPES.split() if s != scope)
    body = b'{"name":"n","url":"http://x.invalid/","events":["e"],"enabled":true}'
    data = body if method == "POST" else None
    hdrs = {"Content-Type": "application/json"}
    doc = assert_error(
        http.request(method, path, token=http.token(others), body=data, headers=hdrs),
        403,
        "forbidden",
    )
    assert scope in doc["message"]
    ok = http.request(method, path, token=http.token(scope), body=data, headers=hdrs)
    assert ok.status in (200, 201)


# ---------------------------------------------------------------- attributes, count, 404


def test_attributes(http: SimHttp) -> None:
    r = http.get("/api/v2/cdp/attributes")
    assert r.status == 200
    items = {a["name"]: a["type"] for a in r.json()["items"]}
    assert items == {
        "lifecycle_stage": "string",
        "last_purchase_date": "date",
        "city": "string",
        "lifetime_value": "number",
        "is_vip": "boolean",
    }


def test_count_and_empty_audience(http: SimHttp) -> None:
    assert http.count().json() == {"count": 2_000}
    assert http.count(audience=EMPTY_AUDIENCE_ID).json() == {"count": 0}
    page = http.page(audience=EMPTY_AUDIENCE_ID).json()
    assert page == {"items": [], "nextPageToken": None}
    vip = http.count("filter=" + enc("is_vip=true")).json()["count"]
    assert vip == len(http.sim.expected_members(filters=["is_vip=true"]))
    assert 0 < vip < 2_000
    none = http.count("filter=" + enc("city=Atlantis")).json()
    assert none == {"count": 0}


def test_unknown_audience_and_path_are_404(http: SimHttp) -> None:
    assert_error(http.count(audience="nope"), 404, "not_found")
    assert_error(http.page(audience="11111111-1111-1111-1111-111111111111"), 404, "not_found")
    assert_error(http.get("/api/v2/elsewhere"), 404, "not_found")


# ---------------------------------------------------------------- members and cursors


def test_full_walk_matches_expected_members(http: SimHttp) -> None:
    items = http.walk("limit=300")
    assert len(items) == 2_000
    assert items == http.sim.expected_members()
    assert len({m["memberId"] for m in items}) == 2_000
    m = items[0]
    assert set(m) >= {"memberId", "joinedAt", "attributes"}
    a = m["attributes"]
    assert isinstance(a["lifetime_value"], (int, float)) and isinstance(a["is_vip"], bool)
    values = [x["attributes"]["lifetime_value"] for x in items]
    assert any(isinstance(v, int) for v in values) and any(isinstance(v, float) for v in values)


def test_default_limit_is_100(http: SimHttp) -> None:
    doc = http.page().json()
    assert len(doc["items"]) == 100 and doc["nextPageToken"]


def test_filtered_walk(http: SimHttp) -> None:
    filters = ["lifetime_value>1000", "lifecycle_stage!=churned"]
    q = "&".join("filter=" + enc(f) for f in filters) + "&limit=50"
    items = http.walk(q)
    assert items == http.sim.expected_members(filters=filters)
    assert all(m["attributes"]["lifetime_value"] > 1000 for m in items)
    assert all(m["attributes"]["lifecycle_stage"] != "churned" for m in items)


def test_same_cursor_gives_same_page(http: SimHttp) -> None:
    first = http.page("limit=10").json()
    c = enc(first["nextPageToken"])
    a = http.page(f"limit=10&cursor={c}")
    b = http.page(f"limit=10&cursor={c}")
    assert a.status == 200 and a.body == b.body


def test_cursor_reuse_with_another_query_is_invalid_cursor(http: SimHttp) -> None:
    q = "filter=" + enc("is_vip=false") + "&limit=10"
    c = enc(http.page(q).json()["nextPageToken"])
    assert http.page(f"{q}&cursor={c}").status == 200
    # Filters in another order are the same query.
    q2 = "limit=10&filter=" + enc("is_vip=false")
    assert http.page(f"{q2}&cursor={c}").status == 200
    for other in [
        "filter=" + enc("is_vip=true") + "&limit=10",
        "filter=" + enc("is_vip=false") + "&limit=11",
        "limit=10",
    ]:
        assert_error(http.page(f"{other}&cursor={c}"), 400, "invalid_cursor")
    assert_error(http.page(f"{q}&cursor={c}", audience=EMPTY_AUDIENCE_ID), 400, "invalid_cursor")
    assert_error(http.page("cursor=garbage"), 400, "invalid_cursor")
    tampered = urllib.parse.unquote(c)
    tampered = tampered[:-3] + ("A" if tampered[-3] != "A" else "B") + tampered[-2:]
    assert_error(http.page(f"{q}&cursor={enc(tampered)}"), 400, "invalid_cursor")


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=5&limit=6", "page=2", "offset=10"],
)
def test_invalid_request(http: SimHttp, query: str) -> None:
    assert_error(http.page(query), 400, "invalid_request")


def test_count_takes_only_filters(http: SimHttp) -> None:
    assert_error(http.count("limit=10"), 400, "invalid_request")


@pytest.mark.parametrize(
    "flt",
    [
        "city",
        "nope=1",
        "lifetime_value=abc",
        "lifetime_value~1",
        "is_vip=yes",
        "is_vip>true",
        "last_purchase_date=2024-13-01",
        "last_purchase_date~2024",
        "city!x",
        # The attribute is the text before the symbol, exactly (no trimming).
        " city=Paris",
        "city =Paris",
        # Decimal literals only: no '+', no exponent, nothing beyond the f64 range.
        "lifetime_value=+5",
        "lifetime_value>1e3",
        "lifetime_value>1" + "0" * 400,
    ],
)
def test_invalid_filter(http: SimHttp, flt: str) -> None:
    assert_error(http.count("filter=" + enc(flt)), 400, "invalid_filter")
    assert_error(http.page("filter=" + enc(flt)), 400, "invalid_filter")


def test_query_too_complex(http: SimHttp) -> None:
    ok = "&".join(["filter=" + enc("city~a")] * 20)
    assert http.count(ok).status == 200
    assert_error(http.count(ok + "&filter=" + enc("city=a")), 400, "query_too_complex")
    many = "&".join(["filter=" + enc("city=a")] * 51)
    assert_error(http.page(many), 400, "query_too_complex")


def test_type_semantics_over_http(http: SimHttp) -> None:
    # Numeric, not textual: "12.5" > "100" as text, but 12.5 < 100.
    n = http.count("filter=" + enc("lifetime_value<100")).json()["count"]
    assert n == len(http.sim.expected_members(filters=[("lifetime_value", "lt", 100)]))
    by_value = [m for m in http.sim.expected_members() if m["attributes"]["lifetime_value"] < 100]
    assert n == len(by_value)
    d = http.count("filter=" + enc("last_purchase_date>2023-06-30")).json()["count"]
    by_date = [
        m
        for m in http.sim.expected_members()
        if m["attributes"]["last_purchase_date"] > "2023-06-30"
    ]
    assert d == len(by_date) > 0


# ---------------------------------------------------------------- webhooks and callbacks

GOOD_HOOK = {
    "name": "done",
    "url": "https://hooks.example.invalid/x",
    "events": ["query.completed"],
    "enabled": True,
}


def _post_hook(http: SimHttp, body: bytes) -> Reply:
    return http.request(
        "POST",
        "/api/v2/webhooks",
        token=http.token(),
        body=body,
        headers={"Content-Type": "application/json"},
    )


def test_webhook_registration(http: SimHttp) -> None:
    r = _post_hook(http, json.dumps(GOOD_HOOK).encode())
    assert r.status == 201
    doc = r.json()
    assert {k: doc[k] for k in GOOD_HOOK} == GOOD_HOOK and doc["id"]
    assert doc in http.sim.webhooks()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({**GOOD_HOOK, "name": ""}).encode(),
        json.dumps({**GOOD_HOOK, "url": "ftp://x"}).encode(),
        json.dumps({**GOOD_HOOK, "events": "query.completed"}).encode(),
        json.dumps({**GOOD_HOOK, "enabled": "yes"}).encode(),
        json.dumps({k: v for k, v in GOOD_HOOK.items() if k != "url"}).encode(),
    ],
)
def test_webhook_invalid_body(http: SimHttp, body: bytes) -> None:
    assert_error(_post_hook(http, body), 400, "invalid_body")


def test_callback_receiver_stores_headers_and_raw_body(http: SimHttp) -> None:
    before = len(http.sim.callbacks())
    raw = b'{"queryId":"q1","status":"completed"}'
    r = http.request(
        "POST",
        "/_sim/callbacks",
        body=raw,
        headers={"Content-Type": "application/json", "X-Signature-256": "sha256=abc"},
    )
    assert r.status == 200
    cbs = http.sim.callbacks()
    assert len(cbs) == before + 1
    assert cbs[-1]["body"] == raw
    assert cbs[-1]["headers"]["x-signature-256"] == "sha256=abc"


def test_stats_count_requests(http: SimHttp) -> None:
    http.token()
    http.sim.reset()
    http.token_reply()
    http.count()
    http.page("limit=0")
    s = http.sim.stats()
    assert s["token_requests"] == 1 and s["token_by_status"] == {"200": 1}
    assert s["by_endpoint"]["count"] == 1 and s["by_endpoint"]["members"] == 1
    assert s["by_status"]["200"] == 1 and s["by_status"]["400"] == 1
    assert s["api_requests"] == 2


def test_sim_stats_endpoint(http: SimHttp) -> None:
    http.count()
    r = http.request("GET", "/_sim/stats")
    assert r.status == 200
    doc = r.json()
    assert doc["api_requests"] >= 1 and "by_status" in doc and "token_requests" in doc


def test_pages_are_served_from_memory_the_second_time(http: SimHttp) -> None:
    q = "filter=" + enc("lifecycle_stage=lead") + "&limit=20"
    first = http.walk(q)
    time.sleep(0.2)  # let a last prefetch finish
    before = http.sim.stats()
    second = http.walk(q)
    after = http.sim.stats()
    assert first == second
    assert after["pages_rendered"] == before["pages_rendered"]
    pages = after["by_endpoint"]["members"] - before["by_endpoint"]["members"]
    assert after["page_cache_hits"] - before["page_cache_hits"] == pages > 1
