"""Loading audiences into a warehouse with dlt: a runnable pipeline into
DuckDB (dlt's embedded destination) against the simulator, whose membership
clock moves the audience on between two runs (needs the ``dlt`` extra and
``dlt[duckdb]``).

    python examples/dlt_pipeline.py [work-dir]

The first table, ``vips``, is replaced on every run (current membership);
the second, ``members_history``, keeps SCD2 history (``_dlt_valid_from`` /
``_dlt_valid_to``), so the joins, leaves and changes between the runs show.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cxone_cdp
import dlt
import duckdb
from cxone_cdp.dlt import audience_members, cdp_source
from cxone_cdp.testing import AUDIENCE_ID, Simulator


def run(q: cxone_cdp.Querier, work: Path) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="cdp_example",
        destination=dlt.destinations.duckdb(str(work / "audiences.duckdb")),
        dataset_name="cdp",
        pipelines_dir=str(work / "pipelines"),
    )
    pipeline.run(cdp_source({"vips": (AUDIENCE_ID, [("is_vip", "eq", True)])}, querier=q))
    pipeline.run(
        audience_members(AUDIENCE_ID, history=True, table_name="members_history", querier=q)
    )


def main(work: Path) -> None:
    with Simulator(members=2_000) as sim:
        q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret)
        run(q, work)
        moved = sim.advance(joined=25, left=40, changed=60)
        print(
            f"advanced: {len(moved['joined'])} joined, {len(moved['left'])} left, "
            f"{len(moved['changed'])} changed"
        )
        run(q, work)
    with duckdb.connect(str(work / "audiences.duckdb"), read_only=True) as db:
        ((vips,),) = db.sql("select count(*) from cdp.vips").fetchall()
        print("vips now:", vips)
        print("members_history (open rows, closed rows):")
        print(
            db.sql(
                "select count(*) filter (where _dlt_valid_to is null) as open_rows, "
                "count(*) filter (where _dlt_valid_to is not null) as closed_rows "
                "from cdp.members_history"
            ).fetchall()
        )
        print(
            db.sql(
                "select lifecycle_stage, count(*) as members from cdp.members_history "
                "where _dlt_valid_to is null group by 1 order by 2 desc"
            ).fetchall()
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
