"""A report folder is enough to render its postmortem again, months later, without the source.

Beside the notebook, the HTML and ``findings.json``, a report keeps its query results as a
cache folder (``results/``), the parameters it ran with (``parameters.json``: the window, the
logging mode, the assumptions, the notes, the source by name) and a copy of its ``--ip-map``
(``ip-map.csv``). ``apim-snat report --source cache:DIR/results`` reads ``DIR/parameters.json``
and takes from it whatever the command line does not say, so the same findings come back.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.errors import KitError

PARAMETERS_FILE = "parameters.json"
IP_MAP_FILE = "ip-map.csv"


def keep_ip_map(folder: Path, path: str) -> str:
    """Copy the ``--ip-map`` file into the report folder; its name there ("" when no map was given)."""
    if not path:
        return ""
    try:
        shutil.copyfile(path, folder / IP_MAP_FILE)
    except OSError as err:
        raise KitError(f"--ip-map {Path(path).name}: cannot copy into the report ({err.strerror or err})") from None
    return IP_MAP_FILE


def keep_parameters(folder: Path, shown: dict[str, Any]) -> None:
    """Write the parameters the report ran with, as the notebook records them (no local path)."""
    kept = {name: value for name, value in shown.items() if name != "output_dir"}
    (folder / PARAMETERS_FILE).write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def earlier_report(specs: Sequence[str]) -> Path | None:
    """The report folder whose ``results/`` is the only source given, when it kept its parameters.

    >>> earlier_report(["file:x.parquet"]) is None
    True
    """
    if len(specs) != 1 or not specs[0].startswith("cache:"):
        return None
    folder = Path(specs[0].partition(":")[2]).expanduser().parent
    return folder if (folder / PARAMETERS_FILE).is_file() else None


def earlier_parameters(folder: Path) -> dict[str, Any]:
    """The window, mode, notes, options and assumptions an earlier report ran with; ``ip_map`` as a path.

    A file that is not the kit's parameters is one line, not a traceback.
    """
    path = folder / PARAMETERS_FILE
    try:
        given = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(given, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise KitError(f"{folder.name}/{PARAMETERS_FILE}: not the parameters of a report ({err})") from None
    kept = {name: given[name] for name in given if name != "source"}
    if kept.get("ip_map"):
        kept["ip_map"] = str(folder / IP_MAP_FILE)
    return kept
