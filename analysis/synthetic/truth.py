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

from dataclasses import dataclass, field

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
#: An episode needs at least this many failure minutes.
SUSTAINED_MINUTES = 2
#: Failure minutes fewer clean minutes apart than this are one episode (the ports of the first are still held).
EPISODE_GAP_MINUTES = PORT_HOLD_MINUTES

CLASSIFICATIONS = ("snat_exhaustion", "backend_unreachable", "backend_errors", "slow_backend", "healthy", "unknown")
VERDICTS = ("snat_exhaustion", "no_snat_evidence", "insufficient_data")

TruthKey = str | tuple[str, str]
#: ``[onset, recovery)``; the recovery is None when the symptom lasts to the end of the scenario.
Span = tuple[pd.Timestamp, pd.Timestamp | None]


@dataclass(frozen=True)
class LoggedData:
    """What the rows the kit is handed cover: how many, and the first and last logged time.

    An export cut to its newest rows starts late: an episode whose onset lies
    at or before the first logged time was not observed starting, and one
    whose recovery lies after the last logged time (or never came within the
    scenario) was not observed ending.
    """

    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None

    def onset_observed(self, onset: pd.Timestamp) -> bool:
        """The data starts before the onset's minute, so the minutes before the failures are in it."""
        return self.first is not None and self.first < onset

    def recovery_observed(self, recovery: pd.Timestamp | None) -> bool:
        """The failures stopped within the scenario and the data reaches the first minute without them."""
        return recovery is not None and self.last is not None and self.last >= recovery


@dataclass(frozen=True, eq=False)
class DestinationTruth:
    """What happened at one ``host:port`` in one region.

    ``episodes`` are the ``[onset, recovery)`` spans of sustained connection
    failures the scenario caused (ports, outage, refusals), a recovery None
    when the failures last to the scenario's end; ``onset`` is the first
    onset and ``recovery`` the last recovery (both ``None`` without
    failures). ``observed`` says per episode whether the logged rows show its
    onset and its recovery (:class:`LoggedData`). ``incident_start``/``incident_end``
    bound the symptom of any cause the same way (for ``slow_backend`` and
    ``backend_errors`` the behaviour window). ``pools`` are the SNAT pools its
    calls draw from. ``per_minute`` holds, per scenario minute: requests,
    backend requests, requests in flight, new connections, and of its busiest
    pool and unit the *attempted* port demand (``demand_attempted``: open
    connections plus every connection closed within the hold, failed connects
    included) and the ports it really *held* (``held``: connects that found a
    port, open or closed within the hold); then its own attempted demand, the
    ports per unit (capacity), utilisation (attempted demand / capacity), the
    modelled share of its calls finding no port, the share its backend
    refused, and the connection failures the scenario caused (masked as
    Timeout or ClientConnectionFailure included).
    """

    key: TruthKey
    region: str
    destination: str
    base_url: str
    behaviour: Behaviour
    cause: str
    classification: str
    episodes: tuple[Span, ...]
    observed: tuple[tuple[bool, bool], ...]
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
    def onset_observed(self) -> bool | None:
        """Whether the logs show the first episode begin (None without episodes)."""
        return self.observed[0][0] if self.observed else None

    @property
    def recovery_observed(self) -> bool | None:
        """Whether the logs show the last episode end (None without episodes)."""
        return self.observed[-1][1] if self.observed else None

    @property
    def peak_demand(self) -> float:
        """Highest attempted port demand of its busiest pool and unit."""
        return float(self.per_minute["demand_attempted"].max())

    @property
    def peak_held(self) -> float:
        """Most ports its busiest pool and unit really held."""
        return float(self.per_minute["held"].max())


@dataclass(frozen=True, eq=False)
class PoolTruth:
    """One SNAT pool: its member destinations, and per unit and minute (``[unit, minute]``) its attempted
    demand (``demand``) and the ports it held (``held``); ``units`` counts every unit the region had
    at any time (a unit before a scale-out added it has no traffic)."""

    key: PoolKey
    members: tuple[str, ...]
    capacity_per_unit: int
    demand: npt.NDArray[np.float64]
    held: npt.NDArray[np.float64]
    exhausted_units: tuple[int, ...]

    @property
    def units(self) -> int:
        return self.demand.shape[0]

    @property
    def peak_demand(self) -> float:
        """Highest attempted demand on one unit."""
        return float(self.demand.max())

    @property
    def peak_held(self) -> float:
        """Most ports one unit held: the capacity, once the unit ran out."""
        return float(self.held.max())

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
    logged: LoggedData
    missing: tuple[str, ...] = ()
    side_call_failures: dict[str, int] = field(default_factory=dict)

    @property
    def expected_verdict(self) -> str:
        if self.missing:
            return "insufficient_data"
        if any(t.classification == "snat_exhaustion" for t in self.destinations.values()):
            return "snat_exhaustion"
        return "no_snat_evidence"


