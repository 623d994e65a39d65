"""What the diagnosis says about each destination and each SNAT pool, as types: classes, checks, evidence.

Every later step (verdict, mitigations, findings, report, explorer) reads these
types, never a dict by key, so a figure that only some destinations have is an
``Optional`` the type checker makes the caller handle, not a ``KeyError`` in a
notebook. ``Evidence.as_dict`` is the ``evidence`` object of ``findings.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from analysis.diagnosis.onset import Episode
from analysis.diagnosis.pools import Pool


class Classification(StrEnum):
    """What a destination suffered; the values are the findings.json strings, most affected first.

    ``UNKNOWN``: the logs cannot tell (a column the checks need is missing, or only failed
    requests were logged); never reported as healthy.
    """

    SNAT_EXHAUSTION = "snat_exhaustion"
    BACKEND_UNREACHABLE = "backend_unreachable"
    BACKEND_ERRORS = "backend_errors"
    SLOW_BACKEND = "slow_backend"
    HEALTHY = "healthy"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Position in the order above: 0 for SNAT exhaustion, the most affected."""
        return list(Classification).index(self)


class CheckOutcome(StrEnum):
    """How one SNAT check came out: ``PASSED`` supports SNAT, ``FAILED`` counts against it, ``NOT_JUDGED`` when
    the data cannot answer it (it does not vote)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_JUDGED = "not_judged"


class Confidence(StrEnum):
    """How sure a classification or verdict is, from the balance of the evidence; the findings.json strings."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Check:
    """One test of the SNAT hypothesis: what was measured, against what, the outcome and how much it weighs.

    ``threshold`` is a bound, or the (lowest, highest) range the measure must fall in;
    ``measured`` is None when there was nothing to measure; ``weight`` is how strongly the
    outcome bears on SNAT (0 when not judged); ``ceiling``, when it counts against SNAT, is
    the most confidence any answer can have (what it measured has another reading the logs
    cannot rule out).
    """

    name: str
    measured: float | None
    threshold: float | tuple[float, float]
    outcome: CheckOutcome
    detail: str
    weight: float = 0.0
    ceiling: Confidence | None = None

    @property
    def passed(self) -> bool:
        return self.outcome is CheckOutcome.PASSED


@dataclass(frozen=True)
class Balance:
    """The SNAT checks of one pool weighed: the support, the counter-evidence, the answer and how sure it is."""

    support: float
    against: float
    snat: bool
    confidence: Confidence
    decided_by: tuple[str, ...]
    """The checks that weighed most on the winning side."""


@dataclass(frozen=True)
class HoldsIf:
    """Over which values of what the logs cannot show SNAT explains a pool's failures, and what would confirm it.

    The ports a pool held while it failed lie between the calls in flight (perfect reuse) and every
    successful connect in the hold a new connection (the least reuse assumed): a saturated pool holds
    its capacity, so SNAT explains the failures if the pool had at most ``ports_at_most`` ports.
    """

    ports_at_least: float
    ports_at_most: float
    units: int
    concentrated: bool
    requests_per_connection: float
    assumed_ports: int
    """The fewest ports the pool may have had under the assumptions (``Capacity.low``)."""
    connect_timer_s: float | None
    contradiction: str | None = None
    """The assumed capacity set against the ports held, when the two do not fit."""
    look_alike: str | None = None
    """The other limit of the same shape (concurrent backend connections per authority), fitting or ruled out."""
    confirm: tuple[str, ...] = ()

    @property
    def per_unit_at_most(self) -> float:
        """The most ports per unit: all of them on one unit when few callers carried the load."""
        return self.ports_at_most if self.concentrated or self.units <= 1 else self.ports_at_most / self.units

    @property
    def statement(self) -> str:
        units = (
            f" in all ({self.per_unit_at_most:,.0f} per unit over {self.units} units)"
            if self.units > 1 and not self.concentrated
            else " on one unit"
            if self.units > 1
            else ""
        )
        return (
            f"SNAT explains this if the pool had at most about {self.ports_at_most:,.0f} ports{units} at "
            f"{self.requests_per_connection:g} request(s) per connection (fewer with more reuse), and at least the "
            f"{self.ports_at_least:,.0f} calls in flight"
        )


