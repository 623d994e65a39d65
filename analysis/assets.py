"""Where the files that ship with the kit are: the KQL pack, the notebooks and the sample incident.

They live in the repository's top-level folders ``kql/``, ``notebooks/`` and ``data/``; the build
installs them as the resource packages ``analysis.kql``, ``analysis.notebooks`` and
``analysis.data`` (see ``pyproject.toml``), so ``importlib.resources`` finds them the same way in a
checkout (editable install) and in an installed wheel.

>>> (kql_dir() / "modes" / "resource.kql").is_file(), report_notebook().suffix
(True, '.ipynb')
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from analysis.errors import KitError

REPORT_NOTEBOOK = "snat_incident_report.ipynb"
EXPLORER_NOTEBOOK = "explore_incident.ipynb"
SAMPLE_LOGS = "gateway_logs.parquet"
#: The source spec that names the sample incident: what a report or a query reads when given no source.
SAMPLE_SOURCE = "sample"


def _folder(package: str) -> Path:
    """The folder of a resource package; papermill and DuckDB need real files, not a zip member."""
    folder = files(package)
    if not isinstance(folder, Path):
        raise KitError(f"{package} is not a folder on disk; install the kit unzipped (pip install)")
    return folder


def kql_dir() -> Path:
    """The packaged queries (``*.kql``), the mode preludes (``modes/``) and the table schemas (``schema/``)."""
    return _folder("analysis.kql")


def notebooks_dir() -> Path:
    """The report and explorer notebooks."""
    return _folder("analysis.notebooks")


def report_notebook() -> Path:
    """The notebook ``apim-snat report`` executes."""
    return notebooks_dir() / REPORT_NOTEBOOK


def sample_dir() -> Path:
    """The embedded sample incident: its logs in both logging modes and its truth."""
    return _folder("analysis.data") / "sample"
