"""One investigation: run the packaged queries on a source, then the analysis, then the findings.

This is the only module that strings the steps together, in the order of the
data path: parameters -> rendered KQL -> source -> DataFrames -> analysis -> findings.
It comes in two halves: ``query_window`` (the slow part, one source round per
window) and ``recompute`` (pure, for any assumptions); ``investigate`` is both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis import findings as findings_doc
from analysis import queries
from analysis.assessment import Assessment, exhausted
from analysis.assumptions import Assumptions
from analysis.classify import assess_all, failing_destinations
from analysis.data_quality import DataQuality
from analysis.errors import KitError
from analysis.health import complete_minutes
from analysis.literals import kql_literal
from analysis.mitigations import Mitigation, recommend
from analysis.onset import Episode
from analysis.snat import snat_demand, what_if, what_if_settings
from analysis.sources import Source, data_quality
from analysis.verdict import Verdict, decide, timeline


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

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "parameters": self.parameters,
            "rows": len(self.result),
            "duration_s": round(self.duration_s, 3),
            "kql": self.kql,
            "warnings": self.warnings,
        }


def run_query(source: Source, name: str, values: dict[str, Any]) -> QueryRun:
    """Render a packaged query for the source's logging mode and run it."""
    query = queries.load(name)
    bound = query.bind(values)
    kql = query.render(bound, source.mode)
    began = time.perf_counter()
    result = source.run(kql)
    return QueryRun(
        name=name,
        mode=source.mode,
        parameters={p.name: kql_literal(bound[p.name], p.kql_type) for p in query.parameters},
        kql=kql,
        result=result,
        duration_s=time.perf_counter() - began,
    )


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


@dataclass(frozen=True)
class Investigation:
    """Everything the report shows, computed once."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    source: str
    mode: str
    assumptions: Assumptions
    demand: pd.DataFrame = field(repr=False)
    assessments: list[Assessment]
    verdict: Verdict
    timeline: list[dict[str, Any]]
    mitigations: list[Mitigation]
    what_if: pd.DataFrame = field(repr=False)
    errors: pd.DataFrame = field(repr=False)
    drivers: pd.DataFrame = field(repr=False)
    runs: list[QueryRun] = field(repr=False)
    data_quality: DataQuality | None = None

    @property
    def exhausted_destinations(self) -> list[str]:
        """The destinations classified as SNAT exhaustion, most failures first."""
        return [e.destination for e in exhausted(self.assessments)]

    @property
    def findings(self) -> dict[str, Any]:
        """The findings document (``findings.json``) of this investigation."""
        return findings_doc.build(
            verdict=self.verdict,
            window=self.window,
            source=self.source,
            mode=self.mode,
            assumptions=self.assumptions,
            assessments=self.assessments,
            timeline=self.timeline,
            mitigations=self.mitigations,
            what_if=self.what_if,
            queries=[run.record() for run in self.runs],
            data_quality=self.data_quality,
        )


def load_drivers(
    source: Source, failing: dict[str, Episode], window_end: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, QueryRun]]:
    """Who sent the calls to each failing destination while it failed."""
    runs, frames = {}, []
    for destination, episode in failing.items():
        run = run_query(
            source,
            "load_drivers",
            {
                "start": episode.onset,
                "end": episode.recovery if episode.recovery is not None else window_end,
                "destination": destination,
            },
        )
        runs[destination] = run
        frames.append(run.result.assign(destination=destination))
    columns = ["destination", "key_kind", "key", "requests", "share", "connection_failures"]
    drivers = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    return drivers, runs


@dataclass(frozen=True)
class WindowData:
    """What the source returned for one window: everything the analysis reads, queried once."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    source: str
    mode: str
    health: pd.DataFrame = field(repr=False)
    """Every minute of every destination (``health.complete_minutes``)."""
    inventory: pd.DataFrame = field(repr=False)
    errors: pd.DataFrame = field(repr=False)
    drivers: pd.DataFrame = field(repr=False)
    """Load drivers of every destination with a connection-failure episode: only those can be
    classified as SNAT exhaustion, whatever the assumptions."""
    runs: tuple[QueryRun, ...] = field(repr=False)
    """The window-wide queries (health, inventory, errors), in the order they ran."""
    driver_runs: dict[str, QueryRun] = field(repr=False)
    """The load-driver query per candidate destination."""
    data_quality: DataQuality | None = None
    """What the source found wrong in its rows (a local export), or None."""

    @property
    def duration_s(self) -> float:
        """Time spent in the source for this window."""
        return sum(r.duration_s for r in (*self.runs, *self.driver_runs.values()))


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
    inventory_run = run_query(source, "destination_inventory", span)
    errors_run = run_query(source, "error_breakdown", span)
    health = complete_minutes(health_run.result, *window)
    drivers, driver_runs = load_drivers(source, failing_destinations(health), window[1])
    return WindowData(
        window=window,
        source=source.description,
        mode=source.mode,
        health=health,
        inventory=inventory_run.result,
        errors=errors_run.result,
        drivers=drivers,
        runs=(health_run, inventory_run, errors_run),
        driver_runs=driver_runs,
        data_quality=data_quality(source),
    )


def recompute(data: WindowData, assumptions: Assumptions) -> Investigation:
    """The investigation of ``data``'s window under ``assumptions``; pure, no query runs.

    Gives the same findings as ``investigate`` on the same window and assumptions
    (only the recorded query durations differ), so the explorer and the report agree.
    """
    demand = snat_demand(data.health, assumptions)
    assessments = assess_all(demand, assumptions, data.inventory)
    verdict = decide(assessments, demand, assumptions)
    found = exhausted(assessments)
    names = [e.destination for e in found]
    drivers = data.drivers[data.drivers["destination"].isin(names)].reset_index(drop=True)
    mitigations = recommend(assessments, demand, assumptions, drivers)
    peak = max((e.peak_snat_demand for e in found), default=0.0)
    table = what_if(demand, names, assumptions, what_if_settings(assumptions, peak)) if found else pd.DataFrame()
    return Investigation(
        window=data.window,
        source=data.source,
        mode=data.mode,
        assumptions=assumptions,
        demand=demand,
        assessments=assessments,
        verdict=verdict,
        timeline=timeline(assessments),
        mitigations=mitigations,
        what_if=table,
        errors=data.errors,
        drivers=drivers,
        runs=[*data.runs, *(data.driver_runs[name] for name in names if name in data.driver_runs)],
        data_quality=data.data_quality,
    )


def investigate(
    source: Source,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    assumptions: Assumptions | None = None,
) -> Investigation:
    """Run the whole diagnosis for one window of one source."""
    assumptions = assumptions or Assumptions()
    return recompute(query_window(source, start, end, assumptions.max_window_days), assumptions)
