"""A report folder is enough to render its postmortem again, months later, without the source.

Beside the notebook, the HTML and ``findings.json``, a report keeps its query results as a
cache folder (``results/``), the parameters it ran with (``parameters.json``: the window, the
logging mode, the assumptions, the notes, the source by name) and a copy of its ``--ip-map``
(``ip-map.csv``). ``apim-snat report --source cache:DIR/results`` reads ``DIR/parameters.json``
and takes from it whatever the command line does not say (``under_earlier``), so the same findings come back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis.diagnosis.pools import IpMap
from analysis.errors import KitError, excerpt
from analysis.report.outfolder import write_private
from analysis.safety.untrusted import Bound, read_object

PARAMETERS_FILE = "parameters.json"
IP_MAP_FILE = "ip-map.csv"
#: What ``parameters.json`` says as text; ``redact`` is a flag and the rest are assumptions.
TEXT_PARAMETERS = ("start", "end", "mode", "annotations", "ip_map", "metrics_resource", "metrics_region")


def keep_ip_map(folder: Path, ip_map: IpMap | None, redact: Callable[[str, str], str] | None = None) -> str:
    """Write the ``--ip-map`` into the report folder as ``host,ip`` lines; its name there ("" without one).

    Only the two columns the kit reads are kept (a map may carry notes that are nobody else's
    business); ``redact`` (``sharing.Pseudonyms``) names each IP as the report names addresses.
    """
    if ip_map is None:
        return ""
    lines = ["host,ip"]
    for host, ips in sorted(ip_map.hosts.items()):
        lines.extend(f"{host},{redact('ip', ip) if redact else ip}" for ip in ips)
    write_private(folder / IP_MAP_FILE, "\n".join(lines) + "\n")
    return IP_MAP_FILE


def keep_parameters(folder: Path, shown: dict[str, Any]) -> None:
    """Write the parameters the report ran with, as the notebook records them (no local path)."""
    kept = {name: value for name, value in shown.items() if name != "output_dir"}
    write_private(folder / PARAMETERS_FILE, json.dumps(kept, indent=1, sort_keys=True) + "\n")


def earlier_report(specs: Sequence[str]) -> Path | None:
    """The report folder whose ``results/`` is the only source given, when it kept its parameters.

    >>> earlier_report(["file:x.parquet"]) is None
    True
    """
    if len(specs) != 1 or not specs[0].startswith("cache:"):
        return None
    folder = Path(specs[0].partition(":")[2]).expanduser().parent
    return folder if (folder / PARAMETERS_FILE).exists() or (folder / PARAMETERS_FILE).is_symlink() else None


def _fits(name: str, value: Any) -> bool:
    """Whether ``value`` is what ``parameters.json`` may say for ``name``."""
    if name in TEXT_PARAMETERS:
        return value is None or isinstance(value, str)
    if name == "redact":
        return isinstance(value, bool)
    if isinstance(value, Mapping):  # units_by_region: region -> units
        return all(isinstance(k, str) and isinstance(v, (int, str)) for k, v in value.items())
    # None: an optional setting left to the data (connect_timeout_s); a required one given so fails in from_params.
    return value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool))


def earlier_parameters(folder: Path) -> dict[str, Any]:
    """The window, mode, notes, options and assumptions an earlier report ran with; ``ip_map`` as a path.

    The folder may be anyone's: the file is read as ``analysis.safety.untrusted`` reads (a regular file,
    no link, at most ``Bound.PARAMETERS``), and a value of the wrong type is one line, not a traceback.
    """
    what = f"{folder.name}/{PARAMETERS_FILE}"
    given = read_object(folder / PARAMETERS_FILE, Bound.PARAMETERS, what)
    for name, value in given.items():
        if name != "source" and not _fits(name, value):
            raise KitError(f"{what}: not the parameters of a report ({excerpt(name)} is {excerpt(value)})")
    kept = {name: given[name] for name in given if name != "source"}
    if kept.get("ip_map"):
        kept["ip_map"] = str(folder / IP_MAP_FILE)
    return kept


def under_earlier(given: Mapping[str, Any], say: Callable[[str], None]) -> dict[str, Any]:
    """The command line's parameters ``given`` (None, "" or False for one it does not give) over those of the
    earlier report whose ``results/`` are its only source; ``given`` alone when there is none."""
    folder = earlier_report(given.get("source") or [])
    if folder is None:
        return dict(given)
    say(f"rendering again with the parameters of the report in {folder.name} (the command line's come first)")
    return {**earlier_parameters(folder), **{name: value for name, value in given.items() if value}}
