"""What the report notebook calls: read its string parameters, investigate, keep the results.

Papermill hands every parameter over as plain text or numbers; this turns them
into typed values (a ``KitError`` for bad ones), runs the investigation, and
writes ``findings.json`` plus each query's result (Parquet) beside the report, so
every figure can be redrawn from the files without the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis import findings as findings_doc
from analysis.assumptions import from_params, param_text
from analysis.errors import KitError
from analysis.findings import FINDINGS_FILE
from analysis.investigation import Investigation, investigate
from analysis.pools import IpMap, parse_ip_map
from analysis.sources import open_source
from analysis.times import optional_time

RESULTS_DIR = "results"


def run(
    source: str,
    start: str | None = None,
    end: str | None = None,
    mode: str | None = None,
    output_dir: str | None = None,
    ip_map: str | None = None,
    **assumptions: Any,
) -> Investigation:
    """Investigate with the notebook's parameters and, when ``output_dir`` is set, save the results."""
    settings = from_params({name: param_text(value) for name, value in assumptions.items()})
    window_start, window_end = optional_time("start", start), optional_time("end", end)
    pools = read_ip_map(ip_map) if ip_map else None
    opened = open_source(source, mode or None)
    try:
        investigation = investigate(opened, window_start, window_end, settings, pools)
    finally:
        opened.close()
    if output_dir:
        save(investigation, Path(output_dir))
    return investigation


def read_ip_map(path: str | Path) -> IpMap:
    """The ``--ip-map`` file (CSV ``host,ip``); an unreadable or malformed one is a ``KitError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise KitError(f"--ip-map {path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    return parse_ip_map(text, f"--ip-map {Path(path).name}")


def save(investigation: Investigation, folder: Path) -> dict[str, Any]:
    """Write ``findings.json`` and the query results; return the findings document."""
    document = investigation.findings
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FINDINGS_FILE).write_text(findings_doc.dumps(document), encoding="utf-8")
    results = folder / RESULTS_DIR
    results.mkdir(exist_ok=True)
    for query_run in investigation.runs:
        query_run.result.to_parquet(results / f"{query_run.name}.parquet", index=False)
        (results / f"{query_run.name}.kql").write_text(query_run.kql, encoding="utf-8")
    return document
