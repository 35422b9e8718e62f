#!/usr/bin/env python3
"""Project tasks, with nothing assumed but Python 3.10+, Rust (cargo) and pip.

    python3 tasks.py demo    # build the package into .venv and run the demo
    python3 tasks.py test    # build, then cargo test, pytest and the stub check
                             # (with the Spark extra, ~400 MB, where Java 17+ runs)
    python3 tasks.py test --no-spark   # the same without the Spark extra
    python3 tasks.py lint    # cargo fmt --check, cargo clippy -D warnings, ruff
    python3 tasks.py bench   # the benchmark suite (bench/)
    python3 tasks.py wheel   # sdist + release abi3 wheel for manylinux2014 into dist/,
                             # checked (auditwheel, abi3audit, a listing from a bare venv)

Everything is installed into ./.venv (created on first use), so the system
Python is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
TOOLS = ["maturin>=1.9,<2"]


def run(*cmd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    full_env = {**os.environ, "VIRTUAL_ENV": str(VENV), **(env or {})}
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=full_env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", *TOOLS)


def build(extras: str = "") -> None:
    """Compile the extension (release profile) and install it editable into .venv."""
    ensure_venv()
    args = ["develop", "--release"]
    if extras:
        args += ["--extras", extras]
    run(BIN / "maturin", *args)


def demo() -> None:
    build()
    run(PY, "-m", "cxone_cdp", "demo")


def java_major() -> int | None:
    """The major version of the `java` on PATH (or in JAVA_HOME), None if none runs."""
    java = shutil.which("java")
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        java = str(Path(home) / "bin" / "java")
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if m is None:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def test() -> None:
    # The Spark tests (tests/test_spark.py) need pyspark (the `spark` extra, a
    # large download) and Java 17+: the extra is installed wherever such a Java
    # runs, unless `--no-spark`; elsewhere those tests skip, saying why.
    spark = "--no-spark" not in sys.argv[2:]
    if spark:
        major = java_major()
        if major is None or major < 17:
            found = "no Java runtime" if major is None else f"Java {major}"
            print(
                f"tasks.py: {found} found (Spark 4 needs Java 17+ on PATH or in JAVA_HOME): "
                "the Spark tests will be skipped",
                flush=True,
            )
            spark = False
    build("test,spark" if spark else "test")
    run("cargo", "test", "--workspace", "--quiet")
    run(PY, "-m", "pytest", "-q", "tests")
    run(PY, "-m", "mypy.stubtest", "cxone_cdp._native", "--allowlist", "stubtest-allowlist.txt")


def lint() -> None:
    ensure_venv()
    run(PY, "-m", "pip", "install", "-q", "ruff")
    run("cargo", "fmt", "--all", "--", "--check")
    run("cargo", "clippy", "--workspace", "--all-targets", "--", "-D", "warnings")
    run(PY, "-m", "ruff", "check", "python", "tests", "bench", "tasks.py", "examples")


def bench() -> None:
    build("test")
    run(PY, "-m", "pip", "install", "-q", "orjson", "httpx", "pydantic", "pyarrow")
    run(PY, "bench/run.py", *sys.argv[2:])


DIST = ROOT / "dist"
#: The wheel's tools: zig (from PyPI) links against glibc 2.17, the manylinux2014 floor.
WHEEL_TOOLS = ["ziglang", "auditwheel>=6", "abi3audit"]
#: What `wheel` runs in a bare venv that has nothing but the wheel.
SMOKE = """
import cxone_cdp
from cxone_cdp.testing import AUDIENCE_ID, Simulator
with Simulator(members=2500) as sim:
    q = cxone_cdp.Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
    got = q.members(AUDIENCE_ID)
    assert len(got) == 2500, len(got)
    want = sim.expected_members(AUDIENCE_ID)
    assert {m["memberId"] for m in got} == {m["memberId"] for m in want}
print("listing from the installed wheel:", len(got), "members, cxone_cdp", cxone_cdp.__version__)
# The wheel is stripped: a Rust panic must still unwind into a Python exception.
try:
    cxone_cdp._native._panic_for_test("sync")
except cxone_cdp.CxoneError as e:
    assert e.code == "panic", e
    print("a panic in the installed wheel is a Python exception:", type(e).__name__)
else:
    raise SystemExit("the deliberate panic raised nothing")
"""


def output(*cmd: str | os.PathLike[str]) -> str:
    """`run`, returning what the command printed."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, env=full_env, capture_output=True, text=True
    )
    sys.stdout.write(r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit(r.returncode)
    return r.stdout + r.stderr


def wheel() -> None:
    """The sdist and the release abi3 wheel for manylinux2014 (glibc 2.17)
    into dist/, then checked: auditwheel must place the wheel at
    manylinux_2_17 or older, abi3audit must find it clean, and a bare venv
    with nothing but the wheel must run a listing against its simulator."""
    ensure_venv()
    run(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", *WHEEL_TOOLS)
    shutil.rmtree(DIST, ignore_errors=True)
    run(BIN / "maturin", "sdist", "--out", DIST)
    run(
        BIN / "maturin",
        "build",
        "--release",
        "--strip",
        "--zig",
        "--compatibility",
        "manylinux2014",
        "--out",
        DIST,
    )
    wheels = sorted(DIST.glob("*.whl"))
    if len(wheels) != 1 or "abi3" not in wheels[0].name:
        sys.exit(f"tasks.py wheel: expected one abi3 wheel in dist/, found {wheels}")
    whl = wheels[0]
    shown = output(BIN / "auditwheel", "show", whl)
    tag = re.search(
        r'consistent with the following platform tag:\s*"?manylinux_(\d+)_(\d+)',
        " ".join(shown.split()),
    )
    if tag is None or (int(tag.group(1)), int(tag.group(2))) > (2, 17):
        sys.exit(f"tasks.py wheel: auditwheel does not place {whl.name} at manylinux_2_17")
    run(BIN / "abi3audit", "--strict", "--report", whl)
    bare = ROOT / "build" / "wheel-venv"
    shutil.rmtree(bare, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(bare)
    bare_py = bare / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(
        bare_py,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-index",
        whl,
    )
    run(bare_py, "-I", "-c", SMOKE)
    size = whl.stat().st_size
    print(
        f"tasks.py wheel: {whl.name}, {size / 1e6:.1f} MB; sdist "
        f"{', '.join(p.name for p in DIST.glob('*.tar.gz'))}",
        flush=True,
    )


TASKS = {
    "demo": demo,
    "test": test,
    "lint": lint,
    "bench": bench,
    "build": build,
    "wheel": wheel,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        sys.exit(2)
    TASKS[sys.argv[1]]()
