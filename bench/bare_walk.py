"""How fast can a bare Python client walk the simulator? Bytes only: the
cursor is cut out of the body without parsing JSON, so this measures HTTP and
the simulator, not a client library.

    python bench/bare_walk.py --members 100000 --limit 1000 [--client httpx|http.client]
"""

from __future__ import annotations

import argparse
import http.client
import time
import urllib.parse
from collections.abc import Callable

from cxone_cdp.testing import AUDIENCE_ID, Simulator

MARK = b'"nextPageToken":'


def next_cursor(body: bytes) -> str | None:
    i = body.rfind(MARK)
    if i < 0:
        raise ValueError("no nextPageToken in body")
    rest = body[i + len(MARK) :].strip()
    if rest.startswith(b"null"):
        return None
    return rest[1 : rest.index(b'"', 1)].decode()


def token(sim: Simulator) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port)
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "scope": "audiences:read",
        }
    )
    conn.request(
        "POST", "/oauth/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    body = conn.getresponse().read()
    conn.close()
    i = body.index(b'"access_token":"') + len(b'"access_token":"')
    return body[i : body.index(b'"', i)].decode()


def getter_http_client(sim: Simulator, tok: str) -> Callable[[str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port)
    headers = {"Authorization": f"Bearer {tok}"}

    def get(path: str) -> bytes:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
        return body

    return get


def getter_httpx(sim: Simulator, tok: str) -> Callable[[str], bytes]:
    import httpx

    client = httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {tok}"})

    def get(path: str) -> bytes:
        r = client.get(path)
        r.raise_for_status()
        return r.content

    return get


def walk(get: Callable[[str], bytes], limit: int) -> tuple[int, int, int]:
    """Returns (pages, members, bytes)."""
    base = f"/api/v2/audiences/{AUDIENCE_ID}/members?limit={limit}"
    cursor: str | None = None
    pages = members = size = 0
    while True:
        path = base + (f"&cursor={urllib.parse.quote(cursor, safe='')}" if cursor else "")
        body = get(path)
        pages += 1
        members += body.count(b'"memberId"')
        size += len(body)
        cursor = next_cursor(body)
        if cursor is None:
            return pages, members, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--client", choices=["http.client", "httpx"], default="http.client")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with Simulator(members=args.members) as sim:
        tok = token(sim)
        make = getter_httpx if args.client == "httpx" else getter_http_client
        get = make(sim, tok)
        for r in range(args.rounds):
            t0 = time.perf_counter()
            pages, members, size = walk(get, args.limit)
            dt = time.perf_counter() - t0
            kind = "cold (pages rendered)" if r == 0 else "warm (pages from memory)"
            print(
                f"{args.client}: {members:,} members, {pages} pages, {size / 1e6:.1f} MB "
                f"in {dt * 1000:.0f} ms  [{kind}]"
            )
            assert members == args.members


if __name__ == "__main__":
    main()