@dataclass(frozen=True)
class Traffic:
    """Figures of one destination over the whole window, from its per-minute health."""

    requests: int
    http_5xx: int
    failed_requests: int
    """Requests answered with HTTP 5xx or whose own call could not connect or got no answer, each once."""
    backend_5xx: int
    connection_failures: int
    """Failed connects of its own calls: connection failures (calls cut near 240 s apart) plus masked ones."""
    timeouts: int
    side_call_failures: int
    failure_share: float
    """``failed_requests`` against the requests: every failed request, not only the failed connects."""
    backend_5xx_share: float
    peak_snat_demand: float
    """The top of the demand band at its peak: in flight + every request in the hold a new connection."""
    peak_demand_low: float
    """The bottom of the band at its peak: the requests in flight."""
    peak_utilisation: float
    """``peak_snat_demand`` against the capacity of its region."""
    median_p95_backend_ms: float | None
    worst_p95_backend_ms: float | None


@dataclass(frozen=True)
class InventoryFigures:
    """Whole-window figures from the destination inventory query, when it ran and listed the destination."""

    p95_backend_ms: float | None
    request_share: float | None
    error_share: float | None


@dataclass(frozen=True)
class FailureEvidence:
    """Figures of the worst connection-failure episode of the pool a destination was judged in."""

    episode_failure_share: float
    episodes: int
    other_destinations_failing: tuple[str, ...]
    recovery_lag_minutes: float | None
    p95_backend_ms_before_onset: float | None
    demand_at_onset: float
    """Top of the demand band at onset."""
    demand_at_onset_low: float
    """Bottom of the demand band (in flight) at onset."""
    utilisation_at_onset: float
    """Top of the band at onset against the smallest capacity the pool may have had."""
    low_load_failure_share: float
    correlation_in_flight: float | None
    correlation_requests: float | None
    """Spearman correlation of the failure rate with each end of the band (in flight, requests in the hold)."""
    share_at_timeout: float | None
    share_fast: float | None
    """Shares of the failed connects that ended at a timeout, and in under a second."""
    masked_failures: int
    share_slow: float | None = None
    """Share of the failed connects that waited a second or more (at a timer or not)."""
    connect_timer_s: float | None = None
    """The connect timer the failed connects show (or the ``connect_timeout_s`` given); None when none shows."""
    separation: float | None = None
    """How often a failing minute's demand beat a calm minute's (the measure that tells them apart best)."""
    held_ports_low: float | None = None
    held_ports_high: float | None = None
    """The ports the pool held while it failed: the calls in flight, and every successful connect in the hold."""
    release_ratio: float | None = None
    """New connects at the recovery against the ports released per minute before it."""


@dataclass(frozen=True)
class Evidence:
    """All the figures behind one classification; the optional parts exist only where they were measured."""

    traffic: Traffic
    inventory: InventoryFigures | None = None
    failure: FailureEvidence | None = None
    missing: tuple[str, ...] = ()
    """What the logs lack for judging this destination (columns, successful requests)."""
    implied_min_requests_per_connection: float | None = None
    """Set for a healthy destination whose estimated demand passed the capacity: it must reuse connections."""

    def as_dict(self) -> dict[str, Any]:
        """The findings.json ``evidence`` object: the parts present, flat, in a fixed key order."""
        flat: dict[str, Any] = {}
        for part in (self.traffic, self.inventory, self.failure):
            if part is not None:
                flat.update(dataclasses.asdict(part))
        if self.missing:
            flat["missing"] = list(self.missing)
        if self.implied_min_requests_per_connection is not None:
            flat["implied_min_requests_per_connection"] = self.implied_min_requests_per_connection
        return flat

    @property
    def p95_backend_ms(self) -> float | None:
        """The window's backend p95: the inventory's when it ran, else the worst minute's."""
        return self.inventory.p95_backend_ms if self.inventory is not None else self.traffic.worst_p95_backend_ms


