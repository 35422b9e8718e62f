"""`cxone_cdp.dlt`: real dlt pipelines into DuckDB (dlt's embedded
destination) against the simulator, whose membership clock moves the
audience on between runs: replace mode, SCD2 history, the multi-audience
source, credentials from dlt's config files and the environment, and bad
input failing the pipeline at extract time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cxone_cdp
import pytest
from cxone_cdp.errors import NotFoundError, ValidationError
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, SUBSET_AUDIENCE_ID, Simulator

dlt = pytest.importorskip("dlt", reason="needs the dlt extra (pip install cxone-cdp[dlt])")
duckdb = pytest.importorskip("duckdb", reason="needs duckdb (dlt[duckdb])")
cdp_dlt = pytest.importorskip("cxone_cdp.dlt")

VIPS = [("is_vip", "eq", True)]


@pytest.fixture(autouse=True)
def quiet_dlt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for k in list(os.environ):
        if k.startswith(("CXONE_CDP_", "SOURCES__")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(members=300) as s:
        yield s


def querier(sim: Simulator, **options: Any) -> cxone_cdp.Querier:
    return cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret, **options)


def pipeline(tmp_path: Path, name: str = "cdp") -> Any:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}_db.duckdb")),
        dataset_name="cdp",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def rows(p: Any, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(Path(p.pipelines_dir).parent / f"{p.pipeline_name}_db.duckdb")) as c:
        return c.sql(sql).fetchall()


def columns(p: Any, table: str) -> dict[str, str]:
    got = rows(
        p,
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'cdp' and table_name = '{table}'",
    )
    return dict(got)  # type: ignore[arg-type]


def test_replace_mode_holds_the_current_membership(sim: Simulator, tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    q = querier(sim)
    p.run(cdp_dlt.audience_members(AUDIENCE_ID, querier=q, limit=128))
    assert rows(p, "select count(*) from cdp.audience_members") == [(300,)]
    types = columns(p, "audience_members")
    assert types["member_id"] == "VARCHAR"
    assert types["joined_at"].startswith("TIMESTAMP")
    assert types["lifetime_value"] == "DOUBLE"
    assert types["last_purchase_date"] == "DATE"
    assert types["is_vip"] == "BOOLEAN"
    assert types["lifecycle_stage"] == "VARCHAR"

    moved = sim.advance(joined=6, left=9, changed=12)
    p.run(cdp_dlt.audience_members(AUDIENCE_ID, querier=q, limit=128))
    want = sim.expected_members()
    got = rows(p, "select member_id, lifecycle_stage from cdp.audience_members")
    assert sorted(got) == sorted((m["memberId"], m["attributes"]["lifecycle_stage"]) for m in want)
    ids = {r[0] for r in got}
    assert not ids & set(moved["left"]) and set(moved["joined"]) <= ids


def test_history_mode_keeps_scd2_history(sim: Simulator, tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    q = querier(sim)
    before = {m["memberId"]: m for m in sim.expected_members()}
    p.run(cdp_dlt.audience_members(AUDIENCE_ID, querier=q, history=True))
    assert rows(p, "select count(*) from cdp.audience_members where _dlt_valid_to is null") == [
        (300,)
    ]
    # A second run with nothing changed opens and closes nothing.
    p.run(cdp_dlt.audience_members(AUDIENCE_ID, querier=q, history=True))
    assert rows(p, "select count(*) from cdp.audience_members") == [(300,)]

    moved = sim.advance(joined=4, left=7, changed=10)
    p.run(cdp_dlt.audience_members(AUDIENCE_ID, querier=q, history=True))
    after = {m["memberId"]: m for m in sim.expected_members()}
    active = rows(
        p,
        "select member_id, lifecycle_stage from cdp.audience_members where _dlt_valid_to is null",
    )
    assert sorted(active) == sorted(
        (i, m["attributes"]["lifecycle_stage"]) for i, m in after.items()
    )
    history = rows(
        p,
        "select member_id, lifecycle_stage, _dlt_valid_from, _dlt_valid_to "
        "from cdp.audience_members",
    )
    by: dict[str, list[tuple[Any, ...]]] = {}
    for r in history:
        by.setdefault(r[0], []).append(r)
    # Who left has one row, closed.
    for i in moved["left"]:
        assert len(by[i]) == 1 and by[i][0][3] is not None
    # A change closed the old row (old values) and opened a new one.
    for i in moved["changed"]:
        old, new = sorted(by[i], key=lambda r: r[2])
        assert old[1] == before[i]["attributes"]["lifecycle_stage"] and old[3] is not None
        assert new[1] == after[i]["attributes"]["lifecycle_stage"] and new[3] is None
        assert old[3] == new[2]
    # Joiners have one open row; everyone else is untouched.
    for i in moved["joined"]:
        assert len(by[i]) == 1 and by[i][0][3] is None
    assert len(history) == 300 + 4 + 10


def test_the_multi_audience_source(sim: Simulator, tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    source = cdp_dlt.cdp_source(
        {
            "everyone": AUDIENCE_ID,
            "vips": (AUDIENCE_ID, VIPS),
            "subset": SUBSET_AUDIENCE_ID,
            "nobody": EMPTY_AUDIENCE_ID,
        },
        querier=querier(sim),
    )
    assert set(source.resources) == {"everyone", "vips", "subset", "nobody", "attributes"}
    p.run(source)
    q = querier(sim)
    assert rows(p, "select count(*) from cdp.everyone") == [(300,)]
    assert rows(p, "select count(*) from cdp.vips") == [(q.count(AUDIENCE_ID, VIPS),)]
    assert rows(p, "select bool_and(is_vip) from cdp.vips") == [(True,)]
    assert rows(p, "select count(*) from cdp.subset") == [(q.count(SUBSET_AUDIENCE_ID),)]
    assert rows(p, "select count(*) from cdp.nobody") == [(0,)]
    assert sorted(rows(p, "select name, type from cdp.attributes")) == sorted(
        q.attributes().items()
    )


def write_project(root: Path, sim: Simulator, secret: str) -> None:
    (root / ".dlt").mkdir()
    (root / ".dlt" / "config.toml").write_text(
        "[sources.cxone_cdp]\n"
        f'base_url = "{sim.base_url}"\n'
        f'token_url = "{sim.token_url}"\n'
        f'client_id = "{sim.client_id}"\n'
    )
    (root / ".dlt" / "secrets.toml").write_text(
        f'[sources.cxone_cdp]\nclient_secret = "{secret}"\n'
    )


PROJECT_RUN = r"""
import sys
import dlt
import duckdb
from cxone_cdp.dlt import audience_members
from cxone_cdp.testing import AUDIENCE_ID

