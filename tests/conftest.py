"""Shared fixtures. (The `cdp_simulator` fixture comes from the cxone_cdp pytest plugin.)"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from cxone_cdp.testing import AUDIENCE_ID, Simulator

ALL_SCOPES = "audiences:read cdp:read webhooks:write"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class SimHttp:
    """A plain-HTTP client for the simulator (urllib only): nothing is encoded
    for the caller, so tests control exactly what goes on the wire. For a
    ``Simulator(tls=True)`` it trusts the simulator's CA (``sim.ca_path``)."""

    sim: Simulator
    _tokens: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        req = urllib.request.Request(self.sim.base_url + path, data=body, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        ca = getattr(self.sim, "ca_path", None)
        ctx = ssl.create_default_context(cafile=ca) if ca else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                return Reply(
                    resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
                )
        except urllib.error.HTTPError as e:
            return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def token_reply(self, **form: str) -> Reply:
        fields = {
            "grant_type": "client_credentials",
            "client_id": self.sim.client_id,
            "client_secret": self.sim.client_secret,
            **form,
        }
        return self.request(
            "POST",
            "/oauth/token",
            body=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def token(self, scope: str = ALL_SCOPES) -> str:
        if scope not in self._tokens:
            r = self.token_reply(scope=scope)
            assert r.status == 200, r.body
            self._tokens[scope] = r.json()["access_token"]
        return self._tokens[scope]

    def get(self, path: str, query: str = "", *, token: str | None = None) -> Reply:
        """GET `path?query` with `query` sent exactly as given (raw)."""
        url = path + (f"?{query}" if query else "")
        return self.request("GET", url, token=token if token is not None else self.token())

    def members_path(self, audience: str = AUDIENCE_ID) -> str:
        return f"/api/v2/audiences/{audience}/members"

    def count(self, query: str = "", audience: str = AUDIENCE_ID) -> Reply:
        return self.get(self.members_path(audience) + "/count", query)

    def page(self, query: str = "", audience: str = AUDIENCE_ID) -> Reply:
        return self.get(self.members_path(audience), query)

    def pages(self, query: str = "", audience: str = AUDIENCE_ID) -> Iterator[dict[str, Any]]:
        """Every page document of a listing, following cursors until null
        (each page must be a 200, no cursor may come twice)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            q = query
            if cursor:
                q = (q + "&" if q else "") + "cursor=" + enc(cursor)
            r = self.page(q, audience)
            assert r.status == 200, (r.status, r.body[:300])
            doc = r.json()
            yield doc
            cursor = doc["nextPageToken"]
            if cursor is None:
                return
            assert cursor not in seen, "repeated cursor"
            seen.add(cursor)

    def walk(self, query: str = "", audience: str = AUDIENCE_ID) -> list[dict[str, Any]]:
        """Every member of a listing (see :meth:`pages`)."""
        return [m for doc in self.pages(query, audience) for m in doc["items"]]


@dataclass
class RemoteSim:
    """Just what SimHttp needs of a simulator running in another process
    (`cxone-cdp simulate`, default credentials)."""

    base_url: str
    ca_path: str | None = None
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"


@contextmanager
def cli_simulator(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`cxone-cdp simulate --port 0 ARGS` in a subprocess, with the first line
    of its banner; leaving the block stops it with Ctrl-C (SIGINT), which must
    end it with exit code 0. It is killed if the block fails."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "cxone_cdp", "simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout is not None
        yield p, p.stdout.readline()
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()


def enc(s: str) -> str:
    """Percent-encode a query value the way the contract asks (everything but unreserved)."""
    return urllib.parse.quote(s, safe="")


def assert_error(r: Reply, status: int, code: str) -> dict[str, Any]:
    assert r.status == status, (r.status, r.body[:300])
    doc = r.json()
    assert doc["code"] == code, doc
    assert isinstance(doc["message"], str) and doc["message"]
    assert isinstance(doc["correlationId"], str) and doc["correlationId"]
    return doc


def module_simulator(name: str, **options: Any) -> Any:
    """A module-scoped fixture `name`: one running ``Simulator(**options)``
    shared by the tests of a module (``sim = module_simulator("sim", members=500)``)."""

    @pytest.fixture(scope="module", name=name)
    def fixture() -> Iterator[Simulator]:
        with Simulator(**options) as sim:
            yield sim

    return fixture


#: One 2,000-member simulator without faults shared by a test module.
module_sim = module_simulator("module_sim", members=2_000)


@pytest.fixture
def http(module_sim: Simulator) -> SimHttp:
    return SimHttp(module_sim)
