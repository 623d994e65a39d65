"""What the report notebook calls: read its string parameters, investigate, keep the results.

Papermill hands every parameter over as plain text or numbers; this turns them
into typed values (a ``KitError`` for bad ones), runs the investigation, and
writes ``findings.json`` plus each query's result beside the report, in ``results/``
as a cache folder (Parquet and provenance, ``analysis.sources.cache``): every figure
can be redrawn from the files without the source, and ``--source cache:DIR/results``
renders the report again from them alone. The source is seen through ``sharing``:
described without local paths, and redacted when asked.

With a metrics target (the APIM service's resource id and region) the logged rows are
also set beside the ``Requests`` platform metric (``analysis.diagnosis.witness``): the command
line and the notebook call ``second_witness`` alike, the first to fill the cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.diagnosis import witness
from analysis.diagnosis.annotations import loads as read_annotations
from analysis.diagnosis.assumptions import from_params, param_text
from analysis.diagnosis.pools import IpMap, parse_ip_map
from analysis.errors import KitError
from analysis.investigation import findings as findings_doc
from analysis.investigation.findings import FINDINGS_FILE
from analysis.investigation.run import Investigation, QueryRun, investigate, run_query, timed_run
from analysis.postmortem import portal
from analysis.safety.untrusted import Bound, read_text
from analysis.sources import SourceOptions, open_source, split_specs
from analysis.sources.base import Source
from analysis.sources.cache import CacheFolder
from analysis.sources.sharing import shared
from analysis.times import iso, user_window

RESULTS_DIR = "results"
METRIC_RUN = "requests_metric"


def metrics_target(
    specs: Sequence[str],
    resource: str | None,
    region: str | None,
    source: Source | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> tuple[str, str] | None:
    """The APIM service whose ``Requests`` metric to fetch, and its region; None for no metric.

    The resource is ``--metrics-resource``, else the resource-scoped source's; a cache
    replay reuses the metric it holds for ``window``.
    """
    if not resource and specs and specs[0].startswith("loganalytics-resource:") and region:
        resource = specs[0].partition(":")[2]
    if resource and region:
        return resource, region
    if resource or region:
        raise KitError(
            "the platform metric needs both --metrics-resource (or a loganalytics-resource: source) "
            "and --metrics-region"
        )
    if source is not None and window is not None:
        span = [iso(window[0]), iso(window[1])]
        for record in reversed(source.replayed_records(METRIC_RUN)):
            given = record.get("parameters")
            if record.get("window") == span and isinstance(given, dict):
                resource, region = given.get("resource"), given.get("region")
                if isinstance(resource, str) and isinstance(region, str):
                    return resource, region
    return None


def _fetch_metric(request: Any, options: SourceOptions) -> pd.DataFrame:
    from analysis.sources import metrics
    from analysis.sources.signin import make_credential

    credential = make_credential(options.auth, options.tenant)
    try:
        return metrics.fetch(request, credential, options.client_options)
    finally:
        close = getattr(credential, "close", None)
        if callable(close):
            close()


def second_witness(
    source: Source, window: tuple[pd.Timestamp, pd.Timestamp], target: tuple[str, str], options: SourceOptions
) -> tuple[list[QueryRun], dict[str, Any]]:
    """The logged rows per minute and the platform metric over ``window``, and what they say together."""
    from analysis.sources.metrics import MetricRequest

    logged = run_query(source, "logged_requests", {"start": window[0], "end": window[1]})
    request = MetricRequest(target[0], target[1], *window)
    metric_run = timed_run(
        METRIC_RUN,
        source.mode,
        request.parameters,
        request.key,
        lambda: source.keep_beside(
            METRIC_RUN, request.key, request.parameters, window, lambda: _fetch_metric(request, options)
        ),
    )
    return [logged, metric_run], witness.compare(logged.result, metric_run.result)


def run(
    source: str,
    start: str | None = None,
    end: str | None = None,
    mode: str | None = None,
    output_dir: str | None = None,
    metrics_resource: str | None = None,
    metrics_region: str | None = None,
    redact: bool = False,
    annotations: str | None = None,
    ip_map: str | None = None,
    portal_resource: str | None = None,
    incident_id: str | None = None,
    **assumptions: Any,
) -> Investigation:
    """Investigate with the notebook's parameters and, when ``output_dir`` is set, save the results.

    ``redact`` replaces caller IPs, subscription ids and user ids by pseudonyms in everything;
    ``annotations`` (JSON text, see ``analysis.diagnosis.annotations``) is checked here, shown by the notebook;
    ``ip_map`` is the path of a ``host,ip`` file that groups hosts into SNAT pools; ``portal_resource``
    the resource whose Log Analytics the appendix links open (by default the source's or the metric's,
    ``portal.scope``); ``incident_id`` names the incident in the postmortem's title.
    """
    settings = from_params({name: param_text(value) for name, value in assumptions.items()})
    pools = read_ip_map(ip_map, follow=False) if ip_map else None  # the report folder's own copy
    notes = tuple(read_annotations(annotations or ""))
    window_start, window_end = user_window(start, end)
    options = SourceOptions.from_environment()
    inner = open_source(source, mode or None, options)
    opened = shared(source, inner, redact=redact)
    try:
        investigation = investigate(opened, window_start, window_end, settings, pools)
        target = metrics_target(split_specs(source), metrics_resource, metrics_region, inner, investigation.window)
        scope = portal_resource or portal.scope(split_specs(source), target[0] if target else "")
        investigation = dataclasses.replace(
            investigation, portal_resource=scope, annotations=notes, incident_id=(incident_id or "").strip()
        )
        if target is not None:
            runs, section = second_witness(opened, investigation.window, target, options)
            investigation = dataclasses.replace(
                investigation,
                runs=[*investigation.runs, runs[0]],
                queried=[*investigation.queried, *runs],
                platform_metric=section,
            )
    finally:
        opened.close()
    if output_dir:
        save(investigation, Path(output_dir))
    return investigation


def read_ip_map(path: str | Path, follow: bool = True) -> IpMap:
    """The ``--ip-map`` file (CSV ``host,ip``); an unreadable, oversized or malformed one is a ``KitError``.

    ``follow`` a symbolic link only for a map the user named, never for a report folder's copy.
    """
    name = f"--ip-map {Path(path).name}"
    return parse_ip_map(read_text(Path(path), Bound.IP_MAP, name, follow), name)


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
