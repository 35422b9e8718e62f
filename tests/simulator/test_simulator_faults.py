"""Every fault switch observably works (over plain HTTP)."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from conftest import SimHttp, assert_error, enc
from cxone_cdp.testing import AUDIENCE_ID, Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(members=500) as s:
        yield s


@pytest.fixture
def h(sim: Simulator) -> SimHttp:
    return SimHttp(sim)


def test_rate_limit_every_n_with_retry_after(sim: Simulator, h: SimHttp) -> None:
    tok = h.token()
    sim.set_faults(rate_limit_every=3, retry_after_secs=7)
    sim.reset()
    statuses = [h.count(), h.count(), h.count(), h.count()]
    assert [r.status for r in statuses] == [200, 200, 429, 200]
    assert statuses[2].headers["retry-after"] == "7"
    assert_error(statuses[2], 429, "rate_limited")
    # The token endpoint is not counted.
    assert tok and sim.stats()["by_status"] == {"200": 3, "429": 1}


def test_unavailable_every_n(sim: Simulator, h: SimHttp) -> None:
    h.token()
    sim.set_faults(unavailable_every=2)
    sim.reset()
    codes = [h.get("/api/v2/cdp/attributes").status for _ in range(4)]
    assert codes == [200, 503, 200, 503]


def test_html_502(sim: Simulator, h: SimHttp) -> None:
    h.token()
    sim.set_faults(html_502_every=1)
    r = h.count()
    assert r.status == 502
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.body)


def test_drop_every_n_is_a_connection_error(sim: Simulator, h: SimHttp) -> None:
    h.token()
    sim.set_faults(drop_every=2)
    sim.reset()
    assert h.count().status == 200
    with pytest.raises(OSError):  # urllib: RemoteDisconnected / URLError
        h.count()
    assert h.count().status == 200
    headers = {"Authorization": f"Bearer {h.token()}"}
    url = f"{sim.base_url}/api/v2/audiences/{AUDIENCE_ID}/members/count"
    with pytest.raises(httpx.TransportError):
        httpx.get(url, headers=headers)
    assert h.count().status == 200
    # A raw socket sees the connection closed with no bytes at all.
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as s:
        path = f"/api/v2/audiences/{AUDIENCE_ID}/members/count"
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {h.token()}\r\n\r\n".encode()
        )
        assert s.recv(1024) == b""
    assert sim.stats()["dropped_connections"] == 3


def test_truncated_body(sim: Simulator, h: SimHttp) -> None:
    h.token()
    sim.set_faults(truncated_every=2)
    sim.reset()
    first = h.page("limit=20")
    second = h.page("limit=20")
    assert first.status == second.status == 200
    json.loads(first.body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(second.body)
    assert len(second.body) < len(first.body)


def test_empty_pages_carry_new_cursors(sim: Simulator, h: SimHttp) -> None:
    sim.set_faults(empty_page_every=3)
    pages = list(h.pages("limit=50"))
    sizes = [len(p["items"]) for p in pages]
    assert 0 in sizes[:-1], sizes
    assert all(p["nextPageToken"] for p in pages if not p["items"])
    items = [m for p in pages for m in p["items"]]
    assert items == sim.expected_members()


def test_short_pages_cover_everything(sim: Simulator, h: SimHttp) -> None:
    sim.set_faults(short_pages=True)
    pages = list(h.pages("limit=50"))
    sizes = [len(p["items"]) for p in pages]
    assert all(0 < s < 50 for s in sizes[:-1]), sizes
    assert len(set(sizes)) > 1, "varying"
    items = [m for p in pages for m in p["items"]]
    assert items == sim.expected_members()


def test_repeated_cursor(sim: Simulator, h: SimHttp) -> None:
    sim.set_faults(repeat_cursor_after=2)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        q = "limit=10" + (f"&cursor={enc(cursor)}" if cursor else "")
        cursor = h.page(q).json()["nextPageToken"]
        assert cursor
        if cursor in seen:
            break
        seen.append(cursor)
    else:
        pytest.fail("no cursor repeated")
    assert len(seen) <= 3


def test_token_revocation_gives_401(sim: Simulator, h: SimHttp) -> None:
    sim.set_faults(revoke_after=0.3)
    tok = h.token()
    assert h.get("/api/v2/cdp/attributes", token=tok).status == 200
    time.sleep(0.5)
    assert_error(h.get("/api/v2/cdp/attributes", token=tok), 401, "unauthorized")
    fresh = h.token_reply().json()["access_token"]
    assert h.get("/api/v2/cdp/attributes", token=fresh).status == 200


def test_token_lifetime() -> None:
    with Simulator(members=10, token_lifetime=1) as sim:
        s = SimHttp(sim)
        doc = s.token_reply().json()
        assert doc["expires_in"] == 1
        assert s.get("/api/v2/cdp/attributes", token=doc["access_token"]).status == 200
        time.sleep(1.1)
        assert s.get("/api/v2/cdp/attributes", token=doc["access_token"]).status == 401


def test_slow_token_endpoint_and_latency(sim: Simulator, h: SimHttp) -> None:
    sim.set_faults(token_delay=0.3, latency=0.2)
    t0 = time.perf_counter()
    tok = h.token_reply().json()["access_token"]
    t1 = time.perf_counter()
    assert h.get("/api/v2/cdp/attributes", token=tok).status == 200
    t2 = time.perf_counter()
    # Lower bounds on injected delays (not speed assertions).
    assert t1 - t0 >= 0.29
    assert t2 - t1 >= 0.19
    sim.clear_faults()
    assert h.get("/api/v2/cdp/attributes", token=tok).status == 200


def test_restart_keeps_cursors_valid(sim: Simulator, h: SimHttp) -> None:
    q = "filter=" + enc("is_vip=false") + "&limit=25"
    doc = h.page(q).json()
    c = doc["nextPageToken"]
    before = h.page(f"{q}&cursor={enc(c)}").body
    with httpx.Client() as client:
        headers = {"Authorization": f"Bearer {h.token()}"}
        url = f"{sim.base_url}/api/v2/cdp/attributes"
        assert client.get(url, headers=headers).status_code == 200
        sim.restart()
        # The kept-alive connection was closed by the restart; httpx reconnects.
        assert client.get(url, headers=headers).status_code == 200
    assert h.page(f"{q}&cursor={enc(c)}").body == before
    assert sim.base_url.endswith(f":{sim.port}")


def test_faults_given_to_the_constructor() -> None:
    with Simulator(members=50, unavailable_every=1) as sim:
        assert SimHttp(sim).count().status == 503


def test_unknown_fault_name_is_refused() -> None:
    with pytest.raises(TypeError):
        Simulator(no_such_fault=1)
    with Simulator(members=5) as sim, pytest.raises(TypeError):
        sim.set_faults(no_such_fault=1)


def test_quoting_helper_is_form_encoding() -> None:
    assert enc("city=Rock & Roll") == "city%3DRock%20%26%20Roll"
    assert urllib.parse.unquote(enc("x#y")) == "x#y"
