"""``ca_bundle=`` (and ``CXONE_CDP_CA_BUNDLE``, ``--ca-bundle``, the Spark
option): a PEM file whose certificates are trusted besides the platform's
roots, as a TLS-intercepting proxy's private root needs. Against the HTTPS
simulator: a listing with the bundle, the typed refusal without it (or with
another CA's), not retried; a bad bundle is a ValidationError before any
request; there is no switch that turns certificate checks off."""

from __future__ import annotations

import inspect
import subprocess
import time
from pathlib import Path

import pytest
from _cli_support import cli_env, run_cli, sim_env
from _querier_support import querier
from cxone_cdp import Querier, errors
from cxone_cdp._spark_options import _Settings
from cxone_cdp.testing import AUDIENCE_ID, Simulator

FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "max_retries": 4}


@pytest.fixture
def sim():
    with Simulator(members=350, tls=True) as s:
        yield s


def _settled(sim: Simulator, failures: int) -> dict:
    deadline = time.monotonic() + 10
    while True:
        s = sim.stats()
        if s["tls_handshake_failures"] >= failures or time.monotonic() > deadline:
            return s
        time.sleep(0.005)


def test_a_listing_trusts_the_ca_bundle(sim):
    q = querier(
        sim,
        ca_bundle=sim.ca_path,
        **FAST,
    )
    assert q.ca_bundle == sim.ca_path
    got = q.members(AUDIENCE_ID, limit=100)
    assert {m["memberId"] for m in got} == {
        m["memberId"] for m in sim.expected_members(AUDIENCE_ID)
    }
    s = sim.stats()
    assert s["tls_handshakes"] >= 1 and s["tls_handshake_failures"] == 0
    # A path-like works too, and the async twin uses the same client.
    q2 = Querier(sim.base_url, sim.client_id, sim.client_secret, ca_bundle=Path(sim.ca_path))
    import asyncio

    assert asyncio.run(q2.count_async(AUDIENCE_ID)) == 350


def test_without_the_bundle_or_with_another_ca_it_is_refused_once(sim, tmp_path):
    with Simulator(members=1, tls=True) as other:
        foreign = tmp_path / "other-ca.pem"
        foreign.write_bytes(Path(other.ca_path).read_bytes())
    for kw in ({}, {"ca_bundle": foreign}):
        before = sim.stats()["connections"]
        q = Querier(sim.base_url, sim.client_id, sim.client_secret, **FAST, **kw)
        started = time.monotonic()
        with pytest.raises(errors.ConnectionError) as ei:
            q.members(AUDIENCE_ID)
        assert time.monotonic() - started < 5
        e = ei.value
        assert e.code == "tls", e
        assert e.message.startswith(f"TLS handshake with 127.0.0.1:{sim.port} failed: "), e
        # No CA, or another CA of the same name: UnknownIssuer or BadSignature.
        assert "invalid peer certificate: " in e.message, e
        assert q._counters()["retries"] == 0 and q._counters()["http_requests"] == 1
        s = _settled(sim, 1)
        assert s["connections"] - before == 1, s


def test_the_bundle_adds_to_the_system_roots(sim, tmp_path):
    # One file may hold several certificates: the system's and the proxy's.
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    if not system.is_file():
        pytest.skip("no system CA bundle at /etc/ssl/certs/ca-certificates.crt")
    both = tmp_path / "both.pem"
    both.write_bytes(system.read_bytes() + b"\n" + Path(sim.ca_path).read_bytes())
    q = Querier(sim.base_url, sim.client_id, sim.client_secret, ca_bundle=both)
    assert q.count(AUDIENCE_ID) == 350


@pytest.mark.parametrize(
    "name,body,why",
    [
        ("missing.pem", None, "no such file"),
        ("empty.pem", b"", "holds no certificate"),
        ("notes.txt", b"just some text\n", "holds no certificate"),
        (
            "key.pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "holds no certificate",
        ),
        ("cut.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n", "is not a valid PEM file"),
    ],
)
def test_a_bad_bundle_is_a_validation_error_before_any_request(sim, tmp_path, name, body, why):
    path = tmp_path / name
    if body is not None:
        path.write_bytes(body)
    with pytest.raises(errors.ValidationError) as ei:
        Querier(sim.base_url, sim.client_id, sim.client_secret, ca_bundle=path)
    msg = ei.value.message
    assert msg.startswith(f"ca_bundle {str(path)!r}: ") or msg.startswith(f'ca_bundle "{path}": ')
    assert why in msg, msg
    assert sim.stats()["connections"] == 0


def test_a_directory_or_a_wrong_type_is_refused(sim, tmp_path):
    with pytest.raises(errors.ValidationError, match="is a directory"):
        Querier(sim.base_url, "id", "s", ca_bundle=tmp_path)
    with pytest.raises(errors.ValidationError, match="path"):
        Querier(sim.base_url, "id", "s", ca_bundle=42)  # type: ignore[arg-type]


def test_there_is_no_switch_that_turns_certificate_checks_off(sim):
    names = set(inspect.signature(Querier).parameters) if _has_signature() else set()
    for off in ("verify", "insecure", "verify_ssl", "ssl_verify", "danger_accept_invalid_certs"):
        assert off not in names
        with pytest.raises(TypeError):
            Querier(sim.base_url, "id", "s", **{off: False})


def _has_signature() -> bool:
    try:
        inspect.signature(Querier)
        return True
    except (TypeError, ValueError):
        return False


def test_from_env_and_spark_read_cxone_cdp_ca_bundle(sim, monkeypatch):
    for name, value in sim_env(sim).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CXONE_CDP_CA_BUNDLE", sim.ca_path)
    q = Querier.from_env()
    assert q.ca_bundle == sim.ca_path and q.count(AUDIENCE_ID) == 350
    conn = _Settings.from_options({"audience": AUDIENCE_ID}).connection
    assert conn.querier().count(AUDIENCE_ID) == 350
    monkeypatch.delenv("CXONE_CDP_CA_BUNDLE")
    conn = _Settings.from_options({"audience": AUDIENCE_ID, "ca_bundle": sim.ca_path}).connection
    assert conn.querier().ca_bundle == sim.ca_path
    monkeypatch.setenv("CXONE_CDP_CA_BUNDLE", "/no/such/bundle.pem")
    with pytest.raises(errors.ValidationError, match="ca_bundle"):
        Querier.from_env()


def _cli(sim: Simulator, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(sim, *args, env=cli_env(sim, **env))


def test_cli_ca_bundle_flag_and_variable(sim, tmp_path):
    r = _cli(sim, "count", AUDIENCE_ID, "--ca-bundle", sim.ca_path)
    assert (r.returncode, r.stdout.strip()) == (0, "350"), r.stderr
    r = _cli(sim, "count", AUDIENCE_ID, CXONE_CDP_CA_BUNDLE=sim.ca_path)
    assert (r.returncode, r.stdout.strip()) == (0, "350"), r.stderr
    r = _cli(sim, "count", AUDIENCE_ID)
    assert r.returncode != 0
    assert f"TLS handshake with 127.0.0.1:{sim.port} failed" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = _cli(sim, "count", AUDIENCE_ID, "--ca-bundle", str(tmp_path / "nope.pem"))
    assert r.returncode == 2 and "ca_bundle" in r.stderr and "no such file" in r.stderr, r.stderr
