"""Per-destination classification, with the evidence that decided it.

SNAT exhaustion has look-alikes that also fill the logs with
``BackendConnectionFailure``. What sets it apart: failures follow the
destination's own trailing connection demand, begin only once that demand is
near capacity, never take every request, and stop a few minutes after demand
falls. A backend that is down fails (nearly) every call, at any load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.assumptions import Assumptions
from analysis.health import share
from analysis.onset import Episode, bad_minutes, episodes

CLASSIFICATIONS = ("snat_exhaustion", "backend_unreachable", "backend_errors", "slow_backend", "healthy")

# Thresholds of the SNAT checks; each is reported beside the value it judged.
MIN_DEMAND_CORRELATION = 0.4
MAX_LOW_LOAD_FAILURE_SHARE = 0.01
MAX_SNAT_FAILURE_SHARE = 0.9
MIN_UTILISATION_AT_ONSET = 0.5
LOW_LOAD_FRACTION = 0.5
MAX_EARLY_RECOVERY_MINUTES = 1
MIN_BACKEND_5XX_SHARE = 0.05


@dataclass(frozen=True)
class Check:
    """One test of the SNAT hypothesis: what was measured, against what, and the outcome."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Assessment:
    """What one destination did during the window, and why it was classified so."""

    destination: str
    classification: str
    reason: str
    episode: Episode | None
    evidence: dict[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def _correlation(demand: pd.Series, failure_rate: pd.Series) -> float | None:
    both = pd.DataFrame({"demand": demand, "rate": failure_rate}).dropna()
    if len(both) < 3 or both["demand"].nunique() < 2 or both["rate"].nunique() < 2:
        return None
    ranks = both.rank()  # Spearman's rho is Pearson's r of the ranks.
    return float(ranks["demand"].corr(ranks["rate"]))


def connection_failure_episodes(own: pd.DataFrame) -> list[Episode]:
    """Episodes of connection failures of one destination (its minutes, in order).

    They depend on no assumption, so which destinations have one is known as soon
    as the health query has run.
    """
    failures, requests = own["connection_failures"], own["requests"]
    return episodes(own["minute"], bad_minutes(failures, requests), failures, requests)


def failing_destinations(health: pd.DataFrame) -> dict[str, Episode]:
    """Each destination with a connection-failure episode, and its worst one (most failures)."""
    found = {}
    for destination, own in health.sort_values("minute").groupby("destination", sort=True):
        runs = connection_failure_episodes(own.reset_index(drop=True))
        if runs:
            found[str(destination)] = max(runs, key=lambda e: e.events)
    return found


def _others_failing(frame: pd.DataFrame, destination: str, episode: Episode) -> list[str]:
    last = episode.recovery if episode.recovery is not None else frame["minute"].max() + pd.Timedelta(minutes=1)
    during = frame[(frame["minute"] >= episode.onset) & (frame["minute"] < last) & (frame["destination"] != destination)]
    totals = during.groupby("destination")[["connection_failures", "requests"]].sum()
    failing = totals[totals["connection_failures"] >= np.maximum(3, 0.01 * totals["requests"])]
    return sorted(failing.index)


def _recovery_check(own: pd.DataFrame, episode: Episode, hold_minutes: int) -> Check:
    """SNAT frees ports only as demand falls: failures stop a few minutes after it does, not before."""
    name = "recovers_as_demand_falls"
    if episode.recovery is None:
        return Check(name, True, "still failing when the window ends: the recovery cannot be judged")
    lag = _recovery_lag(own, episode)
    if lag is None:
        return Check(name, False, "failures stopped while demand stayed at or above its onset level")
    latest = 2 * hold_minutes
    return Check(
        name,
        -MAX_EARLY_RECOVERY_MINUTES <= lag <= latest,
        f"failures stopped {lag:.0f} minute(s) after demand fell back below its onset level "
        f"(SNAT needs -{MAX_EARLY_RECOVERY_MINUTES} to {latest})",
    )


def _snat_checks(own: pd.DataFrame, episode: Episode, correlation: float | None, hold_minutes: int) -> tuple[dict[str, Any], tuple[Check, ...]]:
    """The tests of the SNAT hypothesis, and the figures they measured."""
    at_onset = own.loc[own["minute"] == episode.onset].iloc[0]
    demand_at_onset = float(at_onset["snat_demand"])
    low_load = own[own["snat_demand"] < LOW_LOAD_FRACTION * demand_at_onset]
    low_share = share(low_load["connection_failures"].sum(), low_load["requests"].sum())
    measured = {
        "demand_at_onset": _round(demand_at_onset, 1),
        "utilisation_at_onset": _round(float(at_onset["utilisation"])),
        "low_load_failure_share": _round(low_share),
    }
    shown = "n/a" if correlation is None else f"{correlation:.2f}"
    return measured, (
        Check(
            "failures_follow_demand",
            correlation is not None and correlation >= MIN_DEMAND_CORRELATION,
            f"Spearman correlation of trailing demand and failure rate {shown} (SNAT needs >= {MIN_DEMAND_CORRELATION})",
        ),
        Check(
            "no_failures_at_low_load",
            low_share <= MAX_LOW_LOAD_FAILURE_SHARE,
            f"{low_share:.1%} of requests failed while demand was under half of its onset level "
            f"(SNAT needs <= {MAX_LOW_LOAD_FAILURE_SHARE:.0%})",
        ),
        Check(
            "some_requests_get_through",
            episode.share < MAX_SNAT_FAILURE_SHARE,
            f"{episode.share:.1%} of requests failed during the episode (an outage fails nearly all; SNAT needs < {MAX_SNAT_FAILURE_SHARE:.0%})",
        ),
        Check(
            "demand_near_capacity_at_onset",
            float(at_onset["utilisation"]) >= MIN_UTILISATION_AT_ONSET,
            f"estimated demand at onset {demand_at_onset:.0f} connections = {float(at_onset['utilisation']):.0%} of the assumed capacity "
            f"(SNAT needs >= {MIN_UTILISATION_AT_ONSET:.0%})",
        ),
        _recovery_check(own, episode, hold_minutes),
    )


def _recovery_lag(own: pd.DataFrame, episode: Episode) -> float | None:
    """Minutes from demand falling back under its onset level (after the peak) to recovery."""
    if episode.recovery is None:
        return None
    demand_at_onset = float(own.loc[own["minute"] == episode.onset, "snat_demand"].iloc[0])
    after_peak = own[(own["minute"] > episode.peak) & (own["snat_demand"] < demand_at_onset)]
    if after_peak.empty:
        return None
    return (episode.recovery - after_peak["minute"].iloc[0]) / pd.Timedelta(minutes=1)


def _window_totals(inventory: pd.DataFrame | None, destination: str) -> dict[str, Any]:
    """Whole-window figures from the destination inventory query, when it ran."""
    if inventory is None or inventory.empty:
        return {}
    rows = inventory[inventory["destination"] == destination]
    if rows.empty:
        return {}
    row = rows.iloc[0]
    p95 = row["backend_p95_ms"]
    return {
        "p95_backend_ms": None if pd.isna(p95) else float(p95),
        "request_share": _round(float(row["request_share"])),
        "error_share": _round(float(row["error_share"])),
    }


def assess(frame: pd.DataFrame, destination: str, assumptions: Assumptions, inventory: pd.DataFrame | None = None) -> Assessment:
    """Classify one destination of a demand frame (``snat.snat_demand`` output).

    ``inventory`` (the destination inventory query's result) adds whole-window
    figures to the evidence: the overall backend p95 and the destination's shares.
    """
    own = frame[frame["destination"] == destination].sort_values("minute").reset_index(drop=True)
    requests = int(own["requests"].sum())
    failures = int(own["connection_failures"].sum())
    backend_5xx = int(own["backend_5xx"].sum())
    failure_rate = own["connection_failures"] / own["requests"].where(own["requests"] > 0)
    p95 = own["backend_p95_ms"]
    evidence: dict[str, Any] = {
        "requests": requests,
        "http_5xx": int(own["http_5xx"].sum()),
        "backend_5xx": backend_5xx,
        "connection_failures": failures,
        "timeouts": int(own["timeouts"].sum()),
        "failure_share": _round(share(failures, requests)),
        "backend_5xx_share": _round(share(backend_5xx, requests)),
        "peak_snat_demand": _round(float(own["snat_demand"].max()), 1) if len(own) else 0.0,
        "peak_utilisation": _round(float(own["utilisation"].max())) if len(own) else 0.0,
        "demand_failure_correlation": _round(_correlation(own["snat_demand"], failure_rate)),
        "median_p95_backend_ms": _round(float(p95.median()), 1) if p95.notna().any() else None,
        "worst_p95_backend_ms": _round(float(p95.max()), 1) if p95.notna().any() else None,
        **_window_totals(inventory, destination),
    }
    minutes = own["minute"]
    failure_episodes = connection_failure_episodes(own)
    if failure_episodes:
        episode = max(failure_episodes, key=lambda e: e.events)
        evidence.update(
            episode_failure_share=_round(episode.share),
            episodes=len(failure_episodes),
            other_destinations_failing=_others_failing(frame, destination, episode),
            recovery_lag_minutes=_recovery_lag(own, episode),
        )
        before = own[(minutes < episode.onset) & (minutes >= episode.onset - pd.Timedelta(minutes=5))]["backend_p95_ms"]
        evidence["p95_backend_ms_before_onset"] = _round(float(before.max()), 1) if before.notna().any() else None
        measured, checks = _snat_checks(own, episode, evidence["demand_failure_correlation"], assumptions.port_hold_minutes)
        evidence.update(measured)
        if all(check.passed for check in checks):
            reason = (
                f"{failures} connection failures that rise and fall with this destination's own connection demand, "
                f"starting at {evidence['utilisation_at_onset']:.0%} of the assumed SNAT capacity"
            )
            return Assessment(destination, "snat_exhaustion", reason, episode, evidence, checks)
        failed = ", ".join(check.name for check in checks if not check.passed)
        reason = f"{failures} connection failures ({episode.share:.0%} of calls during the episode) not explained by load: {failed} failed"
        return Assessment(destination, "backend_unreachable", reason, episode, evidence, checks)

    error_episodes = episodes(
        minutes,
        bad_minutes(own["backend_5xx"], own["requests"], min_share=MIN_BACKEND_5XX_SHARE),
        own["backend_5xx"],
        own["requests"],
    )
    if error_episodes or share(backend_5xx, requests) >= MIN_BACKEND_5XX_SHARE:
        error_episode = max(error_episodes, key=lambda e: e.events) if error_episodes else None
        reason = f"{backend_5xx} HTTP 5xx returned by the backend itself, with no connection errors"
        return Assessment(destination, "backend_errors", reason, error_episode, evidence)

    slow = (p95 >= assumptions.slow_p95_ms).astype(int)
    slow_episodes = episodes(minutes, slow.astype(bool), slow, (own["requests"] > 0).astype(int), min_minutes=3)
    if slow_episodes:
        episode = max(slow_episodes, key=lambda e: e.bad_minutes)
        reason = (
            f"backend p95 at or above {assumptions.slow_p95_ms:.0f} ms for {episode.bad_minutes} minutes "
            f"(worst {evidence['worst_p95_backend_ms']:.0f} ms) while the backend kept answering"
        )
        return Assessment(destination, "slow_backend", reason, episode, evidence)

    if failures:
        reason = f"{failures} isolated connection failures, never sustained enough to be an episode"
    else:
        reason = "no sustained connection failures, backend errors or slowness"
    peak_utilisation = evidence["peak_utilisation"] or 0.0
    if peak_utilisation > 1:
        # It never ran out of ports although the estimate says it should have: it reuses connections.
        reuse = peak_utilisation * assumptions.requests_per_connection
        evidence["implied_min_requests_per_connection"] = _round(reuse, 1)
        reason += (
            f"; its estimated demand reached {peak_utilisation:.0%} of capacity without failures, so it carries "
            f"at least {reuse:.1f} requests per connection (or the capacity is larger than assumed)"
        )
    return Assessment(destination, "healthy", reason, None, evidence)


def assess_all(frame: pd.DataFrame, assumptions: Assumptions, inventory: pd.DataFrame | None = None) -> list[Assessment]:
    """Every destination of the window, the most affected first."""
    assessments = [assess(frame, destination, assumptions, inventory) for destination in frame["destination"].unique()]
    order = {name: rank for rank, name in enumerate(CLASSIFICATIONS)}
    return sorted(assessments, key=lambda a: (order[a.classification], -a.evidence["connection_failures"], a.destination))
