"""examples/explore.ipynb runs top to bottom in a fresh kernel of this
interpreter (nbclient + ipykernel) without any cell raising.

The kernel talks to this process over ZeroMQ on 127.0.0.1 and the notebook
only queries the embedded simulator (127.0.0.1). Jupyter, IPython and
matplotlib keep their files (connection file, history, font cache) under a
temporary directory, so nothing is written to the home directory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "explore.ipynb"
KERNEL = "cxone-cdp-test"


@pytest.fixture
def isolated_jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kernelspec for this interpreter and Jupyter/IPython/matplotlib dirs
    under `tmp_path` (the kernel inherits this process's environment)."""
    data = tmp_path / "jupyter-data"
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "cxone-cdp test kernel",
                "language": "python",
            }
        )
    )
    for var, sub in [
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_PATH", "jupyter-data"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
    ]:
        (tmp_path / sub).mkdir(exist_ok=True)
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # Proxies must never see the simulator's or the kernel's traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path


def _outputs(nb: nbformat.NotebookNode) -> list[str]:
    """Every text / HTML output of every cell, in order."""
    texts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append(out["text"])
            data = out.get("data", {})
            texts.extend(str(data[k]) for k in ("text/plain", "text/html") if k in data)
    return texts


def test_notebook_runs_top_to_bottom(isolated_jupyter: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=120,
        startup_timeout=60,
        allow_errors=False,
        resources={"metadata": {"path": str(isolated_jupyter)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "\n".join(_outputs(nb))
    # The cells did what they say: the refused filter, the plot, the metrics table.
    assert "ValidationError" in text
    assert "event loop running in this thread: True" in text
    assert "MemberIterator(audience_id=" in text
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert '<table class="cxone-cdp-metrics">' in text
    # DuckDB aggregated the streamed listing; the membership clock moved the audience.
    assert "avg_value" in text
    assert "joined: 50 | left: 120 | changed: 200 | count now: 19930" in text
    # No secret in anything the notebook shows.
    assert "sim-secret" not in text
    # The Parquet file went to a temp dir the notebook removed again.
    assert not list(Path.cwd().glob("*.parquet"))
