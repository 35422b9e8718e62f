"""Shared fixtures. (The `cdp_simulator` fixture comes from the cxone_cdp pytest plugin.)"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
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

    def walk(self, query: str = "", audience: str = AUDIENCE_ID) -> list[dict[str, Any]]:
        """Every member of a listing, following cursors until null."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            q = query
            if cursor:
                q = (q + "&" if q else "") + "cursor=" + urllib.parse.quote(cursor, safe="")
            r = self.page(q, audience)
            assert r.status == 200, (r.status, r.body[:300])
            doc = r.json()
            items.extend(doc["items"])
            cursor = doc["nextPageToken"]
            if cursor is None:
                return items
            assert cursor not in seen, "repeated cursor"
            seen.add(cursor)


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


@pytest.fixture(scope="module")
def module_sim() -> Iterator[Simulator]:
    """One 2,000-member simulator without faults shared by a test module."""
    with Simulator(members=2_000) as sim:
        yield sim


@pytest.fixture
def http(module_sim: Simulator) -> SimHttp:
    return SimHttp(module_sim)
