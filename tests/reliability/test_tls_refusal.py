"""An untrusted certificate, as a user meets it: a typed ``ConnectionError``
with code ``"tls"`` naming host and port, raised after one connection (a
certificate does not get better on a retry), and nothing from rustls in
Python's logging or on stderr."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import cxone_cdp
import pytest
from cxone_cdp import errors
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def _settled(sim: Simulator) -> dict[str, Any]:
    """The counters once the refused handshake is counted (the server sees
    the client's alert a moment after the client gave up)."""
    deadline = time.monotonic() + 10
    while True:
        s = sim.stats()
        if s["tls_handshake_failures"] > 0 or time.monotonic() > deadline:
            return s
        time.sleep(0.005)


def test_untrusted_certificate_is_typed_named_and_not_retried(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with Simulator(members=10, tls=True) as sim:
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret, max_retries=6)
        started = time.monotonic()
        with pytest.raises(errors.ConnectionError) as ei:
            q.count(AUDIENCE_ID)
        took = time.monotonic() - started
        e = ei.value
        assert isinstance(e, cxone_cdp.CxoneConnectionError)
        assert e.code == "tls"
        assert f"127.0.0.1:{sim.port}" in e.message, e.message
        assert "certificate" in e.message.lower(), e.message
        s = _settled(sim)
        # One connection, one refused handshake: no retry, no backoff sleeps.
        assert (s["connections"], s["tls_handshake_failures"], s["tls_handshakes"]) == (1, 1, 0)
        assert took < 5, took
        assert q._counters()["retries"] == 0
    foreign = [r for r in caplog.records if not r.name.startswith("cxone_cdp")]
    assert not foreign, [(r.name, r.getMessage()) for r in foreign]


def test_the_same_client_trusts_the_simulators_ca_through_ssl_cert_file() -> None:
    # SSL_CERT_FILE is read by the platform verifier when the process starts
    # its TLS settings, so this runs in a fresh interpreter.
    with Simulator(members=300, tls=True) as sim:
        code = textwrap.dedent(
            f"""
            import cxone_cdp
            q = cxone_cdp.Querier({sim.base_url!r}, {sim.client_id!r}, {sim.client_secret!r})
            print(len(q.members({AUDIENCE_ID!r}, limit=100)))
            """
        )
        env = {**os.environ, "SSL_CERT_FILE": str(sim.ca_path)}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["300"]
        assert r.stderr == ""


def test_a_refusal_prints_nothing_on_stderr() -> None:
    with Simulator(members=10, tls=True) as sim:
        code = textwrap.dedent(
            f"""
            import logging, cxone_cdp
            logging.basicConfig(level=logging.DEBUG)
            q = cxone_cdp.Querier({sim.base_url!r}, {sim.client_id!r}, {sim.client_secret!r})
            try:
                q.count({AUDIENCE_ID!r})
            except cxone_cdp.CxoneConnectionError as e:
                print("refused", e.code)
            """
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.stdout.split() == ["refused", "tls"], r.stdout + r.stderr
        noise = [ln for ln in r.stderr.splitlines() if "cxone_cdp" not in ln]
        assert not noise, r.stderr
