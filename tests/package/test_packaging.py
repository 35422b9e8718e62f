"""Packaging: `maturin sdist` builds a source distribution holding what a
build needs (and nothing of the build's output), and the package metadata
declares no runtime dependency. (The abi3 wheel itself is built by
`maturin develop` for every test run; a second release build to check its
tag is left to release time: see the README's Packaging notes.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

REQUIRED = [
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "README.md",
    "crates/core/Cargo.toml",
    "crates/core/src/lib.rs",
    "crates/simulator/Cargo.toml",
    "crates/simulator/src/lib.rs",
    "crates/simulator/src/data.rs",
    "crates/python/Cargo.toml",
    "crates/python/src/lib.rs",
    "python/cxone_cdp/__init__.py",
    "python/cxone_cdp/_native.pyi",
    "python/cxone_cdp/py.typed",
    "python/cxone_cdp/testing.py",
    "python/cxone_cdp/pytest_plugin.py",
    "python/cxone_cdp/_metrics.py",
    "PKG-INFO",
]


def _maturin() -> str:
    exe = Path(sys.executable).parent / ("maturin.exe" if os.name == "nt" else "maturin")
    found = str(exe) if exe.exists() else shutil.which("maturin")
    if found is None:
        pytest.skip("maturin is not installed")
    return found


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> tarfile.TarFile:
    out = tmp_path_factory.mktemp("sdist")
    # Offline: everything cargo needs is already in its cache (the extension was built).
    env = {**os.environ, "CARGO_NET_OFFLINE": "true"}
    r = subprocess.run(
        [_maturin(), "sdist", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (archive,) = out.glob("cxone_cdp-*.tar.gz")
    return tarfile.open(archive)


def _names(sdist: tarfile.TarFile) -> set[str]:
    return {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}


def test_sdist_has_what_a_build_needs(sdist: tarfile.TarFile) -> None:
    names = _names(sdist)
    missing = [p for p in REQUIRED if p not in names]
    assert not missing, missing
    # Every Rust source of the crates is there (a missing module breaks the build).
    rust = {str(p.relative_to(ROOT)) for p in (ROOT / "crates").glob("*/src/**/*.rs")}
    assert rust <= names, sorted(rust - names)
    python = {str(p.relative_to(ROOT)) for p in (ROOT / "python").rglob("*.py")}
    assert python <= names, sorted(python - names)


def test_sdist_has_no_build_output(sdist: tarfile.TarFile) -> None:
    names = _names(sdist)
    leaked = [
        n
        for n in names
        if n.startswith(("target/", ".venv/", ".git/"))
        or n.endswith((".so", ".pyd", ".pyc"))
        or "__pycache__" in n
    ]
    assert not leaked, leaked[:10]


def test_sdist_metadata_declares_no_runtime_dependency(sdist: tarfile.TarFile) -> None:
    (pkg_info,) = [
        m for m in sdist.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
    ]
    f = sdist.extractfile(pkg_info)
    assert f is not None
    meta = f.read().decode()
    requires = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    assert requires, "the extras should be listed"
    unconditional = [ln for ln in requires if "extra ==" not in ln]
    assert not unconditional, unconditional
    assert "Requires-Python: >=3.10" in meta


def test_project_declares_abi3_and_no_dependencies() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == []
    assert "pyo3/abi3-py310" in project["tool"]["maturin"]["features"]
    extras = project["project"]["optional-dependencies"]
    assert {"arrow", "pandas", "polars", "spark", "test"} <= set(extras)
    # The README lists every extra.
    readme = (ROOT / "README.md").read_text()
    for extra in extras:
        assert f"| `{extra}` |" in readme, extra


def test_installed_module_is_the_abi3_build() -> None:
    from cxone_cdp import _native

    name = Path(_native.__file__).name
    if os.name != "nt":
        # abi3 builds are named `_native.abi3.so`, not `_native.cpython-311-...so`.
        assert name == "_native.abi3.so", name
