"""The committed notebooks: each names the kit's kernel and is stored clean, as papermill and JupyterLab need."""

from __future__ import annotations

import os
import subprocess

import nbformat
import pytest

from analysis.report.render import KERNEL_NAME
from tests.paths import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# What a clean notebook may carry: papermill's parameters tag, nothing a run leaves behind.
CELL_METADATA = {"tags"}
NOTEBOOK_METADATA = {"kernelspec", "language_info", "title"}


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["explore_incident.ipynb", "snat_incident_report.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_names_the_kits_kernel(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.kernelspec == {
        "display_name": "Python (apim-snat kit)",
        "language": "python",
        "name": KERNEL_NAME,
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_is_stored_without_outputs_or_run_metadata(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert set(notebook.metadata) <= NOTEBOOK_METADATA
    for cell in notebook.cells:
        assert set(cell.metadata) <= CELL_METADATA, cell.metadata
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_holds_a_local_path(path):
    text = path.read_text(encoding="utf-8")
    for local in ("/home/", "/root/", "/tmp/", "/work/", "/Users/", "C:\\\\"):
        assert local not in text


def test_the_documented_command_starts_jupyterlab_on_the_explorer():
    outside_make = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "lab"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=outside_make,
    ).stdout
    as_root = "--allow-root " if os.getuid() == 0 else ""  # Jupyter will not start as root without it
    assert planned.splitlines()[-1] == f".venv/bin/jupyter lab {as_root}notebooks/explore_incident.ipynb"
    assert "make lab" in (REPO / "README.md").read_text(encoding="utf-8")
