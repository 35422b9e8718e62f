"""Through a real HTTP proxy (tinyproxy on 127.0.0.1, see ``tests/_proxy.py``):
every call of a Querier with ``proxy=`` goes through it (discovery, token,
API, completion callbacks; plain HTTP forwarded, HTTPS tunnelled with
CONNECT), proven from the proxy's own log; proxy credentials work and are
never shown; a dead proxy is a typed error naming it; without ``proxy=`` the
standard HTTP_PROXY / HTTPS_PROXY / NO_PROXY variables apply, and with it they
do not. Nothing here reaches past 127.0.0.1."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import pytest
from _cli_support import cli_env, run_cli, sim_env
from _proxy import Tinyproxy, closed_port
from _querier_support import querier
from cxone_cdp import Querier, errors
from cxone_cdp._spark_options import _Settings
from cxone_cdp.testing import AUDIENCE_ID, Simulator

FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "max_retries": 2}
PROXY_USER, PROXY_PASSWORD = "etl-bot", "pr0xy-Pa55-do-not-leak"
ENV_PROXIES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _no_env_proxies(monkeypatch):
    """The tests set the proxy variables they mean, nothing else."""
    for k in (*ENV_PROXIES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def proxy(tmp_path):
    with Tinyproxy(tmp_path) as p:
        yield p


@pytest.fixture
def sim():
    with Simulator(members=400) as s:
        yield s


def test_every_call_goes_through_an_explicit_proxy(sim, proxy, tmp_path):
    q = Querier.discover(
        sim.issuer,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        proxy=proxy.url,
        webhook_url=sim.callback_url,
        audit_path=tmp_path / "audit.jsonl",
        **FAST,
    )
    assert q.proxy == proxy.bare_url and f"proxy='{proxy.bare_url}'" in repr(q)
    got = q.members(AUDIENCE_ID, limit=150, query_id="Q-PROXY")
    assert len(got) == 400
    deadline = time.monotonic() + 10
    while not sim.callbacks() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.callbacks(), "no completion callback"
    paths = proxy.paths()
    assert "/.well-known/openid-configuration" in paths, paths
    assert "/.well-known/cxone-configuration" in paths, paths
    assert "/auth/token" in paths, paths
    pages = [x for x in paths if x.endswith(f"/audiences/{AUDIENCE_ID}/members")]
    assert len(pages) == 3, paths  # 400 members in pages of 150
    assert "/_sim/callbacks" in paths, paths
    # Everything the simulator answered came through the proxy.
    s = sim.stats()
    answered = s["token_requests"] + s["api_requests"] + sum(s["well_known"].values())
    assert len(paths) == answered + len(sim.callbacks()), (paths, s)


def test_https_is_tunnelled_and_trusts_the_ca_bundle(proxy):
    with Simulator(members=120, tls=True) as sim:
        q = querier(
            sim,
            ca_bundle=sim.ca_path,
            proxy=proxy.url,
            **FAST,
        )
        assert len(q.members(AUDIENCE_ID, limit=50)) == 120
        tunnels = [r for r in proxy.requests() if r.startswith("CONNECT ")]
        assert tunnels and set(tunnels) == {f"CONNECT 127.0.0.1:{sim.port}"}, proxy.requests()
        assert sim.stats()["tls_handshakes"] == len(tunnels)
        # Without the bundle the tunnel opens, the handshake is refused: typed, not retried.
        bare = Querier(sim.base_url, sim.client_id, sim.client_secret, proxy=proxy.url, **FAST)
        with pytest.raises(errors.ConnectionError) as ei:
            bare.count(AUDIENCE_ID)
        assert ei.value.code == "tls"
        assert f"127.0.0.1:{sim.port}" in str(ei.value) and proxy.bare_url in str(ei.value)
        assert bare._counters()["retries"] == 0


def test_proxy_credentials_are_sent_and_never_shown(sim, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    audit = tmp_path / "audit.jsonl"
    with Tinyproxy(tmp_path, user=PROXY_USER, password=PROXY_PASSWORD) as p:
        q = querier(
            sim,
            proxy=p.url,
            audit_path=audit,
            **FAST,
        )
        assert len(q.members(AUDIENCE_ID, limit=1000)) == 400
        assert "/oauth/token" in p.paths(), p.requests()
        # Without them the proxy refuses: tinyproxy answers a forwarded POST with
        # 407 and closes before reading the body, so the client may see either.
        anon = Querier(sim.base_url, sim.client_id, sim.client_secret, proxy=p.bare_url, **FAST)
        with pytest.raises((errors.AuthenticationError, errors.ConnectionError)) as refused:
            anon.count(AUDIENCE_ID)
        # Through a CONNECT tunnel the refusal says what the proxy wants.
        with Simulator(members=3, tls=True) as tls_sim:
            tls_anon = Querier(
                tls_sim.base_url,
                "id",
                "s",
                ca_bundle=tls_sim.ca_path,
                proxy=p.bare_url,
                **FAST,
            )
            with pytest.raises(errors.AuthenticationError) as tunnel:
                tls_anon.count(AUDIENCE_ID)
            assert tls_sim.stats()["connections"] == 0
            assert tls_anon._counters()["http_requests"] == 1  # not retried
        assert "credentials" in str(tunnel.value) and p.bare_url in str(tunnel.value)
        assert tunnel.value.code == "proxy_authentication_required"
        wrong = Querier(
            sim.base_url, "id", "s", proxy=p.url.replace(PROXY_PASSWORD, "nope"), max_retries=0
        )
        with pytest.raises(errors.CxoneError):
            wrong.count(AUDIENCE_ID)
    dead = Querier(sim.base_url, "id", "s", proxy=p.url, max_retries=0)  # the proxy is gone
    with pytest.raises(errors.ConnectionError) as gone:
        dead.count(AUDIENCE_ID)
    texts = [repr(q), str(q), repr(anon), repr(dead), str(q.proxy)]
    for e in (refused.value, tunnel.value, gone.value):
        texts += [str(e), repr(e), repr(e.args), repr(vars(e))]
    texts += [r.getMessage() for r in caplog.records]
    texts.append(audit.read_text())
    text = "\n".join(texts)
    assert PROXY_PASSWORD not in text and PROXY_USER not in text
    assert audit.read_text().strip(), "no audit record"


def test_a_dead_proxy_is_an_error_naming_it(sim):
    port = closed_port()
    q = Querier(
        sim.base_url, sim.client_id, sim.client_secret, proxy=f"http://127.0.0.1:{port}", **FAST
    )
    with pytest.raises(errors.ConnectionError) as ei:
        q.count(AUDIENCE_ID)
    msg = ei.value.message
    assert msg.startswith(f"could not connect to the proxy http://127.0.0.1:{port} "), msg
    assert f"on the way to 127.0.0.1:{sim.port}" in msg and "connection refused" in msg, msg
    assert ei.value.code != "tls"
    # Nothing reached the simulator directly.
    assert sim.stats()["connections"] == 0


def test_environment_proxies_apply_only_without_the_option(sim, proxy, monkeypatch):
    def through_proxy(q: Querier) -> bool:
        before = len(proxy.paths())
        assert q.count(AUDIENCE_ID) == 400
        return len(proxy.paths()) > before

    def make(**kw: str) -> Querier:
        return querier(
            sim,
            cache_size=0,
            **FAST,
            **kw,
        )

    assert not through_proxy(make())
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert through_proxy(make())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert not through_proxy(make())
    # An explicit proxy replaces the variables, NO_PROXY included ...
    monkeypatch.setenv("NO_PROXY", "*")
    assert through_proxy(make(proxy=proxy.url))
    # ... and a dead HTTP_PROXY with it.
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert through_proxy(make(proxy=proxy.url))
    with pytest.raises(errors.ConnectionError):
        make().count(AUDIENCE_ID)


def test_from_env_reads_cxone_cdp_proxy(sim, proxy, monkeypatch):
    for name, value in sim_env(sim).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CXONE_CDP_PROXY", proxy.url)
    q = Querier.from_env()
    assert q.proxy == proxy.bare_url
    assert q.count(AUDIENCE_ID) == 400 and "/oauth/token" in proxy.paths()
    # An explicit proxy=None wins over the variable: the standard variables decide.
    assert Querier.from_env(proxy=None).proxy is None
    # The Spark source's per-process Querier reads the same setting.
    conn = _Settings.from_options({"audience": AUDIENCE_ID}).connection
    assert conn.querier().proxy == proxy.bare_url
    conn = _Settings.from_options({"audience": AUDIENCE_ID, "proxy": proxy.url}).connection
    assert proxy.url not in repr(conn) and conn.querier().proxy == proxy.bare_url


def _cli(sim: Simulator, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(sim, *args, env=cli_env(sim, **env))


def test_cli_proxy_flag_and_variable(sim, proxy, tmp_path):
    r = _cli(sim, "count", AUDIENCE_ID, "--proxy", proxy.url)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["count"] == 400 if r.stdout.startswith("{") else "400" in r.stdout
    n = len(proxy.paths())
    assert n >= 2, proxy.requests()
    r = _cli(sim, "count", AUDIENCE_ID, CXONE_CDP_PROXY=proxy.url)
    assert r.returncode == 0, r.stderr
    assert len(proxy.paths()) > n
    port = closed_port()
    r = _cli(
        sim,
        "count",
        AUDIENCE_ID,
        "--max-retries",
        "0",
        "--proxy",
        f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}",
    )
    assert r.returncode != 0
    assert f"could not connect to the proxy http://127.0.0.1:{port}" in r.stderr, r.stderr
    assert PROXY_PASSWORD not in r.stderr + r.stdout
    r = _cli(sim, "count", AUDIENCE_ID, "--proxy", f"socks5://u:{PROXY_PASSWORD}@127.0.0.1:1")
    assert r.returncode != 0 and "proxy must be an http:// or https:// URL" in r.stderr, r.stderr
    assert PROXY_PASSWORD not in r.stderr + r.stdout


def test_a_proxy_url_is_checked_before_any_request(sim):
    for bad in (
        "proxy.corp:3128",
        f"socks5://u:{PROXY_PASSWORD}@h:1",
        "http://:3128",
        f"http://u:{PROXY_PASSWORD}@h:3128/path",
        "http://h:3128 x",
    ):
        with pytest.raises(errors.ValidationError) as ei:
            Querier(sim.base_url, "id", "s", proxy=bad)
        assert ei.value.message.startswith("proxy must be"), ei.value
        assert PROXY_PASSWORD not in str(ei.value)
    with pytest.raises(errors.ValidationError):
        Querier(sim.base_url, "id", "s", proxy=3128)  # type: ignore[arg-type]
    assert Querier(sim.base_url, "id", "s", proxy="").proxy is None
    assert sim.stats()["connections"] == 0
    assert not Path("proxy.corp:3128").exists()
