"""What the report notebook calls: its parameters become a report request, investigated, the results kept.

Papermill hands every parameter over as plain text or numbers; ``ReportRequest.from_parameters`` turns
them into typed values (a ``KitError`` for bad ones), ``pipeline.collect`` runs the queries and fetches the
metric witness as the command line did (here answered from its cache), and ``save`` writes
``findings.json`` plus each query's result beside the report, in ``results/`` as a cache folder (Parquet
and provenance, ``analysis.sources.cache``): every figure can be redrawn from the files without the
source, and ``--source cache:DIR/results`` renders the report again from them alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis.investigation import findings as findings_doc
from analysis.investigation.findings import FINDINGS_FILE
from analysis.investigation.run import Investigation
from analysis.report.pipeline import collect
from analysis.report.request import ReportRequest
from analysis.sources import SourceOptions
from analysis.sources.cache import CacheFolder

RESULTS_DIR = "results"


def run(namespace: Mapping[str, Any]) -> Investigation:
    """Investigate with the notebook's parameters and, when its ``output_dir`` is set, save the results.

    ``namespace`` holds the parameters by name (the notebook passes its globals: the names of its
    parameters cell are read, nothing else); see ``ReportRequest`` for what each means.
    """
    investigation = collect(ReportRequest.from_parameters(namespace), SourceOptions.from_environment()).investigation()
    if namespace.get("output_dir"):
        save(investigation, Path(namespace["output_dir"]))
    return investigation


def save(investigation: Investigation, folder: Path) -> dict[str, Any]:
    """Write ``findings.json`` and the query results (a cache folder); return the findings document."""
    document = investigation.findings
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FINDINGS_FILE).write_text(findings_doc.dumps(document), encoding="utf-8")
    results = CacheFolder.create(
        folder / RESULTS_DIR,
        investigation.source,
        investigation.mode,
        investigation.absent_columns,
        investigation.data_quality,
        investigation.self_hosted,
    )
    for query_run in investigation.queried or investigation.runs:
        query_run.result.attrs.setdefault("duration_s", query_run.duration_s)
        results.store(query_run.name, query_run.kql, query_run.parameters, query_run.result)
    return document
