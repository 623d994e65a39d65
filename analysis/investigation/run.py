"""One investigation: run the packaged queries on a source, then the analysis, then the findings.

This is the only module that strings the steps together, in the order of the
data path: parameters -> rendered KQL -> source -> DataFrames -> analysis -> findings.
It comes in two halves: ``query_window`` (the slow part, one source round per
window) and ``recompute`` (pure, for any assumptions); ``investigate`` is both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assessment import Assessment, Classification, PoolAssessment, exhausted
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.callers import CALL_COLUMNS, Span, trouble_spans
from analysis.diagnosis.coverage import normalised_names
from analysis.diagnosis.demand import what_if, what_if_settings
from analysis.diagnosis.health import KEY, normalise
from analysis.diagnosis.mitigations import Mitigation, recommend
from analysis.diagnosis.onset import bad_minutes
from analysis.diagnosis.pools import IpMap
from analysis.diagnosis.sampling import SamplingSeen, sampling_seen
from analysis.diagnosis.verdict import Verdict, decide, timeline
from analysis.diagnosis.window import Diagnosis, diagnose
from analysis.errors import KitError
from analysis.investigation import findings as findings_doc
from analysis.investigation.cuts import cuts, with_cuts
from analysis.query import pack
from analysis.query.modes import Mode
from analysis.sources.base import Request, Source
from analysis.sources.quality import DataQuality


@dataclass(frozen=True)
class QueryRun:
    """A query as it ran: its rendered text, parameters, result and cost."""

    name: str
    mode: str
    parameters: dict[str, str]
    kql: str
    result: pd.DataFrame = field(repr=False)
    duration_s: float

    @property
    def warnings(self) -> list[str]:
        """What the source said about the result, e.g. that the service cut it short."""
        return list(self.result.attrs.get("warnings", []))

    @property
    def complete(self) -> bool:
        """False when the service cut the result short and splitting the window did not complete it."""
        return bool(self.result.attrs.get("complete", True))

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "parameters": self.parameters,
            "rows": len(self.result),
            "duration_s": round(self.duration_s, 3),
            "kql": self.kql,
            "warnings": self.warnings,
            "complete": self.complete,
        }


def timed_run(
    name: str, mode: str, parameters: dict[str, str], kql: str, fetch: Callable[[], pd.DataFrame]
) -> QueryRun:
    """The result ``fetch`` gives, recorded with how long it took; a cached result keeps the duration of the
    query that made it."""
    began = time.perf_counter()
    result = fetch()
    return QueryRun(
        name=name,
        mode=mode,
        parameters=parameters,
        kql=kql,
        result=result,
        duration_s=result.attrs.get("duration_s", time.perf_counter() - began),
    )


def run_query(source: Source, name: str, values: dict[str, Any]) -> QueryRun:
    """Render a packaged query for the source's logging mode and run it."""
    query = pack.load(name)
    request = Request(query, query.bind(values), source.mode)
    return timed_run(name, source.mode, request.parameters, request.kql, lambda: source.run_request(request))


