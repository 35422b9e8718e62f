"""The CXone access-key grant and API discovery, against the simulator."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from cxone_cdp import DiscoveryError, Querier, errors
from cxone_cdp.testing import AUDIENCE_ID

FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "max_retries": 3}
# base64url of {"alg":"HS256","typ":"JWT"}: the start of every simulator id_token.
JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
BAD_DOC = "invalid_discovery_document"


@pytest.fixture
def sim(cdp_simulator_factory):
    return cdp_simulator_factory(members=300)


def creds(sim, auth: str) -> dict:
    kw = {"client_id": sim.client_id, "client_secret": sim.client_secret, "auth": auth}
    if auth == "access_key":
        kw.update(access_key_id=sim.access_key_id, access_key_secret=sim.access_key_secret)
    return kw


def ids(members) -> set[str]:
    return {m["memberId"] for m in members}


@pytest.mark.parametrize("auth", ["client_credentials", "access_key"])
def test_discovery_then_listing(sim, auth):
    q = Querier.discover(sim.issuer, **creds(sim, auth), **FAST)
    assert q.base_url == sim.base_url
    assert q.auth == auth and q.issuer == sim.issuer and q.area == sim.area
    got = q.members(AUDIENCE_ID, limit=70)
    assert len(got) == 300
    assert ids(got) == ids(sim.expected_members(AUDIENCE_ID))
    s = sim.stats()
    assert s["well_known"] == {"openid-configuration": 1, "cxone-configuration": 1}
    grant = "password" if auth == "access_key" else "client_credentials"
    assert s["token_by_grant"] == {grant: 1}
    assert s["token_by_path"] == {"/auth/token": 1}
    # Cached for the Querier's life.
    assert q.count(AUDIENCE_ID) == 300
    assert sim.stats()["well_known"] == s["well_known"]


def test_discover_async(sim):
    async def main():
        q = await Querier.discover_async(sim.issuer, **creds(sim, "access_key"), **FAST)
        assert q.base_url == sim.base_url
        return await q.members_async(AUDIENCE_ID, [("is_vip", "eq", True)])

    got = asyncio.run(main())
    assert ids(got) == ids(sim.expected_members(AUDIENCE_ID, ["is_vip=true"]))


def test_lazy_discovery_from_constructor(sim):
    q = Querier(
        None,
        sim.client_id,
        sim.client_secret,
        issuer=sim.issuer,
        auth="access_key",
        access_key_id=sim.access_key_id,
        access_key_secret=sim.access_key_secret,
    )
    assert q.base_url is None
    assert sim.stats()["well_known"] == {}
    assert q.count(AUDIENCE_ID, [("is_vip", "eq", True)]) == len(
        sim.expected_members(AUDIENCE_ID, ["is_vip=true"])
    )
    assert q.base_url == sim.base_url


def test_wrong_access_key_is_authentication_error_without_retries(sim):
    with pytest.raises(errors.AuthenticationError) as ei:
        Querier.discover(
            sim.issuer,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            auth="access_key",
            access_key_id=sim.access_key_id,
            access_key_secret="not-the-secret-123",
            **FAST,
        )
    assert ei.value.code == "invalid_grant"
    assert "not-the-secret-123" not in str(ei.value) + repr(ei.value)
    s = sim.stats()
    assert s["token_requests"] == 1 and s["token_by_status"] == {"400": 1}
    assert s["api_requests"] == 0
    # A wrong client secret in access-key mode: invalid_client, also one request.
    sim.reset()
    with pytest.raises(errors.AuthenticationError) as ei:
        Querier.discover(
            sim.issuer,
            client_id=sim.client_id,
            client_secret="wrong-client-secret",
            auth="access_key",
            access_key_id=sim.access_key_id,
            access_key_secret=sim.access_key_secret,
            **FAST,
        ).count(AUDIENCE_ID)
    assert ei.value.code == "invalid_client" and ei.value.status == 401
    assert sim.stats()["token_requests"] == 1


@pytest.mark.parametrize(
    ("fault", "code", "needle"),
    [
        ("missing_field", BAD_DOC, "OpenID configuration document has no token_endpoint"),
        ("not_json", BAD_DOC, "OpenID configuration document is not JSON"),
        ("404", "not_found", "HTTP 404"),
        ("cxone:missing_field", BAD_DOC, "CXone configuration document has no api_endpoint"),
        ("cxone:not_json", BAD_DOC, "CXone configuration document is not JSON"),
        ("cxone:404", "not_found", "CXone configuration"),
        ("bad_id_token", "invalid_id_token", "id_token"),
    ],
)
def test_broken_discovery_gives_clear_error(cdp_simulator_factory, fault, code, needle):
    sim = cdp_simulator_factory(members=50, broken_discovery=fault)
    with pytest.raises(DiscoveryError) as ei:
        Querier.discover(sim.issuer, **creds(sim, "access_key"), **FAST)
    e = ei.value
    assert isinstance(e, errors.CxoneError)
    assert e.code == code
    assert needle in str(e), str(e)
    assert sim.stats()["api_requests"] == 0
    if fault.endswith("404"):
        assert e.status == 404
        # Not retried: one request for the broken document.
        doc = "cxone-configuration" if fault.startswith("cxone") else "openid-configuration"
        assert sim.stats()["well_known"][doc] == 1


def test_explicit_urls_win_over_discovery(sim):
    kw = creds(sim, "access_key") | FAST
    # Both given: nothing is discovered.
    q = Querier.discover(sim.issuer, base_url=sim.base_url, token_url=sim.auth_token_url, **kw)
    assert q.count(AUDIENCE_ID) == 300
    assert sim.stats()["well_known"] == {}
    # base_url given: only the token endpoint is discovered.
    sim.reset()
    q = Querier.discover(sim.issuer, base_url=sim.base_url, **kw)
    assert q.count(AUDIENCE_ID) == 300
    assert sim.stats()["well_known"] == {"openid-configuration": 1}
    # token_url given: only the API endpoint is discovered.
    sim.reset()
    q = Querier.discover(sim.issuer, token_url=sim.auth_token_url, **kw)
    assert q.count(AUDIENCE_ID) == 300
    assert sim.stats()["well_known"] == {"cxone-configuration": 1}
    # An explicit base_url elsewhere than the discovered one is the one used.
    sim.reset()
    q = Querier.discover(sim.issuer, base_url="http://127.0.0.1:9", **kw)
    assert q.base_url == "http://127.0.0.1:9"
    assert "cxone-configuration" not in sim.stats()["well_known"]


def test_refresh_and_replay_in_access_key_mode(cdp_simulator_factory):
    sim = cdp_simulator_factory(members=100, revoke_after=0.3)
    q = Querier.discover(sim.issuer, **creds(sim, "access_key"), **FAST, cache_size=0)
    assert q.count(AUDIENCE_ID) == 100
    time.sleep(0.4)
    assert q.count(AUDIENCE_ID) == 100  # 401, one refresh, one replay
    c = q._counters()
    assert c["auth_replays"] == 1 and c["tokens_fetched"] == 2
    s = sim.stats()
    assert s["token_by_grant"] == {"password": 2}
    assert s["by_status"].get("401") == 1
    assert s["well_known"]["cxone-configuration"] == 1


def test_validation_before_any_request(sim):
    base = dict(client_id=sim.client_id, client_secret=sim.client_secret)
    bad = [
        lambda: Querier(
            sim.base_url, **base, auth="access_key", issuer=sim.issuer, access_key_secret="x"
        ),
        lambda: Querier(
            sim.base_url, **base, auth="access_key", issuer=sim.issuer, access_key_id="x"
        ),
        lambda: Querier(
            sim.base_url, **base, auth="access_key", access_key_id="a", access_key_secret="b"
        ),  # no token_url nor issuer
        lambda: Querier(sim.base_url, **base, access_key_id="a", access_key_secret="b"),
        lambda: Querier(sim.base_url, **base, auth="oauth1"),
        lambda: Querier(None, **base),
        lambda: Querier(sim.base_url, **base, issuer="ftp://x"),
        lambda: Querier.discover(sim.issuer, **base, auth="access_key"),
    ]
    for make in bad:
        with pytest.raises(errors.ValidationError):
            make()
    s = sim.stats()
    assert s["token_requests"] == 0 and s["well_known"] == {} and s["api_requests"] == 0


def test_from_env_access_key_with_discovery(sim, monkeypatch):
    for k in ("CXONE_CDP_BASE_URL", "CXONE_CDP_TOKEN_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CXONE_CDP_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("CXONE_CDP_CLIENT_SECRET", sim.client_secret)
    monkeypatch.setenv("CXONE_CDP_AUTH", "access_key")
    monkeypatch.setenv("CXONE_CDP_ACCESS_KEY_ID", sim.access_key_id)
    monkeypatch.setenv("CXONE_CDP_ACCESS_KEY_SECRET", sim.access_key_secret)
    monkeypatch.setenv("CXONE_CDP_ISSUER", sim.issuer)
    q = Querier.from_env(**FAST)
    assert q.auth == "access_key" and q.base_url is None
    assert q.count(AUDIENCE_ID) == 300
    assert q.base_url == sim.base_url
    assert sim.stats()["token_by_grant"] == {"password": 1}
    # A keyword wins over the environment.
    q = Querier.from_env(auth="client_credentials", access_key_id=None, access_key_secret=None)
    assert q.auth == "client_credentials"


def test_no_secret_or_id_token_in_repr_errors_or_logs(cdp_simulator_factory, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "client-secret-77"
    key_secret = "access-key-secret-99"
    sim = cdp_simulator_factory(
        members=100, client_secret=secret, access_key_secret=key_secret, unavailable_every=3
    )
    kw = dict(
        client_id=sim.client_id,
        client_secret=secret,
        auth="access_key",
        access_key_id=sim.access_key_id,
        access_key_secret=key_secret,
        **FAST,
    )
    q = Querier.discover(sim.issuer, **kw)
    q.members(AUDIENCE_ID, limit=20)  # retries logged at debug
    texts = [repr(q), str(q)]
    for bad in [
        lambda: q.count("no-such-audience"),
        lambda: Querier.discover(sim.issuer, **(kw | {"access_key_secret": key_secret + "x"})),
        lambda: Querier.discover(sim.issuer, **(kw | {"client_secret": secret + "x"})),
    ]:
        with pytest.raises(errors.CxoneError) as ei:
            bad()
        texts += [str(ei.value), repr(ei.value), ei.value.message]
    sim.set_faults(broken_discovery="bad_id_token")
    with pytest.raises(DiscoveryError) as ei:
        Querier.discover(sim.issuer, **kw)
    texts += [str(ei.value), repr(ei.value)]
    blob = "\n".join(texts) + "\n".join(r.getMessage() for r in caplog.records)
    for s in (secret, key_secret, JWT_HEADER, "sim_", "Bearer", "Basic "):
        assert s not in blob, s
    assert "access_key_id='sim-key'" in repr(q)
