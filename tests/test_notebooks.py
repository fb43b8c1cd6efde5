"""The teaching notebooks in notebooks/ run top to bottom without an error.

Each notebook is copied to a temporary directory and executed there with
nbclient in a fresh kernel of the Python running the tests; a cell that raises
fails the test.  The notebooks assert their own results, so a wrong number
fails too.  nbclient, ipykernel and matplotlib come with the ``test`` extra;
they are imported unconditionally: a missing one is an error, not a skip.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import sys

import matplotlib  # noqa: F401  (the notebooks plot; fail here, not in a cell, if it is missing)
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds per cell
KERNEL = "pyautodiff-notebooks"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernelspec for this very interpreter, so the notebooks test the installation under test."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (tests)",
        "language": "python",
    }))
    return root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_dir, tmp_path, monkeypatch):
    # Headless and non-interactive: figures are rendered to PNG in the outputs, never shown.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.delenv("PYAUTODIFF_VERIFY", raising=False)
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        f"{path.name} is stored with outputs; clear them before committing"
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if one fails