p = dlt.pipeline(
    pipeline_name="project",
    destination=dlt.destinations.duckdb("project_db.duckdb"),
    dataset_name="cdp",
    pipelines_dir="pipelines",
)
try:
    p.run(audience_members(AUDIENCE_ID, [("is_vip", "eq", True)], table_name="vips"))
except Exception as e:
    while e.__cause__ is not None:
        e = e.__cause__
    print("failed", repr(e))
    sys.exit(0)
with duckdb.connect("project_db.duckdb") as c:
    print("loaded", c.sql("select count(*) from cdp.vips").fetchall()[0][0])
"""


def run_project(root: Path, env: dict[str, str] | None = None) -> str:
    """Runs a pipeline the way a user does: a script in the project
    directory, dlt finding `.dlt/` there."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CXONE_CDP_", "SOURCES__"))}
    r = subprocess.run(
        [sys.executable, "-c", PROJECT_RUN],
        cwd=root,
        env={**clean, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


def test_credentials_from_dlt_config_and_secrets(sim: Simulator, tmp_path: Path) -> None:
    write_project(tmp_path, sim, sim.client_secret)
    assert run_project(tmp_path) == f"loaded {querier(sim).count(AUDIENCE_ID, VIPS)}"


def test_dlt_config_comes_before_the_environment(sim: Simulator, tmp_path: Path) -> None:
    write_project(tmp_path, sim, "not-the-secret")
    env = {
        "CXONE_CDP_BASE_URL": sim.base_url,
        "CXONE_CDP_CLIENT_ID": sim.client_id,
        "CXONE_CDP_CLIENT_SECRET": sim.client_secret,
    }
    out = run_project(tmp_path, env)
    assert out.startswith("failed AuthenticationError"), out
    assert "not-the-secret" not in out
    # dlt's environment variables are dlt config too.
    (tmp_path / ".dlt" / "secrets.toml").unlink()
    dlt_env = {"SOURCES__CXONE_CDP__CLIENT_SECRET": sim.client_secret}
    assert run_project(tmp_path, dlt_env).startswith("loaded ")


def test_ca_bundle_and_proxy_from_dlt_config(tmp_path: Path) -> None:
    with Simulator(members=500, tls=True) as tls_sim:
        write_project(tmp_path, tls_sim, tls_sim.client_secret)
        # Without the simulator's CA the HTTPS simulator is refused, typed.
        out = run_project(tmp_path)
        assert out.startswith("failed ConnectionError"), out
        with (tmp_path / ".dlt" / "config.toml").open("a") as f:
            f.write(f'ca_bundle = "{tls_sim.ca_path}"\n')
        expected = querier(tls_sim, ca_bundle=tls_sim.ca_path).count(AUDIENCE_ID, VIPS)
        assert run_project(tmp_path) == f"loaded {expected}"


def test_the_proxy_setting_is_a_secret_and_reaches_the_querier(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__CXONE_CDP__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__CXONE_CDP__CLIENT_ID", sim.client_id)
    monkeypatch.setenv("SOURCES__CXONE_CDP__CLIENT_SECRET", sim.client_secret)
    monkeypatch.setenv("SOURCES__CXONE_CDP__PROXY", "http://user:pa55word@127.0.0.1:3128")
    q = cdp_dlt.querier_from_config()
    assert q is not None
    assert q.proxy == "http://127.0.0.1:3128"
    assert "pa55word" not in repr(q)


def test_credentials_from_the_environment(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_CDP_BASE_URL", sim.base_url)
    monkeypatch.setenv("CXONE_CDP_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("CXONE_CDP_CLIENT_SECRET", sim.client_secret)
    p = pipeline(tmp_path)
    p.run(cdp_dlt.audience_members(AUDIENCE_ID))
    assert rows(p, "select count(*) from cdp.audience_members") == [(300,)]


def test_no_credentials_names_all_three_places() -> None:
    with pytest.raises(ValidationError) as e:
        cdp_dlt.audience_members(AUDIENCE_ID)
    msg = str(e.value)
    assert "querier=" in msg and "[sources.cxone_cdp]" in msg and "CXONE_CDP_" in msg
    with pytest.raises(ValidationError):
        cdp_dlt.cdp_source({"x": AUDIENCE_ID})


def failure(p: Any, resource: Any) -> BaseException:
    from dlt.pipeline.exceptions import PipelineStepFailed

    with pytest.raises(PipelineStepFailed) as e:
        p.run(resource)
    assert e.value.step == "extract"
    cause = e.value.__cause__
    while cause is not None and not isinstance(cause, cxone_cdp.CxoneError):
        cause = cause.__cause__
    assert cause is not None, repr(e.value)
    return cause


def test_bad_input_fails_the_pipeline_at_extract_and_loads_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    q = querier(sim)
    p = pipeline(tmp_path)
    unknown = cdp_dlt.audience_members("no-such-audience", querier=q, table_name="unknown")
    assert isinstance(failure(p, unknown), NotFoundError)
    refused = cdp_dlt.audience_members(
        AUDIENCE_ID, [("city", "like", "x")], querier=q, table_name="refused"
    )
    assert isinstance(failure(pipeline(tmp_path, "p2"), refused), ValidationError)
    wrong_type = cdp_dlt.audience_members(
        AUDIENCE_ID, [("lifetime_value", "gt", "abc")], querier=q, table_name="wrong"
    )
    assert isinstance(failure(pipeline(tmp_path, "p3"), wrong_type), cxone_cdp.CxoneError)
    for name in ("cdp", "p2", "p3"):
        db = tmp_path / f"{name}_db.duckdb"
        if db.exists():
            with duckdb.connect(str(db)) as c:
                tables = c.sql(
                    "select table_name from information_schema.tables "
                    "where table_name in ('unknown', 'refused', 'wrong')"
                ).fetchall()
            assert tables == []
