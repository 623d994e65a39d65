"""What the report notebook calls: read its string parameters, investigate, keep the results.

Papermill hands every parameter over as plain text or numbers; this turns them
into typed values (a ``KitError`` for bad ones), runs the investigation, and
writes ``findings.json`` plus each query's result beside the report, in ``results/``
as a cache folder (Parquet and provenance, ``analysis.sources.cache``): every figure
can be redrawn from the files without the source, and ``--source cache:DIR/results``
renders the report again from them alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis import findings as findings_doc
from analysis.assumptions import from_params
from analysis.findings import FINDINGS_FILE
from analysis.investigation import Investigation, investigate
from analysis.sources import SourceOptions, open_source
from analysis.sources.cache import CacheFolder
from analysis.times import optional_time

RESULTS_DIR = "results"


def run(
    source: str,
    start: str | None = None,
    end: str | None = None,
    mode: str | None = None,
    output_dir: str | None = None,
    **assumptions: Any,
) -> Investigation:
    """Investigate with the notebook's parameters and, when ``output_dir`` is set, save the results."""
    settings = from_params({name: str(value) for name, value in assumptions.items()})
    window_start, window_end = optional_time("start", start), optional_time("end", end)
    opened = open_source(source, mode or None, SourceOptions.from_environment())
    try:
        investigation = investigate(opened, window_start, window_end, settings)
    finally:
        opened.close()
    if output_dir:
        save(investigation, Path(output_dir))
    return investigation


def save(investigation: Investigation, folder: Path) -> dict[str, Any]:
    """Write ``findings.json`` and the query results (a cache folder); return the findings document."""
    document = investigation.findings
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FINDINGS_FILE).write_text(findings_doc.dumps(document), encoding="utf-8")
    results = CacheFolder.create(folder / RESULTS_DIR, investigation.source, investigation.mode)
    for query_run in investigation.queried or investigation.runs:
        query_run.result.attrs.setdefault("duration_s", query_run.duration_s)
        results.store(query_run.name, query_run.kql, query_run.parameters, query_run.result)
    return document
