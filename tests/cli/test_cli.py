"""The `cxone-cdp` command line, end to end: the CLI runs in a subprocess
against the embedded simulator, connection settings from the environment."""

from __future__ import annotations

import csv
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _cli_support import cli_env, run_cli
from cxone_cdp import Querier
from cxone_cdp.testing import AUDIENCE_ID, Simulator

MEMBERS = 3_000
FILTER = "lifetime_value>100"


def popen_cli(sim: Simulator, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cxone_cdp", *args],
        env=cli_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def sim() -> Any:
    with Simulator(members=MEMBERS) as s:
        yield s


@pytest.fixture
def fsim() -> Any:
    """A simulator of its own, for fault switches."""
    with Simulator(members=2_000) as s:
        yield s


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected(sim: Simulator, *filters: str) -> list[dict[str, Any]]:
    return sim.expected_members(AUDIENCE_ID, list(filters))


def ids(members: list[dict[str, Any]]) -> list[str]:
    return [m["memberId"] for m in members]


def utc(ts: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(
        datetime.timezone.utc
    )


# --------------------------------------------------------------------- export


def test_export_jsonl_equals_direct_query(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    r = run_cli(sim, "export", AUDIENCE_ID, "--filter", FILTER, "--limit", "250", "-o", str(out))
    assert r.returncode == 0, r.stderr
    got = read_jsonl(out)
    want = expected(sim, FILTER)
    assert 0 < len(want) < MEMBERS
    assert got == want
    q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
    assert got == q.members(AUDIENCE_ID, [("lifetime_value", ">", 100)])
    assert f"exported {len(want):,} members" in r.stdout
    assert not list(tmp_path.glob("*.part"))


def test_export_jsonl_keeps_encoded_filter_values(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "rr.jsonl"
    r = run_cli(
        sim,
        "export",
        AUDIENCE_ID,
        "--filter",
        "city=Rock & Roll",
        "--format",
        "jsonl",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    want = expected(sim, "city=Rock & Roll")
    assert want and read_jsonl(out) == want


def _attr_types(sim: Simulator) -> dict[str, str]:
    q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
    return q.attributes()


def test_export_csv_equals_direct_query(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    r = run_cli(sim, "export", AUDIENCE_ID, "--filter", FILTER, "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    types = _attr_types(sim)
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["memberId", "joinedAt", *types]
        rows = list(reader)
    want = expected(sim, FILTER)
    assert [r["memberId"] for r in rows] == ids(want)
    for row, m in zip(rows, want, strict=True):
        assert utc(row["joinedAt"]) == utc(m["joinedAt"])
        for name, ty in types.items():
            v, cell = m["attributes"].get(name), row[name]
            if v is None:
                assert cell == ""
            elif ty == "number":
                assert float(cell) == float(v)
            elif ty == "boolean":
                assert cell == ("true" if v else "false")
            else:
                assert cell == v


def test_export_parquet_equals_direct_query(sim: Simulator, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    out = tmp_path / "m.parquet"
    r = run_cli(sim, "export", AUDIENCE_ID, "--filter", FILTER, "-o", str(out))
    assert r.returncode == 0, r.stderr
    table = pq.read_table(out)
    types = _attr_types(sim)
    arrow_types = {
        "string": pa.utf8(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
    }
    assert table.schema.names == ["memberId", "joinedAt", *types]
    assert table.schema.field("memberId").type == pa.utf8()
    assert table.schema.field("joinedAt").type == pa.timestamp("us", tz="UTC")
    for name, ty in types.items():
        assert table.schema.field(name).type == arrow_types[ty]
    want = expected(sim, FILTER)
    rows = table.to_pylist()
    assert [r["memberId"] for r in rows] == ids(want)
    for row, m in zip(rows, want, strict=True):
        assert row["joinedAt"] == utc(m["joinedAt"])
        for name, ty in types.items():
            v = m["attributes"].get(name)
            if ty == "date" and v is not None:
                v = datetime.date.fromisoformat(v)
            elif ty == "number" and v is not None:
                v = float(v)
            assert row[name] == v


# ---------------------------------------------------------- interrupt, resume


def _wait_for_checkpoint(cp: Path, proc: subprocess.Popen[str], members: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if json.loads(cp.read_text())["members"] >= members:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    raise AssertionError("the checkpoint never showed progress")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_sigint_then_resume_gives_exact_member_set(
    fsim: Simulator, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"m.{fmt}"
    cp = tmp_path / "cp.json"
    fsim.set_faults(latency=0.05)
    args = ["export", AUDIENCE_ID, "--limit", "100", "-o", str(out), "--checkpoint", str(cp)]
    proc = popen_cli(fsim, *args)
    _wait_for_checkpoint(cp, proc, 300)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    saved = json.loads(cp.read_text())
    assert 300 <= saved["members"] < 2_000
    assert Path(saved["temp_path"]).exists()

    # Resuming with another query is refused (exit 2), and changes nothing.
    r = run_cli(fsim, *args, "--resume", "--filter", FILTER)
    assert r.returncode == 2
    assert "different query" in r.stderr
    assert json.loads(cp.read_text()) == saved

    fsim.clear_faults()
    fsim.reset()
    r = run_cli(fsim, *args, "--resume")
    assert r.returncode == 0, r.stderr
    assert f"resumed after {saved['members']:,}" in r.stdout
    # Only the pages after the checkpoint were fetched again.
    pages_left = (2_000 - saved["members"]) // 100
    assert fsim.stats()["api_requests"] <= pages_left + 2
    want = ids(expected(fsim))
    if fmt == "jsonl":
        got = ids(read_jsonl(out))
    elif fmt == "csv":
        with out.open(newline="", encoding="utf-8") as f:
            got = [row["memberId"] for row in csv.DictReader(f)]
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        got = pq.read_table(out).column("memberId").to_pylist()
    assert got == want
    assert not cp.exists() and not Path(saved["temp_path"]).exists()


def test_fatal_fault_exit_4_then_resume(fsim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    cp = tmp_path / "cp.json"
    fsim.reset()
    # Call 1 is the schema; the 6th API call (5th page) answers 503, not retried.
    fsim.set_faults(unavailable_every=6)
    args = ["export", AUDIENCE_ID, "--limit", "100", "-o", str(out), "--checkpoint", str(cp)]
    r = run_cli(fsim, *args, "--max-retries", "0")
    assert r.returncode == 4, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "503" in line and "correlationId" in line and "Traceback" not in r.stderr
    assert not out.exists()
    assert json.loads(cp.read_text())["members"] == 400
    fsim.clear_faults()
    r = run_cli(fsim, *args, "--resume")
    assert r.returncode == 0, r.stderr
    got = read_jsonl(out)
    assert got == expected(fsim)
    assert len(set(ids(got))) == 2_000


def test_failure_without_checkpoint_leaves_no_file(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    r = run_cli(sim, "export", "no-such-audience", "-o", str(out))
    assert r.returncode == 4
    assert "404" in r.stderr and "correlationId" in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = run_cli(sim, "export", "no-such-audience", "-o", str(out), "--debug")
    assert "Traceback" in r.stderr


# ----------------------------------------------------------------------- diff


def diff_summary(sim: Simulator, old: Path, new: Path, details: Path) -> list[int]:
    """`diff OLD NEW -o DETAILS`: the joined, left, changed, unchanged counts it prints."""
    r = run_cli(sim, "diff", str(old), str(new), "-o", str(details))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    labels = [line.split(":")[0] for line in lines]
    assert labels == ["joined", "left", "changed", "unchanged"], r.stdout
    return [int(line.split(":")[1]) for line in lines]


def test_diff_reports_exactly_the_edits(sim: Simulator, tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    r = run_cli(sim, "export", AUDIENCE_ID, "--filter", "is_vip=true", "-o", str(old))
    assert r.returncode == 0, r.stderr
    members = read_jsonl(old)
    assert len(members) > 3
    new_members = [dict(m) for m in members[1:]]  # members[0] left
    new_members[0] = {**new_members[0], "attributes": dict(new_members[0]["attributes"])}
    new_members[0]["attributes"]["city"] = "Elsewhere"  # changed
    joined = {**members[0], "memberId": "new-member"}
    new_members.append(joined)
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps(m) + "\n" for m in new_members), encoding="utf-8")
    details = tmp_path / "d.jsonl"
    assert diff_summary(sim, old, new, details) == [1, 1, 1, len(members) - 2]
    got = read_jsonl(details)
    assert got == [
        {
            "kind": "changed",
            "memberId": members[1]["memberId"],
            "fields": {"city": {"old": members[1]["attributes"]["city"], "new": "Elsewhere"}},
        },
        {"kind": "joined", "memberId": "new-member"},
        {"kind": "left", "memberId": members[0]["memberId"]},
    ]


def test_diff_of_two_filters_and_across_formats(sim: Simulator, tmp_path: Path) -> None:
    def export_narrow(path: Path) -> subprocess.CompletedProcess[str]:
        """The export of FILTER and is_vip=true to `path`."""
        filters = ["--filter", FILTER, "--filter", "is_vip=true"]
        return run_cli(sim, "export", AUDIENCE_ID, *filters, "-o", str(path))

    wide, narrow = tmp_path / "wide.jsonl", tmp_path / "narrow.csv"
    assert run_cli(sim, "export", AUDIENCE_ID, "--filter", FILTER, "-o", str(wide)).returncode == 0
    r = export_narrow(narrow)
    assert r.returncode == 0, r.stderr
    details = tmp_path / "d.jsonl"
    r = run_cli(sim, "diff", str(wide), str(narrow), "-o", str(details))
    assert r.returncode == 0, r.stderr
    left = set(ids(expected(sim, FILTER))) - set(ids(expected(sim, FILTER, "is_vip=true")))
    assert left
    assert f"left: {len(left)}" in r.stdout and "joined: 0" in r.stdout
    assert "changed: 0" in r.stdout  # JSONL against CSV: same values
    assert {d["memberId"] for d in read_jsonl(details)} == left
    pytest.importorskip("pyarrow.parquet")
    pq_path = tmp_path / "narrow.parquet"
    r = export_narrow(pq_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(sim, "diff", str(narrow), str(pq_path))
    assert r.stdout.splitlines()[:3] == ["joined: 0", "left: 0", "changed: 0"]


def test_diff_shows_what_the_membership_clock_moved(tmp_path: Path) -> None:
    with Simulator(members=800) as sim:
        old, new = tmp_path / "before.jsonl", tmp_path / "after.csv"
        assert run_cli(sim, "export", AUDIENCE_ID, "-o", str(old)).returncode == 0
        moved = sim.advance(joined=12, left=30, changed=45)
        r = run_cli(sim, "export", AUDIENCE_ID, "-o", str(new))
        assert r.returncode == 0, r.stderr
        details = tmp_path / "d.jsonl"
        assert diff_summary(sim, old, new, details) == [12, 30, 45, 800 - 30 - 45]
        kinds: dict[str, set[str]] = {}
        for d in read_jsonl(details):
            kinds.setdefault(d["kind"], set()).add(d["memberId"])
        assert kinds == {k: set(moved[k]) for k in ("joined", "left", "changed")}


# --------------------------------------------------------- errors, no request


@pytest.mark.parametrize("expr", ["city", "=Rock", "city!Rock", "ci ty=x", "lifetime_value"])
def test_bad_filter_exit_2_and_no_request(sim: Simulator, tmp_path: Path, expr: str) -> None:
    sim.reset()
    for cmd in (["count", AUDIENCE_ID], ["export", AUDIENCE_ID, "-o", str(tmp_path / "x.jsonl")]):
        r = run_cli(sim, *cmd, "--filter", "city=ok", "--filter", expr)
        assert r.returncode == 2, r.stderr
        assert repr(expr) in r.stderr or json.dumps(expr) in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    stats = sim.stats()
    assert (stats["token_requests"], stats["api_requests"]) == (0, 0)
    assert list(tmp_path.iterdir()) == []


def test_filter_typed_by_schema(sim: Simulator) -> None:
    sim.reset()
    r = run_cli(sim, "count", AUDIENCE_ID, "--filter", "lifetime_value=abc")
    assert r.returncode == 2 and "lifetime_value=abc" in r.stderr
    r = run_cli(sim, "count", AUDIENCE_ID, "--filter", "nope=1")
    assert r.returncode == 2 and "nope" in r.stderr
    # Only the schema was fetched: no count or members request.
    assert set(sim.stats()["by_endpoint"]) == {"attributes"}


def test_missing_credentials_exit_2_and_no_request(sim: Simulator, tmp_path: Path) -> None:
    sim.reset()
    for var in ("CXONE_CDP_CLIENT_SECRET", "CXONE_CDP_BASE_URL", "CXONE_CDP_CLIENT_ID"):
        r = run_cli(sim, "count", AUDIENCE_ID, env=cli_env(sim, **{var: None}))
        assert r.returncode == 2, r.stderr
        assert "missing connection settings" in r.stderr
    stats = sim.stats()
    assert (stats["token_requests"], stats["api_requests"]) == (0, 0)


def test_wrong_secret_exit_3_and_secret_never_echoed(sim: Simulator, tmp_path: Path) -> None:
    secret = "s3cr3t-value-not-to-print"
    r = run_cli(sim, "count", AUDIENCE_ID, env=cli_env(sim, CXONE_CDP_CLIENT_SECRET=secret))
    assert r.returncode == 3, r.stderr
    assert secret not in r.stderr + r.stdout
    f = tmp_path / "secret"
    f.write_text(sim.client_secret + "\n")
    env = cli_env(sim, CXONE_CDP_CLIENT_SECRET=None)
    r = run_cli(sim, "count", AUDIENCE_ID, "--client-secret-file", str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == MEMBERS


def test_count_validate_attributes(sim: Simulator) -> None:
    r = run_cli(sim, "count", AUDIENCE_ID, "--filter", "city~Paulo")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == len(expected(sim, "city~Paulo")) > 0
    r = run_cli(sim, "validate", AUDIENCE_ID, "--filter", "city!=x", "--filter", FILTER)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert (v["filters"], v["complexity"], v["count"]) == (
        2,
        4,
        len(expected(sim, "city!=x", FILTER)),
    )
    r = run_cli(sim, "attributes", "--json")
    assert json.loads(r.stdout) == _attr_types(sim)


# ------------------------------------------------------------------- progress


def test_progress_bar_only_on_a_terminal(fsim: Simulator, tmp_path: Path) -> None:
    fsim.set_faults(latency=0.02)
    args = [sys.executable, "-m", "cxone_cdp", "export", AUDIENCE_ID, "--limit", "100"]
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [*args, "-o", str(tmp_path / "a.jsonl")],
            env=cli_env(fsim),
            stdout=subprocess.PIPE,
            stderr=slave,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    finally:
        os.close(master)
    tty_err = b"".join(chunks).decode()
    assert proc.returncode == 0, tty_err
    assert "pages/s" in tty_err and "\r" in tty_err and "2,000/2,000 members" in tty_err
    assert "ETA" in tty_err

    r = run_cli(fsim, "export", AUDIENCE_ID, "--limit", "100", "-o", str(tmp_path / "b.jsonl"))
    assert r.returncode == 0
    # Piped: plain log lines only, no bar.
    assert "\r" not in r.stderr and "[#" not in r.stderr and "ETA" not in r.stderr
    r = run_cli(fsim, "export", AUDIENCE_ID, "--quiet", "-o", str(tmp_path / "c.jsonl"))
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


# ---------------------------------------------------------------- entry points


def test_demo_uses_the_querier() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cxone_cdp", "demo", "--members", "500", "--filter", "is_vip=true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("audience ") and "matching" in lines[0]
    assert sum(1 for line in lines if "value=" in line) == 5
    assert "client metrics:" in r.stdout


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("cxone-cdp")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for cmd in ("attributes", "count", "validate", "export", "diff", "simulate", "demo"):
        assert cmd in r.stdout


def test_access_key_mode_with_discovery() -> None:
    """--auth access_key --discover: the token endpoint and the API root come
    from the simulator's .well-known documents, the token from the password
    grant; the count equals the simulator's own."""
    with Simulator(members=MEMBERS) as sim:
        env = cli_env(
            sim,
            CXONE_CDP_BASE_URL=None,
            CXONE_CDP_TOKEN_URL=None,
            CXONE_CDP_ACCESS_KEY_SECRET=sim.access_key_secret,
        )
        r = run_cli(
            sim,
            "count",
            AUDIENCE_ID,
            "--filter",
            FILTER,
            "--auth",
            "access_key",
            "--access-key-id",
            sim.access_key_id,
            "--issuer",
            sim.issuer,
            "--discover",
            env=env,
        )
        assert r.returncode == 0, r.stderr
        assert int(r.stdout) == len(expected(sim, FILTER))
        stats = sim.stats()
        assert stats["token_by_grant"].get("password") == 1
        assert sim.access_key_secret not in r.stdout + r.stderr


def test_access_key_mode_missing_key_is_usage_error() -> None:
    with Simulator(members=10) as sim:
        env = cli_env(sim, CXONE_CDP_ACCESS_KEY_SECRET=None)
        r = run_cli(sim, "count", AUDIENCE_ID, "--auth", "access_key", env=env)
        assert r.returncode == 2
        assert "access-key-id" in r.stderr
        assert sim.stats()["token_requests"] == 0
