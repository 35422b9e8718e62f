"""Streaming and columnar output: constant memory with ``iter_members()``,
Arrow record batches with ``iter_batches()``, one table with
``members_arrow()`` and a Parquet file (needs the ``arrow`` extra: pyarrow).

    python examples/streaming_arrow.py [output-dir]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cxone_cdp
import pyarrow as pa
import pyarrow.parquet as pq
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def stream_total(q: cxone_cdp.Querier) -> float:
    """Sums lifetime_value member by member (about four pages in memory)."""
    total = 0.0
    for m in q.iter_members(AUDIENCE_ID, limit=1000):
        value = m["attributes"].get("lifetime_value")
        if isinstance(value, (int, float)):
            total += value
    return total


def write_parquet(q: cxone_cdp.Querier, out_dir: Path) -> Path:
    """Writes the audience batch by batch to ``out_dir/members.parquet``."""
    path = out_dir / "members.parquet"
    writer: pq.ParquetWriter | None = None
    try:
        for b in q.iter_batches(AUDIENCE_ID, limit=1000):
            batch = pa.record_batch(b)
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close()
    return path


def main(members: int = 5_000, out_dir: Path | None = None) -> int:
    """Runs the three reads; returns the rows in the Parquet file."""
    with Simulator(members=members) as sim, tempfile.TemporaryDirectory() as tmp:
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        print("sum of lifetime_value:", round(stream_total(q), 2))

        table = pa.table(q.members_arrow(AUDIENCE_ID, [("is_vip", "eq", True)]))
        print("VIP table:", table.num_rows, "rows,", table.schema.names)

        path = write_parquet(q, out_dir or Path(tmp))
        rows: int = pq.read_metadata(path).num_rows
        print("parquet rows:", rows)
        return rows


if __name__ == "__main__":
    main(out_dir=Path(sys.argv[1]) if len(sys.argv) > 1 else None)
