"""Ground truth of a synthetic incident: what each destination really suffered, where, and when.

The truth comes from the model (ports per IP and unit, the hold, the
timeouts, the logging setting), never from the rows or from any diagnosis,
so ingestion gaps and random draws cannot blur it.

Keys: :attr:`Incident.truth` is keyed by ``host:port`` when the scenario has
one region (every destination then has one truth), and by
``(region, host:port)`` when it has several; every entry also carries its
``region`` and ``destination``, and :meth:`Incident.truth_at` finds one by
both whatever the scenario. In ``truth.json`` the ``destinations`` object is
keyed the same way, a multi-region key written ``region/host:port``.

Each destination has two classifications: ``cause``, what physically
happened, and ``classification``, what a right diagnosis says from the logs
the kit is handed - the cause, or ``unknown`` when the logging setting or the
export left out what tells the causes apart (``missing`` names it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.synthetic.addressing import PoolKey, destination_ips, pools_of
from analysis.synthetic.diagnostics import missing_evidence
from analysis.synthetic.outcomes import Cause, Outcomes, overload_share
from analysis.synthetic.pool_load import PortLoad
from analysis.synthetic.ports import PORT_HOLD_MINUTES
from analysis.synthetic.scenarios import Behaviour, Destination, Scenario
from analysis.synthetic.traffic import Calls

#: A minute counts as a failure minute from this modelled failure share on.
SUSTAINED_SHARE = 0.01
#: Failure minutes must come in runs at least this long to count as sustained.
SUSTAINED_MINUTES = 2
#: Runs closer than this are one episode (the ports of the first are still held).
EPISODE_GAP_MINUTES = PORT_HOLD_MINUTES

CLASSIFICATIONS = ("snat_exhaustion", "backend_unreachable", "backend_errors", "slow_backend", "healthy", "unknown")
VERDICTS = ("snat_exhaustion", "no_snat_evidence", "insufficient_data")

TruthKey = str | tuple[str, str]
Span = tuple[pd.Timestamp, pd.Timestamp]


@dataclass(frozen=True, eq=False)
class DestinationTruth:
    """What happened at one ``host:port`` in one region.

    ``episodes`` are the ``[onset, recovery)`` spans of sustained connection
    failures the scenario caused (ports, outage, refusals); ``onset`` is the
    first onset and ``recovery`` the last recovery (both ``None`` without
    failures). ``incident_start``/``incident_end`` bound the symptom of any
    cause the same way (for ``slow_backend`` and ``backend_errors`` the
    behaviour window). ``pools`` are the SNAT pools its calls draw from.
    ``per_minute`` holds, per scenario minute: requests, backend requests,
    requests in flight, new connections, the port demand of its busiest pool
    and unit, the ports per unit (capacity), utilisation, the modelled share
    of its calls finding no port, the share its backend refused, and the
    connection failures the scenario caused (masked as Timeout or
    ClientConnectionFailure included).
    """

    key: TruthKey
    region: str
    destination: str
    base_url: str
    behaviour: Behaviour
    cause: str
    classification: str
    episodes: tuple[Span, ...]
    incident_start: pd.Timestamp | None
    incident_end: pd.Timestamp | None
    pools: tuple[PoolKey, ...]
    in_logs: bool
    per_minute: pd.DataFrame

    @property
    def onset(self) -> pd.Timestamp | None:
        return self.episodes[0][0] if self.episodes else None

    @property
    def recovery(self) -> pd.Timestamp | None:
        return self.episodes[-1][1] if self.episodes else None

    @property
    def peak_demand(self) -> float:
        """Highest port demand of its busiest pool and unit."""
        return float(self.per_minute["demand"].max())


@dataclass(frozen=True, eq=False)
class PoolTruth:
    """One SNAT pool: its member destinations, and its demand on each unit per minute (``[unit, minute]``)."""

    key: PoolKey
    members: tuple[str, ...]
    capacity_per_unit: int
    demand: npt.NDArray[np.float64]
    exhausted_units: tuple[int, ...]

    @property
    def units(self) -> int:
        return self.demand.shape[0]

    @property
    def peak_demand(self) -> float:
        """Highest demand on one unit: what decides exhaustion."""
        return float(self.demand.max())

    @property
    def peak_region_demand(self) -> float:
        """Highest demand summed over the region's units."""
        return float(self.demand.sum(axis=0).max())

    @property
    def exhausted(self) -> bool:
        return bool(self.exhausted_units)


