"""What the benchmark scripts share (not a benchmark): a Querier on the
simulator and its attribute schema, the tutorial's querier, a bare
httpx + orjson page walk, and the peak RSS of a streaming listing measured in
a subprocess. The scripts run as ``python bench/<script>.py``, so this
module sits on their path."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxone_cdp import Querier
from cxone_cdp.testing import AUDIENCE_ID, Simulator

REPO = Path(__file__).resolve().parents[1]
#: The tutorial's querier, the baseline every case is compared with.
SEED = REPO.parent / "shared" / "seed" / "seed_querier_restored.py"


def querier(sim: Simulator, **options: Any) -> Querier:
    return Querier(
        sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url, **options
    )


def simulator_schema() -> list[tuple[str, str]]:
    """The simulator's attributes (name, type), in the attributes endpoint's order."""
    with Simulator(members=1) as sim:
        return list(querier(sim).attributes().items())


def load_seed() -> Any:
    spec = importlib.util.spec_from_file_location("seed_querier_restored", SEED)
    assert spec is not None and spec.loader is not None, SEED
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_seed(seed: Any, sim: Simulator, limit: int) -> int:
    """Members the tutorial's querier lists (its own event loop and clients)."""

    async def go() -> int:
        q = seed.CXoneAudienceQuerier(
            "bench", sim.client_id, sim.client_secret, sim.callback_url, base_url=sim.base_url
        )
        payload = seed.AudienceQueryPayload(audience_id=AUDIENCE_ID, limit=limit)
        try:
            return len(await q.validate_and_query(payload, str(uuid.uuid4())))
        finally:
            await q.client.aclose()
            await q.auth.client.aclose()

    return asyncio.run(go())


def bare_pages(sim: Simulator, limit: int) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Every members page of AUDIENCE_ID as (body, document): one token, then
    httpx GETs following the cursor, each body parsed once with orjson."""
    import httpx
    import orjson

    with httpx.Client(timeout=60) as c:
        tok = c.post(
            sim.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "scope": "audiences:read",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}"}
        url = f"{sim.base_url}/api/v2/audiences/{AUDIENCE_ID}/members"
        cursor = None
        while True:
            params = {"limit": str(limit)}
            if cursor:
                params["cursor"] = cursor
            r = c.get(url, params=params, headers=headers)
            r.raise_for_status()
            page = orjson.loads(r.content)
            yield r.content, page
            cursor = page.get("nextPageToken")
            if not cursor:
                return


def run_bare(sim: Simulator, limit: int) -> int:
    """Members a bare httpx + orjson loop lists (the best a pure-Python client can do)."""
    items: list[dict[str, Any]] = []
    for _, page in bare_pages(sim, limit):
        items.extend(page["items"])
    return len(items)


def bytes_walk(sim: Simulator, limit: int) -> tuple[int, int, int]:
    """The network floor: every members page of AUDIENCE_ID over one
    http.client connection, the cursor cut out of the body without parsing
    JSON (`bare_walk.py`). Returns (pages, members, bytes)."""
    from bare_walk import getter_http_client, token, walk

    return walk(getter_http_client(sim, token(sim)), limit)


def page_bodies(sim: Simulator, limit: int) -> list[bytes]:
    """Every members page body of AUDIENCE_ID, fetched once (for the floor
    of parsing bodies already in memory)."""
    return [body for body, _ in bare_pages(sim, limit)]


def machine() -> dict[str, str]:
    """nproc, CPU model, load average and Python version (for the results)."""
    import os
    import platform

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
    }


RSS_CHILD = r"""
import sys, time
from cxone_cdp import Querier

def rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

kind, base_url, token_url, cid, secret, aud, limit, cache_size = sys.argv[1:9]
q = Querier(base_url, cid, secret, token_url=token_url, cache_size=int(cache_size))
q.attributes()                       # warm: token, schema, runtime threads
if kind == "iter_batches":
    import pyarrow                   # imported before the start mark (it is the consumer)
start = rss_kb("VmRSS")
peak = start
n = 0
t0 = time.perf_counter()
if kind == "iter_members":
    for m in q.iter_members(aud, limit=int(limit)):
        n += 1
        if n % 20000 == 0:
            peak = max(peak, rss_kb("VmRSS"))
else:
    for b in q.iter_batches(aud, limit=int(limit)):
        n += pyarrow.record_batch(b).num_rows
        peak = max(peak, rss_kb("VmRSS"))
secs = time.perf_counter() - t0
peak = max(peak, rss_kb("VmRSS"), rss_kb("VmHWM"))
print(n, start, peak, secs)
"""


def rss_out_of_process(
    members: int, limit: int
) -> Iterator[tuple[str, tuple[int, float, float, float]]]:
    """`rss()` of `iter_members` and `iter_batches` against a simulator of
    `members` members served by another process (`python -m cxone_cdp
    simulate`), so the consumer's RSS holds no rendered page."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "cxone_cdp", "simulate", "--port", str(port)]
    server = subprocess.Popen([*cmd, "--members", str(members)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base = server.stdout.readline().rsplit(" at ", 1)[1].strip()
        token_url = server.stdout.readline().split()[-1]
        remote = RemoteSim(base, token_url)
        for cache_size in (50, 0):
            for kind in ("iter_members", "iter_batches"):
                label = f"{kind}()" + ("" if cache_size else ", cache_size=0")
                yield label, rss(kind, remote, limit, cache_size)  # type: ignore[arg-type]
    finally:
        server.terminate()
        server.wait(timeout=30)


class RemoteSim:
    """What `rss()` needs of a simulator served by another process."""

    def __init__(self, base_url: str, token_url: str) -> None:
        self.base_url = base_url
        self.token_url = token_url
        self.client_id = "sim-client"
        self.client_secret = "sim-secret"


def rss(
    kind: str, sim: Simulator, limit: int, cache_size: int = 50
) -> tuple[int, float, float, float]:
    """Streams AUDIENCE_ID through `kind` (``iter_members`` or
    ``iter_batches``) in a fresh subprocess: (members, RSS at the start in MiB,
    peak RSS in MiB, seconds)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            RSS_CHILD,
            kind,
            sim.base_url,
            sim.token_url,
            sim.client_id,
            sim.client_secret,
            AUDIENCE_ID,
            str(limit),
            str(cache_size),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    n, start, peak, secs = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    return n, start / 1024, peak / 1024, secs
