"""The scripts in examples/ run, and type-check under `mypy --strict`
(against the package's stubs, `_native.pyi`), so a stub or API change that
breaks users' typed code fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_there_are_examples() -> None:
    assert {"quickstart.py", "async_members.py", "streaming_arrow.py", "dlt_pipeline.py"} <= set(
        SCRIPTS
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script: str, tmp_path: Path) -> None:
    if script == "streaming_arrow.py":
        pytest.importorskip("pyarrow")
    if script == "dlt_pipeline.py":
        pytest.importorskip("dlt", reason="needs the dlt extra")
        pytest.importorskip("duckdb", reason="needs dlt[duckdb]")
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "sim-secret" not in r.stdout + r.stderr


def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(EXAMPLES),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
