"""What the classifier says about one destination, as types: its class, the checks and the evidence.

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

from analysis.onset import Episode


class Classification(StrEnum):
    """What a destination suffered; the values are the findings.json strings, most affected first."""

    SNAT_EXHAUSTION = "snat_exhaustion"
    BACKEND_UNREACHABLE = "backend_unreachable"
    BACKEND_ERRORS = "backend_errors"
    SLOW_BACKEND = "slow_backend"
    HEALTHY = "healthy"

    @property
    def rank(self) -> int:
        """Position in the order above: 0 for SNAT exhaustion, the most affected."""
        return list(Classification).index(self)


@dataclass(frozen=True)
class Check:
    """One test of the SNAT hypothesis: what was measured, against what, and the outcome.

    ``threshold`` is a bound, or the (lowest, highest) range the measure must fall in;
    ``measured`` is None when there was nothing to measure.
    """

    name: str
    measured: float | None
    threshold: float | tuple[float, float]
    passed: bool
    detail: str


@dataclass(frozen=True)
class Traffic:
    """Figures of one destination over the whole window, from its per-minute health."""

    requests: int
    http_5xx: int
    backend_5xx: int
    connection_failures: int
    timeouts: int
    failure_share: float
    backend_5xx_share: float
    peak_snat_demand: float
    peak_utilisation: float
    demand_failure_correlation: float | None
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
    """Figures of the worst connection-failure episode; every destination with such an episode has them."""

    episode_failure_share: float
    episodes: int
    other_destinations_failing: tuple[str, ...]
    recovery_lag_minutes: float | None
    p95_backend_ms_before_onset: float | None
    demand_at_onset: float
    utilisation_at_onset: float
    low_load_failure_share: float


@dataclass(frozen=True)
class Evidence:
    """All the figures behind one classification; the optional parts exist only where they were measured."""

    traffic: Traffic
    inventory: InventoryFigures | None = None
    failure: FailureEvidence | None = None
    implied_min_requests_per_connection: float | None = None
    """Set for a healthy destination whose estimated demand passed the capacity: it must reuse connections."""

    def as_dict(self) -> dict[str, Any]:
        """The findings.json ``evidence`` object: the parts present, flat, in a fixed key order."""
        flat: dict[str, Any] = {}
        for part in (self.traffic, self.inventory, self.failure):
            if part is not None:
                flat.update(dataclasses.asdict(part))
        if self.implied_min_requests_per_connection is not None:
            flat["implied_min_requests_per_connection"] = self.implied_min_requests_per_connection
        return flat

    @property
    def p95_backend_ms(self) -> float | None:
        """The window's backend p95: the inventory's when it ran, else the worst minute's."""
        return self.inventory.p95_backend_ms if self.inventory is not None else self.traffic.worst_p95_backend_ms


@dataclass(frozen=True)
class Assessment:
    """What one destination did during the window, and why it was classified so."""

    destination: str
    classification: Classification
    reason: str
    episode: Episode | None
    evidence: Evidence
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        if self.classification is Classification.SNAT_EXHAUSTION and (
            self.episode is None or self.evidence.failure is None
        ):
            raise ValueError(f"{self.destination}: SNAT exhaustion needs its failure episode and its evidence")


@dataclass(frozen=True)
class ExhaustedDestination:
    """A destination classified as SNAT exhaustion, with the figures only such a destination has."""

    assessment: Assessment
    episode: Episode
    failure: FailureEvidence

    @property
    def destination(self) -> str:
        return self.assessment.destination

    @property
    def peak_snat_demand(self) -> float:
        """Most connections opened in one port-hold window, over the whole window."""
        return self.assessment.evidence.traffic.peak_snat_demand

    @property
    def demand_at_onset(self) -> float:
        """Estimated connections when the failures began: the capacity the logs reveal."""
        return self.failure.demand_at_onset


def exhausted(assessments: Iterable[Assessment]) -> list[ExhaustedDestination]:
    """The destinations classified as SNAT exhaustion, in the order given."""
    return [
        ExhaustedDestination(a, a.episode, a.evidence.failure)
        for a in assessments
        if a.classification is Classification.SNAT_EXHAUSTION
        and a.episode is not None
        and a.evidence.failure is not None
    ]
