"""Wall time of `cxone-cdp export` for 100,000 simulator members per format
(one run each): `python bench/bench_export.py [members]`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from cxone_cdp.testing import AUDIENCE_ID, Simulator


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with Simulator(members=members) as sim, tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ,
            CXONE_CDP_BASE_URL=sim.base_url,
            CXONE_CDP_TOKEN_URL=sim.token_url,
            CXONE_CDP_CLIENT_ID=sim.client_id,
            CXONE_CDP_CLIENT_SECRET=sim.client_secret,
        )
        for fmt in ("jsonl", "csv", "parquet"):
            out = os.path.join(tmp, f"m.{fmt}")
            cmd = [sys.executable, "-m", "cxone_cdp", "export", AUDIENCE_ID, "-q", "-o", out]
            t = time.perf_counter()
            subprocess.run(cmd, env=env, check=True)
            wall = time.perf_counter() - t
            size = os.path.getsize(out)
            print(
                f"{fmt:<8} {members:,} members  {wall:6.2f} s wall  "
                f"{members / wall:>10,.0f} members/s  {size / 1e6:7.1f} MB"
            )


if __name__ == "__main__":
    main()