def episodes_of(
    flags: npt.ArrayLike, gap: int = EPISODE_GAP_MINUTES, least: int = SUSTAINED_MINUTES
) -> list[tuple[int, int]]:
    """``[start, end)`` of each episode: failure minutes less than ``gap`` clean minutes apart are one
    episode (the ports of the first are still held), which needs at least ``least`` failure minutes.

    Ports taken together come back together one hold later, so a saturation can pause for a
    minute and fail again: that minute belongs to the episode.

    >>> episodes_of([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1])
    [(0, 6), (10, 12)]
    >>> episodes_of([0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0])
    [(1, 6)]
    """
    minutes = np.flatnonzero(np.asarray(flags, dtype=bool))
    groups: list[list[int]] = []
    for minute in minutes.tolist():
        if groups and minute - (groups[-1][-1] + 1) < gap:
            groups[-1].append(minute)
        else:
            groups.append([minute])
    return [(group[0], group[-1] + 1) for group in groups if len(group) >= least]


def minute_at(scenario: Scenario, offset: int) -> pd.Timestamp:
    """The start of minute ``offset`` of the scenario."""
    return pd.Timestamp(scenario.start).as_unit("us") + pd.Timedelta(minutes=offset)


def _end(scenario: Scenario, offset: int) -> pd.Timestamp | None:
    """The minute a symptom ended, None when it lasted to the end of the scenario."""
    return None if offset >= scenario.duration_minutes else minute_at(scenario, offset)


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
    held = load.held[cells].max(axis=0) if len(cells) else np.zeros(minutes)
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
            "demand_attempted": demand,
            "held": held,
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


def _logged_data(logged: pd.DataFrame) -> LoggedData:
    times = logged["TimeGenerated"]
    if times.empty:
        return LoggedData(0, None, None)
    return LoggedData(len(times), pd.Timestamp(times.min()), pd.Timestamp(times.max()))


def scenario_truth(
    scenario: Scenario, load: PortLoad, calls: list[Calls], outcomes: list[Outcomes], logged: pd.DataFrame
) -> ScenarioTruth:
    """The truth of every destination in every region, every pool, what the logs cover and what they lack.

    ``logged`` is every column of the rows the kit is handed.
    """
    regions = scenario.gateway_regions
    missing = missing_evidence(scenario.logging, scenario.export_columns)
    seen = _seen(logged)
    covered = _logged_data(logged)
    destinations: dict[TruthKey, DestinationTruth] = {}
    for index, destination in enumerate(scenario.destinations):
        for r, region in enumerate(regions):
            frame = _per_minute(scenario, destination, r, load, index, calls[index], outcomes[index])
            cause, episodes, span = _cause(scenario, destination, frame)
            key: TruthKey = (region.name, destination.key) if scenario.multi_region else destination.key
            spans = tuple((minute_at(scenario, s), _end(scenario, e)) for s, e in episodes)
            destinations[key] = DestinationTruth(
                key=key,
                region=region.name,
                destination=destination.key,
                base_url=destination.base_url,
                behaviour=destination.behaviour,
                cause=cause,
                classification="unknown" if missing else cause,
                episodes=spans,
                observed=tuple((covered.onset_observed(s), covered.recovery_observed(e)) for s, e in spans),
                incident_start=minute_at(scenario, span[0]) if span else None,
                incident_end=_end(scenario, span[1]) if span else None,
                pools=tuple(PoolKey(region.name, ip, destination.port) for ip in destination_ips(destination)),
                in_logs=(region.name, destination.key) in seen,
                per_minute=frame,
            )
    pools: dict[PoolKey, PoolTruth] = {}
    for pool, members in pools_of(scenario).items():
        rows = load.cells_of(pool)
        exhausted = tuple(u for u, row in enumerate(rows) if episodes_of(load.failing[row] >= SUSTAINED_SHARE))
        pools[pool] = PoolTruth(pool, members, scenario.snat_ports, load.demand[rows], load.held[rows], exhausted)
    side: dict[str, int] = {}
    for destination, out in zip(scenario.destinations, outcomes, strict=False):
        if destination.side_call is not None:
            side[destination.side_call.key] = side.get(destination.side_call.key, 0) + int(
                (out.cause == Cause.SIDE_CALL).sum()
            )
    return ScenarioTruth(destinations, pools, covered, missing, side)