@dataclass(frozen=True, eq=False)
class ScenarioTruth:
    """Everything known about a scenario: per destination, per pool, and the verdict a right diagnosis reaches."""

    destinations: dict[TruthKey, DestinationTruth]
    pools: dict[PoolKey, PoolTruth]
    missing: tuple[str, ...] = ()
    side_call_failures: dict[str, int] = field(default_factory=dict)

    @property
    def expected_verdict(self) -> str:
        if self.missing:
            return "insufficient_data"
        if any(t.classification == "snat_exhaustion" for t in self.destinations.values()):
            return "snat_exhaustion"
        return "no_snat_evidence"


def sustained_runs(flags: npt.ArrayLike, min_length: int = SUSTAINED_MINUTES) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of true values at least ``min_length`` long.

    >>> sustained_runs([0, 1, 0, 1, 1, 1, 0, 1, 1])
    [(3, 6), (7, 9)]
    """
    values = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate(([0], values.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_length]


def episodes_of(flags: npt.ArrayLike, gap: int = EPISODE_GAP_MINUTES) -> list[tuple[int, int]]:
    """Sustained runs, runs less than ``gap`` minutes apart merged into one episode.

    >>> episodes_of([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1])
    [(0, 6), (10, 12)]
    """
    merged: list[tuple[int, int]] = []
    for start, end in sustained_runs(flags):
        if merged and start - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _minute(scenario: Scenario, offset: int) -> pd.Timestamp:
    return pd.Timestamp(scenario.start).as_unit("us") + pd.Timedelta(minutes=offset)


def _per_minute(
    scenario: Scenario,
    destination: Destination,
    region: int,
    load: PortLoad,
    index: int,
    calls: Calls,
    outcomes: Outcomes,
) -> pd.DataFrame:
    """Port bookkeeping of one destination in one region, per minute."""
    minutes = scenario.duration_minutes
    streams = load.streams[index]
    mine = streams.region == region
    in_region = calls.region == region
    requests = streams.requests[mine].sum(axis=0)
    cells = streams.cell[mine]
    demand = load.demand[cells].max(axis=0) if len(cells) else np.zeros(minutes)
    failing = np.divide(
        (streams.requests[mine] * load.failing[cells]).sum(axis=0), requests, out=np.zeros(minutes), where=requests > 0
    )
    total_rate = np.bincount(calls.minute[calls.backend], minlength=minutes).astype(np.float64)
    caused = outcomes.scenario_failure & in_region
    index_ = pd.date_range(pd.Timestamp(scenario.start), periods=minutes, freq="min", unit="us", name="minute")
    return pd.DataFrame(
        {
            "requests": np.bincount(calls.minute[in_region], minlength=minutes),
            "backend_requests": requests.astype(np.int64),
            "concurrency": streams.in_flight[mine].sum(axis=0),
            "new_connections": streams.opened[mine].sum(axis=0),
            "demand": demand,
            "own_demand": streams.demand[mine].max(axis=0) if len(cells) else np.zeros(minutes),
            "capacity": np.full(minutes, scenario.snat_ports, dtype=np.int64),
            "utilisation": demand / scenario.snat_ports,
            "failure_share": failing,
            "refused_share": overload_share(total_rate, destination) * (requests > 0),
            "scenario_connection_failures": np.bincount(calls.minute[caused], minlength=minutes),
        },
        index=index_,
    )


def _cause(
    scenario: Scenario, destination: Destination, frame: pd.DataFrame
) -> tuple[str, list[tuple[int, int]], tuple[int, int] | None]:
    """Physical classification, failure episodes and symptom span (minutes) of one destination in one region."""
    window = destination.window
    span = (window.start_minute, min(window.end_minute, scenario.duration_minutes)) if window else None
    snat = episodes_of(frame["failure_share"].to_numpy() >= SUSTAINED_SHARE)
    if snat:
        return "snat_exhaustion", snat, (snat[0][0], snat[-1][1])
    if destination.behaviour == Behaviour.OUTAGE and span:
        return "backend_unreachable", [span], span
    refused = episodes_of(frame["refused_share"].to_numpy() >= SUSTAINED_SHARE)
    if destination.behaviour == Behaviour.REFUSES_UNDER_LOAD and refused:
        return "backend_unreachable", refused, (refused[0][0], refused[-1][1])
    if destination.behaviour == Behaviour.APP_ERRORS and span:
        return "backend_errors", [], span
    if destination.behaviour == Behaviour.SLOW and span:
        return "slow_backend", [], span
    return "healthy", [], None


def _seen(logged: pd.DataFrame) -> set[tuple[str, str]]:
    """(region, host:port) pairs that have at least one logged row."""
    parts = logged["BackendUrl"].astype(str).str.extract(r"^(https?)://([^/:?#]+)(?::(\d+))?", expand=True)
    port = parts[2].fillna(parts[0].map({"https": "443", "http": "80"}))
    keys = parts[1].str.lower() + ":" + port
    return set(zip(logged["Region"].astype(str), keys, strict=False))


def scenario_truth(
    scenario: Scenario, load: PortLoad, calls: list[Calls], outcomes: list[Outcomes], logged: pd.DataFrame
) -> ScenarioTruth:
    """The truth of every destination in every region, every pool, and what the logs lack."""
    regions = scenario.gateway_regions
    missing = missing_evidence(scenario.logging, scenario.export_columns)
    seen = _seen(logged)
    destinations: dict[TruthKey, DestinationTruth] = {}
    for index, destination in enumerate(scenario.destinations):
        for r, region in enumerate(regions):
            frame = _per_minute(scenario, destination, r, load, index, calls[index], outcomes[index])
            cause, episodes, span = _cause(scenario, destination, frame)
            key: TruthKey = (region.name, destination.key) if scenario.multi_region else destination.key
            destinations[key] = DestinationTruth(
                key=key,
                region=region.name,
                destination=destination.key,
                base_url=destination.base_url,
                behaviour=destination.behaviour,
                cause=cause,
                classification="unknown" if missing else cause,
                episodes=tuple((_minute(scenario, s), _minute(scenario, e)) for s, e in episodes),
                incident_start=_minute(scenario, span[0]) if span else None,
                incident_end=_minute(scenario, span[1]) if span else None,
                pools=tuple(PoolKey(region.name, ip, destination.port) for ip in destination_ips(destination)),
                in_logs=(region.name, destination.key) in seen,
                per_minute=frame,
            )
    pools: dict[PoolKey, PoolTruth] = {}
    for pool, members in pools_of(scenario).items():
        rows = load.cells_of(pool)
        demand = load.demand[rows]
        exhausted = tuple(u for u, row in enumerate(rows) if sustained_runs(load.failing[row] >= SUSTAINED_SHARE))
        pools[pool] = PoolTruth(pool, members, scenario.snat_ports, demand, exhausted)
    side: dict[str, int] = {}
    for destination, out in zip(scenario.destinations, outcomes, strict=False):
        if destination.side_call is not None:
            side[destination.side_call.key] = side.get(destination.side_call.key, 0) + int(
                (out.cause == Cause.SIDE_CALL).sum()
            )
    return ScenarioTruth(destinations, pools, missing, side)


def iso_z(value: datetime | pd.Timestamp | None) -> str | None:
    """ISO 8601 UTC text with a ``Z``, whole seconds.

    >>> iso_z(pd.Timestamp("2025-02-25 09:19:00"))
    '2025-02-25T09:19:00Z'
    """
    if value is None:
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_key(key: TruthKey) -> str:
    """A truth key as ``truth.json`` writes it: ``host:port``, or ``region/host:port``.

    >>> json_key(("North Europe", "a.example.com:443"))
    'North Europe/a.example.com:443'
    """
    return key if isinstance(key, str) else f"{key[0]}/{key[1]}"


def _destination_document(item: DestinationTruth) -> dict[str, Any]:
    frame = item.per_minute
    return {
        "region": item.region,
        "destination": item.destination,
        "base_url": item.base_url,
        "behaviour": str(item.behaviour),
        "cause": item.cause,
        "classification": item.classification,
        "in_logs": item.in_logs,
        "onset": iso_z(item.onset),
        "recovery": iso_z(item.recovery),
        "episodes": [[iso_z(s), iso_z(e)] for s, e in item.episodes],
        "incident_start": iso_z(item.incident_start),
        "incident_end": iso_z(item.incident_end),
        "pools": [[p.region, p.ip, p.port] for p in item.pools],
        "peak_demand": round(item.peak_demand, 1),
        "per_minute": {
            "minute": [iso_z(m) for m in frame.index],
            "requests": frame["requests"].astype(int).tolist(),
            "concurrency": frame["concurrency"].round(1).tolist(),
            "demand": frame["demand"].round(1).tolist(),
            "own_demand": frame["own_demand"].round(1).tolist(),
            "capacity": frame["capacity"].astype(int).tolist(),
            "failure_share": frame["failure_share"].round(4).tolist(),
            "refused_share": frame["refused_share"].round(4).tolist(),
            "scenario_connection_failures": frame["scenario_connection_failures"].astype(int).tolist(),
        },
    }


def _pool_document(pool: PoolTruth) -> dict[str, Any]:
    return {
        "region": pool.key.region,
        "ip": pool.key.ip,
        "port": pool.key.port,
        "members": list(pool.members),
        "units": pool.units,
        "capacity_per_unit": pool.capacity_per_unit,
        "peak_demand": round(pool.peak_demand, 1),
        "peak_region_demand": round(pool.peak_region_demand, 1),
        "exhausted": pool.exhausted,
        "exhausted_units": list(pool.exhausted_units),
        "demand_by_unit": [row.round(1).tolist() for row in pool.demand],
    }


def truth_document(scenario: Scenario, truth: ScenarioTruth) -> dict[str, Any]:
    """The ground truth as plain JSON-ready data."""
    end = pd.Timestamp(scenario.start) + pd.Timedelta(minutes=scenario.duration_minutes)
    setting, assumed = scenario.logging, scenario.assumptions
    return {
        "scenario": scenario.name,
        "start": iso_z(scenario.start),
        "end": iso_z(end),
        "snat_ports_per_instance": scenario.snat_ports,
        "units": scenario.gateway_regions[0].units,
        "capacity": scenario.capacity,
        "regions": [{"name": r.name, "units": r.units, "share": r.share} for r in scenario.gateway_regions],
        "port_hold_minutes": PORT_HOLD_MINUTES,
        "connect_timeout_s": scenario.connect_timeout_s,
        "forward_timeout_s": scenario.forward_timeout_s,
        "logging": {
            "sampling_percent": setting.sampling_percent,
            "always_log_errors": setting.always_log_errors,
            "verbosity": str(setting.verbosity),
            "export_columns": list(scenario.export_columns) or None,
        },
        "assumptions": {
            "units": assumed.units,
            "log_sampling_percent": assumed.log_sampling_percent,
            "ip_map": "ip_map.csv" if assumed.ip_map else None,
        },
        "expected_verdict": truth.expected_verdict,
        "missing": list(truth.missing),
        "dropped_minutes": [iso_z(_minute(scenario, m)) for m in scenario.noise.dropped_minutes],
        "side_call_failures": truth.side_call_failures,
        "destinations": {json_key(k): _destination_document(t) for k, t in truth.destinations.items()},
        "pools": [_pool_document(p) for p in truth.pools.values()],
    }


def truth_json(scenario: Scenario, truth: ScenarioTruth) -> str:
    """The ground truth as stable JSON text (same input, same bytes), lists of scalars on one line."""
    text = json.dumps(truth_document(scenario, truth), indent=2)
    return _SCALAR_LIST.sub(lambda m: "[" + re.sub(r"\s*\n\s*", "", m.group(1)) + "]", text) + "\n"


#: An indented JSON list holding no list or object.
_SCALAR_LIST = re.compile(r"\[(\s*\n[^\[\]{}]*?)\]")
