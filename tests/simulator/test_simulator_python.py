"""The Python face of the simulator: the wrapper, the pytest fixture, the CLI."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RemoteSim, SimHttp, cli_simulator, enc
from cxone_cdp import _native
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, Simulator


def test_fixture_is_a_running_default_simulator(cdp_simulator: Simulator) -> None:
    assert cdp_simulator.base_url.startswith("http://127.0.0.1:")
    assert cdp_simulator.token_url == cdp_simulator.base_url + "/oauth/token"
    assert cdp_simulator.callback_url == cdp_simulator.base_url + "/_sim/callbacks"
    assert (cdp_simulator.client_id, cdp_simulator.client_secret) == ("sim-client", "sim-secret")
    assert SimHttp(cdp_simulator).count().json() == {"count": 10_000}


def test_context_manager_stops_the_server() -> None:
    with Simulator(members=10) as sim:
        port = sim.port
        assert SimHttp(sim).count().status == 200
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    # Nobody listens there any more.
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_fixed_port_and_custom_credentials() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Simulator(members=10, port=port, client_id="me", client_secret="s3cret") as sim:
        assert sim.port == port
        h = SimHttp(sim)
        assert h.token_reply().status == 200
        assert h.token_reply(client_id="sim-client", client_secret="sim-secret").status == 401
        assert "s3cret" not in repr(sim)


def test_expected_members_accepts_tuples_and_wire_strings() -> None:
    with Simulator(members=300) as sim:
        a = sim.expected_members(
            AUDIENCE_ID, [("lifetime_value", "gt", 250.0), ("is_vip", "eq", False)]
        )
        b = sim.expected_members(filters=["lifetime_value>250", "is_vip=false"])
        assert a == b and 0 < len(a) < 300
        c = sim.expected_members(filters=[("last_purchase_date", ">", dt.date(2023, 1, 1))])
        assert all(m["attributes"]["last_purchase_date"] > "2023-01-01" for m in c)
        assert sim.expected_members(EMPTY_AUDIENCE_ID) == []
        with pytest.raises(ValueError):
            sim.expected_members("nope")
        with pytest.raises(ValueError):
            sim.expected_members(filters=["lifetime_value=abc"])


def test_reset_zeroes_counters() -> None:
    with Simulator(members=10) as sim:
        h = SimHttp(sim)
        h.count()
        s = sim.stats()
        assert s["token_requests"] == 1 and s["api_requests"] == 1
        sim.reset()
        s = sim.stats()
        assert s["token_requests"] == 0 and s["api_requests"] == 0 and s["by_status"] == {}


def test_native_module_exports() -> None:
    assert _native.AUDIENCE_ID == AUDIENCE_ID
    sim = _native.Simulator(members=3)
    try:
        assert sim.members == 3 and "members=3" in repr(sim)
    finally:
        sim.shutdown()


def test_a_million_members() -> None:
    with Simulator(members=1_000_000) as sim:
        h = SimHttp(sim)
        assert h.count().json() == {"count": 1_000_000}
        doc = h.page("limit=1000").json()
        assert len(doc["items"]) == 1000 and doc["nextPageToken"]
        nxt = h.page("limit=1000&cursor=" + enc(doc["nextPageToken"])).json()
        assert nxt["items"][0]["memberId"] != doc["items"][0]["memberId"]
        n = h.count("filter=" + enc("city=Rock & Roll")).json()["count"]
        assert 30_000 < n < 100_000


def _python() -> str:
    return sys.executable


def test_cli_simulate_runs_until_ctrl_c() -> None:
    faults = ("--rate-limit-every", "2", "--short-pages")
    with cli_simulator("--members", "100", *faults) as (_, first):
        assert "serving 100 members at http://127.0.0.1:" in first
        url = first.rsplit(" ", 1)[1].strip()
        port = int(url.rsplit(":", 1)[1])
        h = SimHttp(RemoteSim(url))  # type: ignore[arg-type]
        assert [h.count().status for _ in range(2)] == [200, 429]
        assert port > 0


def test_cli_demo_prints_count_and_members() -> None:
    out = subprocess.run(
        [_python(), "-m", "cxone_cdp", "demo", "--members", "1000", "--filter", "city=Rock & Roll"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert AUDIENCE_ID in out
    assert out.count("Rock & Roll") >= 5
    assert "token request" in out


def test_bare_walk_bench_script_runs() -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "bare_walk.py"
    t0 = time.perf_counter()
    out = subprocess.run(
        [_python(), str(script), "--members", "5000", "--limit", "1000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "5,000 members" in out and time.perf_counter() - t0 >= 0


def test_factory_fixture(cdp_simulator_factory) -> None:  # type: ignore[no-untyped-def]
    a = cdp_simulator_factory(members=7)
    b = cdp_simulator_factory(members=9, unavailable_every=1)
    assert SimHttp(a).count().json() == {"count": 7}
    assert SimHttp(b).count().status == 503
