"""The simulator over HTTPS (``Simulator(tls=True)``): URLs, the CA file's
life, a listing from a client that trusts the CA, the refusal of one that
does not (counted once: the client does not retry), faults over TLS, the
fixture and the CLI."""

from __future__ import annotations

import http.client
import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import RemoteSim, SimHttp, cli_simulator, enc
from cxone_cdp import _native
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def _stats_when(sim: Simulator, done: Any, within: float = 10.0) -> dict[str, Any]:
    """The counters once ``done(stats)`` holds: the server counts a refused
    handshake when the client's alert arrives, a moment after the client
    has given up."""
    deadline = time.monotonic() + within
    while True:
        s = sim.stats()
        if done(s):
            return s
        assert time.monotonic() < deadline, f"counters never settled: {s}"
        time.sleep(0.005)


def test_https_urls_and_repr() -> None:
    with Simulator(members=20, tls=True) as sim:
        base = f"https://127.0.0.1:{sim.port}"
        assert sim.tls is True
        assert sim.base_url == base and sim.issuer == base
        assert sim.token_url == base + "/oauth/token"
        assert sim.auth_token_url == base + "/auth/token"
        assert sim.callback_url == base + "/_sim/callbacks"
        assert repr(sim) == f"<cxone_cdp.testing.Simulator {base} members=20>"
        assert sim.client_secret not in repr(sim)
    with Simulator(members=1) as plain:
        assert plain.tls is False and plain.ca_path is None
        assert plain.base_url.startswith("http://127.0.0.1:")


def test_the_ca_file_exists_while_running_and_is_removed_on_stop() -> None:
    sim = Simulator(members=5, tls=True)
    with sim:
        path = Path(sim.ca_path or "")
        assert path.is_file()
        pem = path.read_text()
        assert pem.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" not in pem
        # It is a CA certificate Python's ssl loads.
        ssl.create_default_context(cafile=str(path))
    assert not path.exists()
    with pytest.raises(RuntimeError):
        _ = sim.ca_path
    assert "stopped" in repr(sim)
    # Starting again makes a new CA in a new file.
    with sim:
        again = Path(sim.ca_path or "")
        assert again.is_file() and again != path
        assert again.read_text() != pem
    assert not again.exists()


def test_native_simulator_removes_its_ca_on_shutdown() -> None:
    sim = _native.Simulator(members=3, tls=True)
    path = sim.ca_path
    assert path is not None and os.path.isfile(path)
    assert "https://127.0.0.1:" in repr(sim)
    sim.shutdown()
    assert not os.path.exists(path)
    sim.shutdown()  # idempotent


def test_a_listing_over_https_with_the_ca() -> None:
    with Simulator(members=500, tls=True, short_pages=True, empty_page_every=3) as sim:
        h = SimHttp(sim)
        flt = "filter=" + enc("city=Rock & Roll")
        want = sim.expected_members(AUDIENCE_ID, ["city=Rock & Roll"])
        assert h.count(flt).json() == {"count": len(want)} and len(want) > 20
        assert h.walk(flt + "&limit=10") == want
        s = sim.stats()
        assert s["tls_handshakes"] >= 1 and s["connections"] >= s["tls_handshakes"]
        assert s["tls_handshake_failures"] == 0
        assert s["token_requests"] == 1 and s["by_status"].get("200", 0) >= 2


def test_a_client_without_the_ca_is_refused_once() -> None:
    with Simulator(members=5, tls=True) as sim:
        req = urllib.request.Request(sim.token_url, data=b"grant_type=client_credentials")
        with pytest.raises(urllib.error.URLError) as e:
            urllib.request.urlopen(req, timeout=30, context=ssl.create_default_context())
        assert isinstance(e.value.reason, ssl.SSLCertVerificationError), e.value
        s = _stats_when(sim, lambda s: s["tls_handshake_failures"] > 0)
        assert (s["connections"], s["tls_handshakes"], s["tls_handshake_failures"]) == (1, 0, 1)
        assert (s["token_requests"], s["api_requests"]) == (0, 0)


def test_plain_http_on_the_https_port_fails_the_handshake() -> None:
    with Simulator(members=5, tls=True) as sim:
        url = f"http://127.0.0.1:{sim.port}/oauth/token"
        # The server answers the plain request with a TLS alert (or closes).
        with pytest.raises((http.client.HTTPException, OSError)):
            urllib.request.urlopen(url, data=b"x", timeout=30)
        s = _stats_when(sim, lambda s: s["tls_handshake_failures"] == 1)
        assert s["tls_handshakes"] == 0 and s["token_requests"] == 0


def test_faults_over_https() -> None:
    with Simulator(members=50, tls=True) as sim:
        h = SimHttp(sim)
        h.token()
        sim.set_faults(drop_every=1)
        with pytest.raises((http.client.HTTPException, OSError)):
            h.count()
        assert sim.stats()["dropped_connections"] == 1
        sim.set_faults(drop_every=None, truncated_every=1)
        r = h.page("limit=5")
        assert r.status == 200 and r.body and not r.body.endswith(b"}")
        sim.clear_faults()
        sim.set_faults(rate_limit_every=1, retry_after_secs=3)
        r = h.count()
        assert (r.status, r.headers["retry-after"]) == (429, "3")
        sim.clear_faults()
        assert sim.base_url.startswith("https://"), "clear_faults keeps HTTPS"
        assert h.count().json() == {"count": 50}
        assert sim.stats()["tls_handshake_failures"] == 0


def test_restart_serves_https_again() -> None:
    with Simulator(members=30, tls=True) as sim:
        h = SimHttp(sim)
        first = h.page("limit=10").json()
        path = sim.ca_path
        sim.restart()
        assert sim.ca_path == path and Path(path or "").is_file()
        nxt = h.page("limit=10&cursor=" + enc(first["nextPageToken"]))
        assert nxt.status == 200 and len(nxt.json()["items"]) == 10


def test_factory_fixture_makes_https_simulators(cdp_simulator_factory) -> None:  # type: ignore[no-untyped-def]
    sim = cdp_simulator_factory(members=4, tls=True)
    assert sim.base_url.startswith("https://") and os.path.isfile(sim.ca_path)
    assert SimHttp(sim).count().json() == {"count": 4}


def test_cli_simulate_tls_prints_the_ca_and_removes_it() -> None:
    with cli_simulator("--members", "7", "--tls") as (p, first):
        assert p.stdout is not None
        assert "serving 7 members at https://127.0.0.1:" in first, first
        url = first.rsplit(" ", 1)[1].strip()
        ca = ""
        while not ca:
            line = p.stdout.readline()
            assert line, "no CA line"
            if line.strip().startswith("CA (PEM)"):
                ca = line.split(None, 2)[2].strip()
        assert os.path.isfile(ca)
        assert SimHttp(RemoteSim(url, ca)).count().json() == {"count": 7}  # type: ignore[arg-type]
    assert not os.path.exists(ca)
