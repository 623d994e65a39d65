"""One path for a report: claim the out folder, open the source, resolve the window, run the queries, fetch
the metric witness, render.

The command line runs every query once here (``make_report``), where a sign-in prompt can be seen and
the cache fills, while the notebook's kernel starts. The kernel then makes the same request from its
parameters and runs the same ``collect`` offline, answered from that cache, and ``Collected.investigation``
turns what came back into the report's investigation.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from analysis.errors import KitError
from analysis.investigation.run import Investigation, WindowData, query_window, recompute, window_for
from analysis.postmortem import portal
from analysis.query.modes import check_mode
from analysis.report.outfolder import Kind, claim, target
from analysis.report.platform_metric import MetricTarget, Witness, kept_target, metric_request, second_witness
from analysis.report.render import render, report_run
from analysis.report.request import ReportRequest
from analysis.sources import CACHE_VARIABLE, OFFLINE_VARIABLE, SourceOptions, absolute, open_source
from analysis.sources.progress import watched
from analysis.sources.sharing import KEY_VARIABLE, shared, shown_spec
from analysis.times import window_text


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class Progress:
    """Where a report says what it does: ``say`` a line; unless ``quiet``, a clock and a bar on a terminal."""

    say: Callable[[str], None] = _silent
    quiet: bool = True

    @property
    def live(self) -> bool:
        return not self.quiet and sys.stderr.isatty()


QUIET = Progress()


@dataclass(frozen=True)
class Collected:
    """What a request's source returned: every query of its window and, with a metric target, the witness."""

    request: ReportRequest
    """The request with its window and logging mode resolved."""
    data: WindowData
    metric: MetricTarget | None
    witness: Witness | None

    def investigation(self) -> Investigation:
        """The analysis under the request's assumptions, with what the report adds: the portal's scope, the
        notes, the incident id and the platform metric."""
        request, witness = self.request, self.witness
        found = recompute(self.data, request.assumptions, request.ip_map)
        scope = request.portal_resource or portal.scope(request.sources, self.metric.resource if self.metric else "")
        found = replace(found, portal_resource=scope, annotations=request.annotations, incident_id=request.incident_id)
        if witness is None:
            return found
        return replace(
            found,
            runs=[*found.runs, witness.logged],
            queried=[*found.queried, witness.logged, witness.metric],
            platform_metric=witness.section,
        )


def shown_sources(specs: Sequence[str]) -> str:
    """The sources as the report names them: a file by its name only.

    >>> shown_sources(["file:/home/me/logs.parquet"])
    'file:logs.parquet'
    """
    return ",".join(shown_spec(spec) for spec in specs)


def collect(request: ReportRequest, options: SourceOptions, progress: Progress = QUIET) -> Collected:
    """Open the request's source, resolve its window, run every query the analysis needs and fetch the
    metric witness; the source is seen through ``sharing`` (no local path; redacted when asked)."""
    shown = shown_sources(request.sources)
    progress.say(f"checking source {shown}")
    inner = open_source(request.sources, request.mode.value if request.mode else None, options)
    source = watched(shared(",".join(request.sources), inner, request.redact), progress.say, progress.quiet)
    try:
        window = window_for(source, request.start, request.end, request.assumptions.max_window_days)
        metric = request.metric or kept_target(inner, window)
        if metric is not None:
            metric_request(metric, window)  # a bad resource id or region is refused before any query
        progress.say(f"window {window_text(*window)}, mode {source.mode}")
        progress.say(f"querying {shown}")
        data = query_window(source, *window, max_days=None)
        witness = None
        if metric is not None:
            progress.say(f"fetching the platform metric Requests of {metric.resource.rsplit('/', 1)[-1]}")
            witness = second_witness(source, window, metric, options)
    finally:
        source.close()
    resolved = replace(request, start=window[0], end=window[1], mode=check_mode(source.mode))
    return Collected(resolved, data, metric, witness)


@contextmanager
def _variables(values: dict[str, str]) -> Iterator[None]:
    """The environment variables ``values`` set for the block (the report's kernel inherits them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _redaction_key(redact: bool) -> AbstractContextManager[None]:
    """One pseudonym key for the whole run, the kernel's included: the IP map the command line keeps and
    the results the kernel redacts name an address alike (a key already set is kept)."""
    if not redact or os.environ.get(KEY_VARIABLE):
        return nullcontext()
    return _variables({KEY_VARIABLE: secrets.token_hex(32)})


def _replay_in_kernel(cache: Path | None) -> dict[str, str]:
    """The notebook kernel's environment: it answers from the cache the command line fills, and never signs in."""
    if cache is None:
        raise KitError("the report needs a cache folder: give --cache DIR")
    return {CACHE_VARIABLE: str(cache), OFFLINE_VARIABLE: "1"}


def make_report(
    request: ReportRequest, out: str, options: SourceOptions, progress: Progress = QUIET, verbose: bool = False
) -> None:
    """Write the report of ``request`` into the folder ``out`` (report.html, report.ipynb, findings.json and
    what renders it again), replacing it in one step when complete; nothing is left half-written."""
    folder = target(out)
    environment = _replay_in_kernel(options.cache)
    with (
        claim(folder, Kind.REPORT, out),
        _redaction_key(request.redact),
        report_run(folder, verbose, environment) as run,  # the kernel starts while the queries run
    ):
        collected = collect(request, options, progress)
        # The kernel runs in another folder: it is handed the sources by their absolute names.
        handed = replace(collected.request, sources=tuple(absolute(spec) for spec in request.sources))
        render(run, handed, shown_sources(request.sources), progress.say, progress.live)
    progress.say(f"report written to {out} (report.html, report.ipynb, findings.json)")
