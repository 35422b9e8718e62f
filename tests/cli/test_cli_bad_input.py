"""The CLI part of the bad-input matrix: every subcommand and every flag
that takes a value, fed hostile input, exits with code 2 and ONE line on
stderr (no traceback), never prints the client secret, and the simulator
counts ZERO requests (token requests included). Cases whose validity depends
on the attribute type (NaN for a number attribute, an unknown attribute)
need the schema: there the only request allowed is the one attributes call.

The matrix runs `cxone_cdp.cli.main(argv)` in-process (fast); a few cases run
the real console entry in a subprocess with undecodable bytes in argv (Python
hands them to the program as lone surrogates, via surrogateescape).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _cli_support import sim_env
from cxone_cdp import cli
from cxone_cdp.testing import AUDIENCE_ID, Simulator

MB = 1_000_000
SECRET = "cli-matrix-S3cr3t-7f3a9c"
KEY_SECRET = "cli-matrix-K3y-S3cr3t-51d0"


@pytest.fixture(scope="module")
def sim() -> Any:
    with Simulator(members=300, client_secret=SECRET, access_key_secret=KEY_SECRET) as s:
        yield s


def _env(sim: Simulator) -> dict[str, str]:
    return sim_env(sim)


ALL_ENV = [
    "CXONE_CDP_BASE_URL",
    "CXONE_CDP_TOKEN_URL",
    "CXONE_CDP_CLIENT_ID",
    "CXONE_CDP_CLIENT_SECRET",
    "CXONE_CDP_AUTH",
    "CXONE_CDP_ACCESS_KEY_ID",
    "CXONE_CDP_ACCESS_KEY_SECRET",
    "CXONE_CDP_ISSUER",
]

A = AUDIENCE_ID
OUT = "{tmp}/out.jsonl"
#: Commands taking AUDIENCE and --filter; export also needs -o.
QUERY_CMDS = {
    "count": ["count"],
    "validate": ["validate"],
    "export": ["export", "-o", OUT],
}
#: The API commands (connection flags apply).
API_CMDS = {"attributes": ["attributes"], **{k: v + [A] for k, v in QUERY_CMDS.items()}}

BAD_AUDIENCES = {
    "slash": "a/b",
    "query": "a?b=1",
    "dotdot": "..",
    "dotdot-path": "../x",
    "hash": "a#b",
    "backslash": "a\\b",
    "empty": "",
    "space": "a b",
    "control": "a\x01b",
    "newline": "a\nb",
    "nul-like": "a\x7fb",
    "surrogate": "a\udcffb",
    "1MB": "a" * MB,
}

#: Filter expressions refused without any request.
BAD_FILTERS_LOCAL = {
    "no operator": ["city"],
    "unknown operator word": ["city like x"],
    "bang without =": ["city!x"],
    "no attribute": ["=x"],
    "space in attribute": ["ci ty=x"],
    "attribute 1MB": ["a" * MB + "=x"],
    "attribute surrogate": ["ci\udcffty=x"],
    "value empty": ["city="],
    "value 1MB": ["city=" + "x" * MB],
    "value NUL": ["city=a\x00b"],
    "value CRLF": ["city=a\r\nb"],
    "value control": ["city=\x1b[31m"],
    "value surrogate": ["city=\udcff"],
    "51 filters": ["lifetime_value>1"] * 51,
    "complexity 101": ["city~a"] * 20 + ["city=b"],
    "2nd of 2 bad": ["city=ok", "city"],
}
#: Refusable only with the schema (the value's type decides): one attributes call.
BAD_FILTERS_SCHEMA = {
    "NaN": ["lifetime_value>nan"],
    "inf": ["lifetime_value>inf"],
    "-inf": ["lifetime_value<-inf"],
    "exponent": ["lifetime_value>1e309"],
    "unknown attribute": ["nope=1"],
    "contains on number": ["lifetime_value~1"],
    "bad boolean": ["is_vip=yes"],
    "bad date": ["last_purchase_date<2024-02-30"],
    "gt on boolean": ["is_vip>true"],
}

BAD_LIMITS = ["0", "1001", "-1", "10x", "nan", "inf", "1.5", "", " ", "1e3", "9" * 30, "0x10"]

#: (argv tail, extra env): a case of the connection settings, used with `count A`.
Connection = tuple[list[str], dict[str, str | None]]


def _bad_values(name: str, flag: str, values: dict[str, str]) -> dict[str, Connection]:
    """`flag VALUE` for each of `values`, as the cases "<name> <what>"."""
    return {f"{name} {what}": ([flag, value], {}) for what, value in values.items()}


BAD_CONNECTION: dict[str, Connection] = {
    **_bad_values(
        "base-url",
        "--base-url",
        {
            "empty": "",
            "not a url": "not a url",
            "ftp": "ftp://127.0.0.1/",
            "space": "http://a b/",
            "control": "http://127.0.0.1/\x00",
            "surrogate": "http://\udcff/",
            "1MB": "http://" + "a" * MB,
        },
    ),
    "env base-url bad": ([], {"CXONE_CDP_BASE_URL": "nope"}),
    **_bad_values("token-url", "--token-url", {"empty": "", "bad": "tok"}),
    **_bad_values(
        "client-id", "--client-id", {"empty": "", "control": "id\r\nX: y", "surrogate": "id\udcff"}
    ),
    "no client id": ([], {"CXONE_CDP_CLIENT_ID": None}),
    "no secret": ([], {"CXONE_CDP_CLIENT_SECRET": None}),
    "blank secret": ([], {"CXONE_CDP_CLIENT_SECRET": "   "}),
    **_bad_values(
        "secret file",
        "--client-secret-file",
        {
            "missing": "{tmp}/nope",
            "is a dir": "{tmp}",
            "empty": "{tmp}/empty",
            "not utf-8": "{tmp}/latin1",
            "control": "{tmp}/control",
            "empty name": "",
        },
    ),
    **_bad_values("auth", "--auth", {"unknown": "basic", "empty": ""}),
    "env auth unknown": ([], {"CXONE_CDP_AUTH": "password"}),
    "access key missing id": (["--auth", "access_key"], {"CXONE_CDP_ACCESS_KEY_SECRET": "k"}),
    "access key missing secret": (["--auth", "access_key", "--access-key-id", "kid"], {}),
    "access key secret file missing": (
        ["--auth", "access_key", "--access-key-id", "kid", "--access-key-secret-file", "{tmp}/no"],
        {},
    ),
    "access key secret file empty": (
        ["--auth", "access_key", "--access-key-id", "k", "--access-key-secret-file", "{tmp}/empty"],
        {},
    ),
    "issuer bad": (["--discover", "--issuer", "not a url"], {}),
    "issuer empty": (["--discover", "--issuer", ""], {}),
    **_bad_values(
        "timeout",
        "--timeout",
        {
            "0": "0",
            "-1": "-1",
            "nan": "nan",
            "inf": "inf",
            "1e300": "1e300",
            "word": "soon",
            "empty": "",
        },
    ),
    **_bad_values(
        "max-retries", "--max-retries", {"-1": "-1", "1.5": "1.5", "word": "many", "huge": "9" * 30}
    ),
    "unknown flag": (["--client-secret", "x"], {}),
}

BAD_EXPORT: dict[str, list[str]] = {
    "format unknown": ["--format", "xml", "-o", OUT],
    "format empty": ["--format", "", "-o", OUT],
    "format upper": ["--format", "JSONL", "-o", OUT],
    "no format, unknown extension": ["-o", "{tmp}/out.txt"],
    "no format, no extension": ["-o", "{tmp}/out"],
    "out missing": [],
    "out empty": ["-o", ""],
    "out empty with format": ["--format", "jsonl", "-o", ""],
    "out is a directory": ["--format", "jsonl", "-o", "{tmp}"],
    "out in missing directory": ["-o", "{tmp}/no/such/dir/out.jsonl"],
    "out under a file": ["-o", "{tmp}/empty/out.jsonl"],
    "out NUL": ["-o", "{tmp}/a\x00b.jsonl"],
    "out 1MB name": ["-o", "{tmp}/" + "a" * MB + ".jsonl"],
    "out name too long": ["-o", "{tmp}/" + "a" * 300 + ".jsonl"],
    "resume without checkpoint": ["-o", OUT, "--resume"],
    "checkpoint empty": ["-o", OUT, "--checkpoint", ""],
    "checkpoint is a directory": ["-o", OUT, "--checkpoint", "{tmp}"],
    "checkpoint in missing directory": ["-o", OUT, "--checkpoint", "{tmp}/no/ck.json"],
    "checkpoint garbage, resume": ["-o", OUT, "--checkpoint", "{tmp}/garbage", "--resume"],
    "checkpoint not utf-8, resume": ["-o", OUT, "--checkpoint", "{tmp}/latin1", "--resume"],
    "checkpoint other query, resume": ["-o", OUT, "--checkpoint", "{tmp}/other.ckpt", "--resume"],
    "checkpoint same as out": ["-o", OUT, "--checkpoint", OUT],
    "limit with export extra arg": ["-o", OUT, "extra"],
}

BAD_DIFF: dict[str, list[str]] = {
    "old missing": ["{tmp}/nope.jsonl", "{tmp}/good.jsonl"],
    "new missing": ["{tmp}/good.jsonl", "{tmp}/nope.jsonl"],
    "old is a directory": ["{tmp}", "{tmp}/good.jsonl"],
    "old empty name": ["", "{tmp}/good.jsonl"],
    "old NUL": ["{tmp}/a\x00b", "{tmp}/good.jsonl"],
    "old not json": ["{tmp}/garbage.jsonl", "{tmp}/good.jsonl"],
    "old json array line": ["{tmp}/array.jsonl", "{tmp}/good.jsonl"],
    "old json string line": ["{tmp}/string.jsonl", "{tmp}/good.jsonl"],
    "old json attributes not an object": ["{tmp}/badattrs.jsonl", "{tmp}/good.jsonl"],
    "old no memberId": ["{tmp}/noid.jsonl", "{tmp}/good.jsonl"],
    "old not utf-8": ["{tmp}/latin1.jsonl", "{tmp}/good.jsonl"],
    "old csv without memberId": ["{tmp}/noid.csv", "{tmp}/good.jsonl"],
    "old parquet garbage": ["{tmp}/garbage.parquet", "{tmp}/good.jsonl"],
    "old PAR1 garbage": ["{tmp}/par1", "{tmp}/good.jsonl"],
    "out in missing directory": ["{tmp}/good.jsonl", "{tmp}/good.jsonl", "-o", "{tmp}/no/d.jsonl"],
    "out is a directory": ["{tmp}/good.jsonl", "{tmp}/good.jsonl", "-o", "{tmp}"],
    "out empty": ["{tmp}/good.jsonl", "{tmp}/good.jsonl", "-o", ""],
    "one file only": ["{tmp}/good.jsonl"],
}

BAD_DEMO: dict[str, list[str]] = {
    "members -1": ["--members", "-1"],
    "members word": ["--members", "many"],
    "members float": ["--members", "1.5"],
    "members huge": ["--members", "9" * 30],
    "members 10**12": ["--members", str(10**12)],
    "filter malformed": ["--members", "10", "--filter", "city"],
    "filter 51": ["--members", "10"] + [a for _ in range(51) for a in ("--filter", "city=x")],
    "filter value NUL": ["--members", "10", "--filter", "city=a\x00"],
    "filter unknown attribute": ["--members", "10", "--filter", "nope=1"],
    "filter NaN": ["--members", "10", "--filter", "lifetime_value>nan"],
}

BAD_SIMULATE: dict[str, list[str]] = {
    "port -1": ["--port", "-1"],
    "port 65536": ["--port", "65536"],
    "port word": ["--port", "http"],
    "members -1": ["--members", "-1"],
    "members 10**12": ["--members", str(10**12)],
    "latency nan": ["--port", "0", "--latency", "nan"],
    "latency -1": ["--port", "0", "--latency", "-1"],
    "latency inf": ["--port", "0", "--latency", "inf"],
    "latency 1e300": ["--port", "0", "--latency", "1e300"],
    "port in use": ["--port", "{port}"],
    "token-lifetime nan": ["--port", "0", "--token-lifetime", "nan"],
    "revoke-after -1": ["--port", "0", "--revoke-after", "-1"],
    "token-delay inf": ["--port", "0", "--token-delay", "inf"],
    "rate-limit-every 0": ["--port", "0", "--rate-limit-every", "0"],
    "rate-limit-every -3": ["--port", "0", "--rate-limit-every", "-3"],
    "retry-after-secs -1": ["--port", "0", "--retry-after-secs", "-1"],
    "drop-every word": ["--port", "0", "--drop-every", "often"],
    "client-id empty": ["--port", "0", "--client-id", ""],
    "client-secret empty": ["--port", "0", "--client-secret", ""],
}

# case id -> (argv, extra env, allowed requests: "none" | "schema")
CASES: dict[str, tuple[list[str], dict[str, str | None], str]] = {}
for cmd, head in QUERY_CMDS.items():
    for name, aud in BAD_AUDIENCES.items():
        CASES[f"{cmd} audience {name}"] = (head + [aud], {}, "none")
        CASES[f"{cmd} audience {name} + filter"] = (
            head + [aud, "--filter", "city=x"],
            {},
            "none",
        )
    for name, exprs in BAD_FILTERS_LOCAL.items():
        argv = head + [A] + [a for e in exprs for a in ("--filter", e)]
        CASES[f"{cmd} filter {name}"] = (argv, {}, "none")
    for name, exprs in BAD_FILTERS_SCHEMA.items():
        argv = head + [A] + [a for e in exprs for a in ("--filter", e)]
        CASES[f"{cmd} filter {name}"] = (argv, {}, "schema")
    CASES[f"{cmd} no audience"] = (head, {}, "none")
    CASES[f"{cmd} filter flag without value"] = (head + [A, "--filter"], {}, "none")
for cmd in ("validate", "export"):
    for lim in BAD_LIMITS:
        CASES[f"{cmd} limit {lim!r}"] = (QUERY_CMDS[cmd] + [A, "--limit", lim], {}, "none")
        CASES[f"{cmd} limit {lim!r} + filter"] = (
            QUERY_CMDS[cmd] + [A, "--limit", lim, "--filter", "city=x"],
            {},
            "none",
        )
CASES["count limit (no such flag)"] = (["count", A, "--limit", "10"], {}, "none")
for cmd, head in API_CMDS.items():
    for name, (tail, env) in BAD_CONNECTION.items():
        CASES[f"{cmd} {name}"] = (head + tail, env, "none")
for name, tail in BAD_EXPORT.items():
    CASES[f"export {name}"] = (["export", A] + tail, {}, "none")
    CASES[f"export {name} + filter"] = (["export", A, "--filter", "city=x"] + tail, {}, "none")
for name, tail in BAD_DIFF.items():
    CASES[f"diff {name}"] = (["diff"] + tail, {}, "none")
for name, tail in BAD_DEMO.items():
    CASES[f"demo {name}"] = (["demo"] + tail, {}, "none")
for name, tail in BAD_SIMULATE.items():
    CASES[f"simulate {name}"] = (["simulate"] + tail, {}, "none")
CASES["no command"] = ([], {}, "none")
CASES["unknown command"] = (["members", A], {}, "none")
CASES["unknown global flag"] = (["--verbose", "count", A], {}, "none")


def _files(tmp: Path, sim: Simulator) -> None:
    """The input files the cases name."""
    (tmp / "empty").write_text("")
    (tmp / "latin1").write_bytes(b"s\xe9cret\xff\n")
    (tmp / "latin1.jsonl").write_bytes(b'{"memberId": "m\xe9"}\n')
    (tmp / "control").write_text("sec\x00ret\n")
    (tmp / "garbage").write_text("{not json")
    (tmp / "garbage.jsonl").write_text("{not json\n")
    (tmp / "array.jsonl").write_text("[1, 2]\n")
    (tmp / "string.jsonl").write_text('"m1"\n')
    (tmp / "badattrs.jsonl").write_text('{"memberId": "m1", "attributes": [1]}\n')
    (tmp / "noid.jsonl").write_text('{"joinedAt": "2024-01-01T00:00:00Z"}\n')
    (tmp / "noid.csv").write_text("a,b\n1,2\n")
    (tmp / "garbage.parquet").write_bytes(b"not parquet at all")
    (tmp / "par1").write_bytes(b"PAR1 but then nothing")
    (tmp / "good.jsonl").write_text('{"memberId": "m1", "attributes": {"city": "x"}}\n')
    # A checkpoint of another query (audience differs), in the export's format.
    ck = {
        "version": 1,
        "fingerprint": {"audience_id": "other", "filters": [], "limit": 1000, "format": "jsonl"},
        "cursor": "c",
        "members": 1,
        "pages": 1,
        "output": str(tmp / "out.jsonl.part"),
        "valid_bytes": 0,
    }
    import json

    (tmp / "other.ckpt").write_text(json.dumps(ck))


def _fill(argv: list[str], tmp: Path, sim: Simulator) -> list[str]:
    return [a.replace("{tmp}", str(tmp)).replace("{port}", str(sim.port)) for a in argv]


def _requests(sim: Simulator) -> tuple[int, dict[str, int]]:
    s = sim.stats()
    return s["token_requests"] + s["api_requests"], dict(s["by_endpoint"])


def _run(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse
        return e.code if isinstance(e.code, int) else 1


@pytest.mark.parametrize("case", list(CASES))
def test_cli_bad_input_exit_2_one_line_no_request(
    sim: Simulator, case: str, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    argv, extra, allowed = CASES[case]
    for k in ALL_ENV:
        monkeypatch.delenv(k, raising=False)
    for k, v in {**_env(sim), **extra}.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)

    def no_serving(_: float) -> None:  # `simulate` must never get to serve
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", no_serving)
    _files(tmp_path, sim)
    before = sorted(p.name for p in tmp_path.iterdir())
    sim.reset()
    code = _run(_fill(argv, tmp_path, sim))
    out, err = capsys.readouterr()
    n, by_endpoint = _requests(sim)
    assert code == 2, (code, out[-2000:], err[-2000:])
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith("cxone-cdp"), lines[0][:300]
    assert len(lines[0]) <= 1000, lines[0][:300]
    assert SECRET not in out + err and KEY_SECRET not in out + err
    assert "sec\x00ret" not in err and "s\xe9cret" not in err
    if allowed == "none":
        assert n == 0, sim.stats()
    else:
        # Only the schema was read: one token, one attributes call.
        assert sim.stats()["token_requests"] <= 1
        assert by_endpoint == {"attributes": 1}, sim.stats()
    # Nothing written next to the inputs (no PATH.part, no checkpoint).
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ------------------------------------------- real processes, undecodable argv

SUBPROCESS_CASES = {
    "audience bytes": [b"count", b"a\xffb"],
    "filter value bytes": [b"count", A.encode(), b"--filter", b"city=\xff\xfe"],
    "filter attribute bytes": [b"count", A.encode(), b"--filter", b"c\xffity=x"],
    "limit bytes": [b"validate", A.encode(), b"--limit", b"1\xff"],
    "format bytes": [b"export", A.encode(), b"--format", b"\xff", b"-o", b"x.jsonl"],
    "secret file bytes": [b"count", A.encode(), b"--client-secret-file", b"/nonexistent/\xff"],
    "base-url bytes": [b"count", A.encode(), b"--base-url", b"http://\xff/"],
    "diff bytes": [b"diff", b"/nonexistent/\xff.jsonl", b"/nonexistent/b.jsonl"],
    "out in missing dir bytes": [b"export", A.encode(), b"-o", b"/nonexistent/\xff/x.jsonl"],
}


@pytest.mark.parametrize("case", list(SUBPROCESS_CASES))
def test_cli_undecodable_argv_in_a_real_process(sim: Simulator, case: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ALL_ENV}
    env.update(_env(sim))
    env["PYTHONUTF8"] = "0"
    env["LC_ALL"] = "C.UTF-8"
    sim.reset()
    r = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"cxone_cdp", *SUBPROCESS_CASES[case]],
        env=env,
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )
    err = r.stderr.decode("utf-8", "backslashreplace")
    assert r.returncode == 2, err
    assert b"Traceback" not in r.stderr
    assert len(err.strip().splitlines()) == 1, err
    assert SECRET.encode() not in r.stdout + r.stderr
    n, _ = _requests(sim)
    assert n == 0, sim.stats()
    assert list(tmp_path.iterdir()) == []
