#!/usr/bin/env python3
"""Project tasks, with nothing assumed but Python 3.10+, Rust (cargo) and pip.

    python3 tasks.py demo    # build the package into .venv and run the demo
    python3 tasks.py test    # build, then cargo test, pytest and the stub check
    python3 tasks.py test --spark   # the same with the optional Spark extra (~400 MB, Java 17+)
    python3 tasks.py lint    # cargo fmt --check, cargo clippy -D warnings, ruff
    python3 tasks.py bench   # the benchmark suite (bench/)

Everything is installed into ./.venv (created on first use), so the system
Python is never touched.
"""

from __future__ import annotations

import os
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


def test() -> None:
    # The Spark tests (tests/test_spark.py) skip unless pyspark is installed:
    # `--spark` installs it (a large download; Spark needs Java 17+).
    build("test,spark" if "--spark" in sys.argv[2:] else "test")
    run("cargo", "test", "--quiet")
    run(PY, "-m", "pytest", "-q", "tests")
    run(PY, "-m", "mypy.stubtest", "cxone_cdp._native", "--allowlist", "stubtest-allowlist.txt")


def lint() -> None:
    ensure_venv()
    run(PY, "-m", "pip", "install", "-q", "ruff")
    run("cargo", "fmt", "--all", "--", "--check")
    run("cargo", "clippy", "--all-targets", "--", "-D", "warnings")
    run(PY, "-m", "ruff", "check", "python", "tests", "bench", "tasks.py", "examples")


def bench() -> None:
    build("test")
    run(PY, "-m", "pip", "install", "-q", "orjson", "httpx", "pydantic", "pyarrow")
    run(PY, "bench/run.py", *sys.argv[2:])


TASKS = {"demo": demo, "test": test, "lint": lint, "bench": bench, "build": build}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        sys.exit(2)
    TASKS[sys.argv[1]]()
