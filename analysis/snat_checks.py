"""The tests of the SNAT hypothesis on a destination's worst connection-failure episode, as a table.

SNAT exhaustion is called only when every check passes. Each check is a small
function of the episode's measures that returns what it measured, the threshold
it held that against, the outcome and a sentence for the report; adding a check
is adding one function to ``SNAT_CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analysis.assessment import Check
from analysis.health import share
from analysis.onset import Episode

# Thresholds of the SNAT checks; each is reported beside the value it judged.
MIN_DEMAND_CORRELATION = 0.4
MAX_LOW_LOAD_FAILURE_SHARE = 0.01
MAX_SNAT_FAILURE_SHARE = 0.9
MIN_UTILISATION_AT_ONSET = 0.5
LOW_LOAD_FRACTION = 0.5
MAX_EARLY_RECOVERY_MINUTES = 1


@dataclass(frozen=True)
class EpisodeMeasures:
    """What the checks judge, measured once on one destination's worst connection-failure episode."""

    episode: Episode
    correlation: float | None
    """Spearman correlation of trailing demand and failure rate, as the evidence shows it (rounded)."""
    demand_at_onset: float
    utilisation_at_onset: float
    low_load_failure_share: float
    """Failed share of the requests while demand was under ``LOW_LOAD_FRACTION`` of its onset level."""
    recovery_lag_minutes: float | None
    """Minutes from demand falling back under its onset level (after the peak) to recovery."""
    hold_minutes: int


def _recovery_lag(own: pd.DataFrame, episode: Episode, demand_at_onset: float) -> float | None:
    if episode.recovery is None:
        return None
    after_peak = own[(own["minute"] > episode.peak) & (own["snat_demand"] < demand_at_onset)]
    if after_peak.empty:
        return None
    return float((episode.recovery - after_peak["minute"].iloc[0]) / pd.Timedelta(minutes=1))


def measure(own: pd.DataFrame, episode: Episode, correlation: float | None, hold_minutes: int) -> EpisodeMeasures:
    """The measures of ``episode`` on one destination's demand frame (its minutes, in order)."""
    at_onset = own.loc[own["minute"] == episode.onset].iloc[0]
    demand_at_onset = float(at_onset["snat_demand"])
    low_load = own[own["snat_demand"] < LOW_LOAD_FRACTION * demand_at_onset]
    return EpisodeMeasures(
        episode=episode,
        correlation=correlation,
        demand_at_onset=demand_at_onset,
        utilisation_at_onset=float(at_onset["utilisation"]),
        low_load_failure_share=share(low_load["connection_failures"].sum(), low_load["requests"].sum()),
        recovery_lag_minutes=_recovery_lag(own, episode, demand_at_onset),
        hold_minutes=hold_minutes,
    )


def failures_follow_demand(m: EpisodeMeasures) -> Check:
    """SNAT failures rise and fall with the destination's own connection demand."""
    shown = "n/a" if m.correlation is None else f"{m.correlation:.2f}"
    return Check(
        "failures_follow_demand",
        m.correlation,
        MIN_DEMAND_CORRELATION,
        m.correlation is not None and m.correlation >= MIN_DEMAND_CORRELATION,
        f"Spearman correlation of trailing demand and failure rate {shown} (SNAT needs >= {MIN_DEMAND_CORRELATION})",
    )


def no_failures_at_low_load(m: EpisodeMeasures) -> Check:
    """Ports are plenty while demand is low: SNAT spares those minutes, an outage does not."""
    return Check(
        "no_failures_at_low_load",
        m.low_load_failure_share,
        MAX_LOW_LOAD_FAILURE_SHARE,
        m.low_load_failure_share <= MAX_LOW_LOAD_FAILURE_SHARE,
        f"{m.low_load_failure_share:.1%} of requests failed while demand was under half of its onset level "
        f"(SNAT needs <= {MAX_LOW_LOAD_FAILURE_SHARE:.0%})",
    )


def some_requests_get_through(m: EpisodeMeasures) -> Check:
    """Ports free up all the time, so some calls get one; a backend that is down fails them all."""
    failed = m.episode.share
    return Check(
        "some_requests_get_through",
        failed,
        MAX_SNAT_FAILURE_SHARE,
        failed < MAX_SNAT_FAILURE_SHARE,
        f"{failed:.1%} of requests failed during the episode "
        f"(an outage fails nearly all; SNAT needs < {MAX_SNAT_FAILURE_SHARE:.0%})",
    )


def demand_near_capacity_at_onset(m: EpisodeMeasures) -> Check:
    """Ports run out only near the capacity: failures that start far below it have another cause."""
    return Check(
        "demand_near_capacity_at_onset",
        m.utilisation_at_onset,
        MIN_UTILISATION_AT_ONSET,
        m.utilisation_at_onset >= MIN_UTILISATION_AT_ONSET,
        f"estimated demand at onset {m.demand_at_onset:.0f} connections = {m.utilisation_at_onset:.0%} of the "
        f"assumed capacity (SNAT needs >= {MIN_UTILISATION_AT_ONSET:.0%})",
    )


def recovers_as_demand_falls(m: EpisodeMeasures) -> Check:
    """SNAT frees ports only as demand falls: failures stop a few minutes after it does, not before."""
    name = "recovers_as_demand_falls"
    latest = 2 * m.hold_minutes
    allowed = (-MAX_EARLY_RECOVERY_MINUTES, latest)
    lag = m.recovery_lag_minutes
    if m.episode.recovery is None:
        return Check(name, None, allowed, True, "still failing when the window ends: the recovery cannot be judged")
    if lag is None:
        return Check(name, None, allowed, False, "failures stopped while demand stayed at or above its onset level")
    return Check(
        name,
        lag,
        allowed,
        -MAX_EARLY_RECOVERY_MINUTES <= lag <= latest,
        f"failures stopped {lag:.0f} minute(s) after demand fell back below its onset level "
        f"(SNAT needs -{MAX_EARLY_RECOVERY_MINUTES} to {latest})",
    )


SNAT_CHECKS: tuple[Callable[[EpisodeMeasures], Check], ...] = (
    failures_follow_demand,
    no_failures_at_low_load,
    some_requests_get_through,
    demand_near_capacity_at_onset,
    recovers_as_demand_falls,
)


def run_checks(measures: EpisodeMeasures) -> tuple[Check, ...]:
    """Every check of ``SNAT_CHECKS``, in order."""
    return tuple(check(measures) for check in SNAT_CHECKS)