@dataclass(frozen=True)
class Capacity:
    """The ports of one pool: per unit, the region's units, and whether few callers carried the load.

    Traffic reaches a unit by a hash of the client connection, so when fewer callers than
    units sent most of the calls, their connections may all have landed on one unit.
    """

    ports_per_unit: int
    units: int
    concentrated: bool = False

    @property
    def high(self) -> int:
        """The ports when the load spreads evenly over the units."""
        return self.ports_per_unit * self.units

    @property
    def low(self) -> int:
        """The fewest ports the load may have had: one unit's when a few callers carried it."""
        return self.ports_per_unit if self.concentrated else self.high


class PoolState(StrEnum):
    """What the checks said about a pool; the values are the findings.json strings."""

    EXHAUSTED = "exhausted"
    NOT_EXHAUSTED = "not_exhausted"
    NOT_TESTED = "not_tested"
    """No connection-failure episode: nothing to test."""


@dataclass(frozen=True)
class PoolAssessment:
    """One pool: its members, capacity, demand band, and the SNAT checks on its worst episode."""

    pool: Pool
    state: PoolState
    capacity: Capacity
    peak_demand_low: float
    peak_demand_high: float
    reason: str
    episode: Episode | None = None
    episodes: tuple[Episode, ...] = ()
    checks: tuple[Check, ...] = ()
    failure: FailureEvidence | None = None
    balance: Balance | None = None
    """The checks weighed; None when the pool was not tested."""
    holds_if: HoldsIf | None = None

    @property
    def id(self) -> str:
        return self.pool.id

    @property
    def exhausted(self) -> bool:
        return self.state is PoolState.EXHAUSTED


@dataclass(frozen=True)
class Assessment:
    """What one destination did during the window in one region, and why it was classified so."""

    destination: str
    region: str
    classification: Classification
    reason: str
    episode: Episode | None
    """The worst episode (most failures, or the worst slow stretch); ``episodes`` holds them all."""
    evidence: Evidence
    checks: tuple[Check, ...] = ()
    episodes: tuple[Episode, ...] = ()
    pool: PoolAssessment | None = None
    """The pool it was judged in (the exhausted one, for SNAT exhaustion)."""
    confidence: Confidence = Confidence.HIGH
    decided_by: tuple[str, ...] = ()
    """The checks (or the rule) that decided the classification."""
    alternatives: tuple[Classification, ...] = ()
    """Other causes the evidence cannot rule out (when the confidence is low)."""

    def __post_init__(self) -> None:
        if self.classification is Classification.SNAT_EXHAUSTION and (
            self.episode is None or self.evidence.failure is None or self.pool is None
        ):
            raise ValueError(f"{self.destination}: SNAT exhaustion needs its failure episode, evidence and pool")

    @property
    def key(self) -> tuple[str, str]:
        return self.region, self.destination

    @property
    def label(self) -> str:
        """``host:port``, with the region when the logs name one."""
        return f"{self.destination} ({self.region})" if self.region else self.destination


@dataclass(frozen=True)
class ExhaustedDestination:
    """A destination classified as SNAT exhaustion, with the figures only such a destination has."""

    assessment: Assessment
    episode: Episode
    failure: FailureEvidence
    pool: PoolAssessment

    @property
    def destination(self) -> str:
        return self.assessment.destination

    @property
    def label(self) -> str:
        return self.assessment.label

    @property
    def peak_snat_demand(self) -> float:
        """The top of its pool's demand band at the pool's peak."""
        return self.pool.peak_demand_high

    @property
    def demand_at_onset(self) -> float:
        """The top of the band when the failures began: the most ports the pool can have had then."""
        return self.failure.demand_at_onset


def exhausted(assessments: Iterable[Assessment]) -> list[ExhaustedDestination]:
    """The destinations classified as SNAT exhaustion, in the order given."""
    return [
        ExhaustedDestination(a, a.episode, a.evidence.failure, a.pool)
        for a in assessments
        if a.classification is Classification.SNAT_EXHAUSTION
        and a.episode is not None
        and a.evidence.failure is not None
        and a.pool is not None
    ]