def window_for(
    source: Source,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    max_days: int | None = Assumptions.max_window_days,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window asked for, a missing bound taken from the source's range in whole minutes.

    The CLI, the report and the explorer's slider all resolve their window here. A window longer
    than ``max_days`` is refused here, before any query runs; None sets no limit.
    """
    if start is None or end is None:
        found = source.time_range()
        if found is None:
            raise KitError(
                "the source cannot tell its time range (an empty file, or an Azure source): give start and end"
            )
        start = start if start is not None else found[0].floor("min")
        end = end if end is not None else found[1].floor("min") + pd.Timedelta(minutes=1)
    if not start < end:
        raise KitError(f"start {start.isoformat()} is not before end {end.isoformat()}")
    if max_days is not None and end - start > pd.Timedelta(days=max_days):
        raise KitError(
            f"the window {start.isoformat()} to {end.isoformat()} is {(end - start).days} days long, over the "
            f"limit of {max_days} days; give a shorter one, or raise the limit with --param max_window_days=N"
        )
    return start, end


Key = tuple[str, str]
DRIVER_COLUMNS = ["region", "destination", "key_kind", "key", "requests", "share", "connection_failures"]


def failing_spans(health: pd.DataFrame) -> dict[Key, tuple[pd.Timestamp, pd.Timestamp]]:
    """Each (region, destination) with two or more minutes of sustained failed connects of any kind
    (unanswered timeouts and client disconnects included), and the span from the first to the last.

    This depends on no assumption, so whose load drivers to fetch is known as soon as the health
    query has run: a superset of the destinations any assumptions can find exhausted.
    """
    failures = (
        health["connection_failures"]
        - health["idle_cuts"]
        + health["unanswered_timeouts"]
        + health["unanswered_client_failures"]
    )
    bad = health[bad_minutes(failures, health["requests"])]
    spans = bad.groupby(KEY)["minute"].agg(["min", "max", "count"])
    one = pd.Timedelta(minutes=1)
    return {
        (str(region), str(destination)): (row["min"], row["max"] + one)
        for (region, destination), row in spans.iterrows()
        if row["count"] >= 2
    }


def load_drivers(
    source: Source, spans: dict[Key, tuple[pd.Timestamp, pd.Timestamp]]
) -> tuple[pd.DataFrame, dict[Key, QueryRun]]:
    """Who sent the calls to each failing destination, in its region, while it failed."""
    runs, frames = {}, []
    for (region, destination), (start, end) in spans.items():
        run = run_query(
            source, "load_drivers", {"start": start, "end": end, "destination": destination, "region": region}
        )
        runs[(region, destination)] = run
        frames.append(run.result.assign(region=region, destination=destination))
    drivers = pd.concat(frames, ignore_index=True)[DRIVER_COLUMNS] if frames else pd.DataFrame(columns=DRIVER_COLUMNS)
    return drivers, runs


def calls_by_key(source: Source, spans: list[Span]) -> tuple[pd.DataFrame, tuple[QueryRun, ...]]:
    """Each troubled destination's calls per minute and key over its spans (``callers.trouble_spans``)."""
    runs, frames = [], []
    for span in spans:
        values = {"start": span.start, "end": span.end, "destination": span.destination, "region": span.region}
        run = run_query(source, "calls_by_key", values)
        runs.append(run)
        frames.append(run.result.assign(region=span.region, destination=span.destination))
    calls = pd.concat(frames, ignore_index=True)[CALL_COLUMNS] if frames else pd.DataFrame(columns=CALL_COLUMNS)
    return calls, tuple(runs)


def _no_calls() -> pd.DataFrame:
    return pd.DataFrame(columns=CALL_COLUMNS)


@dataclass(frozen=True)
class WindowData:
    """What the source returned for one window: everything the analysis reads, queried once."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    source: str
    mode: str
    health: pd.DataFrame = field(repr=False)
    """The minutes with traffic of every (region, destination) (``health.normalise``): sparse."""
    inventory: pd.DataFrame = field(repr=False)
    errors: pd.DataFrame = field(repr=False)
    fingerprint: pd.DataFrame = field(repr=False)
    """The failure fingerprint query's result: failures per reason, source, answer and second elapsed."""
    drivers: pd.DataFrame = field(repr=False)
    """Load drivers of every destination with sustained failed connects: only those can be classified
    as SNAT exhaustion, whatever the assumptions."""
    runs: tuple[QueryRun, ...] = field(repr=False)
    """The window-wide queries (health, inventory, errors, fingerprint), in the order they ran."""
    driver_runs: dict[Key, QueryRun] = field(repr=False)
    """The load-driver query per candidate (region, destination)."""
    absent_columns: tuple[str, ...] = ()
    """Documented columns the source's rows lack (a projected export)."""
    data_quality: DataQuality | None = None
    """What the source found wrong in its rows (a local export), or None."""
    sampling: SamplingSeen | None = None
    """The rows Application Insights kept and the requests they stand for; None for gateway logs."""
    self_hosted: bool = False
    """The rows are a self-hosted gateway's log lines (its host's NAT, not Azure's SNAT ports)."""
    calls: pd.DataFrame = field(default_factory=_no_calls, repr=False)
    """``calls_by_key`` of every troubled destination over its spans (``callers``), with region and destination."""
    call_spans: tuple[Span, ...] = ()
    """The spans ``calls`` was asked for."""
    call_runs: tuple[QueryRun, ...] = field(default=(), repr=False)
    """The ``calls_by_key`` query per span, in the order of ``call_spans``."""

    @property
    def queried(self) -> tuple[QueryRun, ...]:
        """Every query of the window, in the order they ran."""
        return (*self.runs, *self.driver_runs.values(), *self.call_runs)

    @property
    def instances(self) -> pd.DataFrame:
        """The ``instances`` query's result: which API Management services wrote the rows (empty when not run)."""
        found = [run.result for run in self.runs if run.name == "instances"]
        return found[0] if found else pd.DataFrame(columns=["instance", "region", "requests"])

    @property
    def duration_s(self) -> float:
        """Time spent in the source for this window."""
        return sum(r.duration_s for r in self.queried)


def query_window(
    source: Source,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    max_days: int | None = Assumptions.max_window_days,
) -> WindowData:
    """Run every query the analysis of one window needs, whatever the assumptions will be."""
    window = window_for(source, start, end, max_days)
    span = {"start": window[0], "end": window[1]}
    health_run = run_query(source, "destination_health", span)
    health = normalise(health_run.result)
    if health.empty:
        raise KitError(_nothing_in(window, source.time_range()))
    inventory_run = run_query(source, "destination_inventory", span)
    errors_run = run_query(source, "error_breakdown", span)
    fingerprint_run = run_query(source, "failure_fingerprint", span)
    instances_run = run_query(source, "instances", span)
    runs: tuple[QueryRun, ...] = (health_run, inventory_run, errors_run, fingerprint_run, instances_run)
    sampling = None
    if Mode(source.mode).app_insights:
        sampling_run = run_query(source, "sampling", span)
        runs, sampling = (*runs, sampling_run), sampling_seen(sampling_run.result)
    drivers, driver_runs = load_drivers(source, failing_spans(health))
    spans = trouble_spans(health, window)
    calls, call_runs = calls_by_key(source, spans)
    return WindowData(
        window=window,
        source=source.description,
        mode=source.mode,
        health=health,
        inventory=inventory_run.result,
        errors=errors_run.result,
        fingerprint=fingerprint_run.result,
        drivers=drivers,
        runs=runs,
        driver_runs=driver_runs,
        absent_columns=source.absent_columns,
        data_quality=source.data_quality,
        sampling=sampling,
        self_hosted=source.self_hosted,
        calls=calls,
        call_spans=tuple(spans),
        call_runs=call_runs,
    )


def _minute(when: pd.Timestamp) -> str:
    """``2025-02-25T08:30Z``: a time to the minute, as the command line takes it."""
    return pd.Timestamp(when).strftime("%Y-%m-%dT%H:%MZ")


def _nothing_in(window: tuple[pd.Timestamp, pd.Timestamp], held: tuple[pd.Timestamp, pd.Timestamp] | None) -> str:
    """One line for a window without a single request: where the data is, when the source can tell."""
    asked = f"no request between {_minute(window[0])} and {_minute(window[1])}"
    if held is not None:
        return f"{asked}: the source holds rows from {_minute(held[0])} to {_minute(held[1])}"
    return (
        f"{asked} in the source: check the window and the logging mode (--mode azurediagnostics for legacy "
        f"AzureDiagnostics rows), and that a diagnostic setting sends the gateway logs there"
    )


@dataclass(frozen=True)
class Investigation:
    """Everything the report shows, computed once."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    source: str
    mode: str
    assumptions: Assumptions
    diagnosis: Diagnosis = field(repr=False)
    verdict: Verdict
    timeline: list[dict[str, Any]]
    mitigations: list[Mitigation]
    what_if: pd.DataFrame = field(repr=False)
    errors: pd.DataFrame = field(repr=False)
    drivers: pd.DataFrame = field(repr=False)
    fingerprint: pd.DataFrame = field(repr=False)
    runs: list[QueryRun] = field(repr=False)
    queried: list[QueryRun] = field(default_factory=list, repr=False)
    """Every query the window needed, reported or not: what a replay of this investigation asks for."""
    platform_metric: dict[str, Any] | None = None
    """The logs set beside the ``Requests`` platform metric (``analysis.diagnosis.witness``), when it was fetched."""
    ip_map: IpMap | None = field(default=None, repr=False)
    absent_columns: tuple[str, ...] = ()
    """Documented columns the source's rows lack (a projected export), kept with the saved results."""
    data_quality: DataQuality | None = None
    """What the source found wrong in its rows (a local export), or None."""
    sampling: SamplingSeen | None = None
    """The rows Application Insights kept and the requests they stand for; None for gateway logs."""
    self_hosted: bool = False
    """The rows are a self-hosted gateway's log lines (its host's NAT, not Azure's SNAT ports)."""
    portal_resource: str = ""
    """The Azure resource whose Log Analytics opens the queries (``portal``); "" when none is known."""
    calls: pd.DataFrame = field(default_factory=_no_calls, repr=False)
    """``calls_by_key`` of the troubled destinations (``WindowData.calls``)."""
    call_spans: tuple[Span, ...] = ()
    instances: tuple[str, ...] = ()
    """The API Management services that wrote the rows, the busiest first."""
    annotations: tuple[Annotation, ...] = ()
    """What people did meanwhile (``--annotate``): the timeline, the triggers and the units read them."""
    incident_id: str = ""
    """The incident's id in the team's tracker (``--param incident_id``), for the postmortem's title."""

    @property
    def assessments(self) -> list[Assessment]:
        return self.diagnosis.assessments

    @property
    def pools(self) -> list[PoolAssessment]:
        return self.diagnosis.pools

    @property
    def minutes(self) -> pd.DataFrame:
        """Every minute of the destinations looked at closely, with failures and the demand band."""
        return self.diagnosis.minutes

    @property
    def exhausted_destinations(self) -> list[str]:
        """The destinations classified as SNAT exhaustion, most failures first."""
        return [e.destination for e in exhausted(self.assessments)]

    @property
    def findings(self) -> dict[str, Any]:
        """The findings document (``findings.json``) of this investigation."""
        return findings_doc.build(self)


def _instance_names(found: pd.DataFrame) -> tuple[str, ...]:
    """The services of the ``instances`` query, the most requests first (rows without a resource id left out)."""
    if found.empty:
        return ()
    requests = found.groupby("instance")["requests"].sum().sort_values(ascending=False, kind="stable")
    return tuple(str(name) for name in requests.index if str(name))


def recompute(data: WindowData, assumptions: Assumptions, ip_map: IpMap | None = None) -> Investigation:
    """The investigation of ``data``'s window under ``assumptions``; pure, no query runs.

    Gives the same findings as ``investigate`` on the same window and assumptions
    (only the recorded query durations differ), so the explorer and the report agree.
    """
    if data.sampling is not None and assumptions.log_sampling_percent != 100:
        raise KitError(
            "Application Insights records its sampling in ItemCount, which every query already weighs: "
            "leave log_sampling_percent at 100"
        )
    diagnosis = diagnose(
        data.health,
        data.window,
        data.fingerprint,
        assumptions,
        inventory=data.inventory,
        drivers=data.drivers,
        absent_columns=normalised_names(data.absent_columns, data.mode),
        ip_map=ip_map,
        self_hosted=data.self_hosted,
    )
    assessments = diagnosis.assessments
    verdict = decide(assessments, data.health, assumptions, diagnosis.coverage)
    troubled = {a.key for a in assessments if a.classification not in (Classification.HEALTHY, Classification.UNKNOWN)}
    affected = [(a.label, e) for a in assessments if a.key in troubled for e in a.episodes]
    read = data.data_quality.rows if data.data_quality is not None else None
    quality = with_cuts(data.data_quality, int(data.health["requests"].sum()), cuts(read, affected))
    found = exhausted(assessments)
    keys = {e.assessment.key for e in found}
    in_found = pd.MultiIndex.from_frame(data.drivers[KEY]).isin(list(keys)) if len(data.drivers) else []
    drivers = data.drivers[in_found].reset_index(drop=True) if len(data.drivers) else data.drivers
    mitigations = recommend(assessments, diagnosis.minutes, assumptions, drivers, diagnosis.coverage, ip_map)
    table = pd.DataFrame()
    if found:
        worst = max((e.pool for e in found), key=lambda p: p.peak_demand_high)
        pools = {e.pool.id for e in found}
        replayed = diagnosis.pool_minutes[diagnosis.pool_minutes["pool"].isin(pools)]
        settings = what_if_settings(assumptions, worst.capacity.units, worst.peak_demand_high)
        table = what_if(replayed, assumptions, settings)
    return Investigation(
        window=data.window,
        source=data.source,
        mode=data.mode,
        assumptions=assumptions,
        diagnosis=diagnosis,
        verdict=verdict,
        timeline=timeline(assessments),
        mitigations=mitigations,
        what_if=table,
        errors=data.errors,
        drivers=drivers,
        fingerprint=data.fingerprint,
        runs=[
            *data.runs,
            *(data.driver_runs[key] for key in sorted(keys) if key in data.driver_runs),
            *(run for span, run in zip(data.call_spans, data.call_runs, strict=True) if span.key in troubled),
        ],
        queried=list(data.queried),
        ip_map=ip_map,
        absent_columns=data.absent_columns,
        data_quality=quality,
        sampling=data.sampling,
        self_hosted=data.self_hosted,
        calls=data.calls,
        call_spans=data.call_spans,
        instances=_instance_names(data.instances),
    )


def investigate(
    source: Source,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    assumptions: Assumptions | None = None,
    ip_map: IpMap | None = None,
) -> Investigation:
    """Run the whole diagnosis for one window of one source."""
    assumptions = assumptions or Assumptions()
    return recompute(query_window(source, start, end, assumptions.max_window_days), assumptions, ip_map)
