"""Per-destination classification, with the evidence that decided it.

SNAT exhaustion has look-alikes that also fill the logs with
``BackendConnectionFailure``. What sets it apart: failures follow the
destination's own trailing connection demand, begin only once that demand is
near capacity, never take every request, and stop a few minutes after demand
falls (``snat_checks``). A backend that is down fails (nearly) every call, at any load.

The classes are tried in ``RULES`` order; the first that applies decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.assessment import (
    Assessment,
    Classification,
    Evidence,
    FailureEvidence,
    InventoryFigures,
    Traffic,
)
from analysis.assumptions import Assumptions
from analysis.health import share
from analysis.onset import Episode, bad_minutes, episodes
from analysis.snat_checks import measure, run_checks

MIN_BACKEND_5XX_SHARE = 0.05


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def _round_max(series: pd.Series, digits: int = 1) -> float | None:
    """The rounded maximum, or None when the series has no value."""
    return _round(float(series.max()), digits) if series.notna().any() else None


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


def _others_failing(frame: pd.DataFrame, destination: str, episode: Episode) -> tuple[str, ...]:
    last = episode.recovery if episode.recovery is not None else frame["minute"].max() + pd.Timedelta(minutes=1)
    during = frame[
        (frame["minute"] >= episode.onset) & (frame["minute"] < last) & (frame["destination"] != destination)
    ]
    totals = during.groupby("destination")[["connection_failures", "requests"]].sum()
    failing = totals[totals["connection_failures"] >= np.maximum(3, 0.01 * totals["requests"])]
    return tuple(sorted(failing.index))


def _traffic(own: pd.DataFrame) -> Traffic:
    """Whole-window figures of one destination's minutes."""
    requests = int(own["requests"].sum())
    failures = int(own["connection_failures"].sum())
    backend_5xx = int(own["backend_5xx"].sum())
    failure_rate = own["connection_failures"] / own["requests"].where(own["requests"] > 0)
    p95 = own["backend_p95_ms"]
    return Traffic(
        requests=requests,
        http_5xx=int(own["http_5xx"].sum()),
        backend_5xx=backend_5xx,
        connection_failures=failures,
        timeouts=int(own["timeouts"].sum()),
        failure_share=round(share(failures, requests), 3),
        backend_5xx_share=round(share(backend_5xx, requests), 3),
        peak_snat_demand=round(float(own["snat_demand"].max()), 1) if len(own) else 0.0,
        peak_utilisation=round(float(own["utilisation"].max()), 3) if len(own) else 0.0,
        demand_failure_correlation=_round(_correlation(own["snat_demand"], failure_rate)),
        median_p95_backend_ms=_round(float(p95.median()), 1) if p95.notna().any() else None,
        worst_p95_backend_ms=_round_max(p95),
    )


def _inventory_figures(inventory: pd.DataFrame | None, destination: str) -> InventoryFigures | None:
    """Whole-window figures from the destination inventory query, when it ran."""
    if inventory is None or inventory.empty:
        return None
    rows = inventory[inventory["destination"] == destination]
    if rows.empty:
        return None
    row = rows.iloc[0]
    p95 = row["backend_p95_ms"]
    return InventoryFigures(
        p95_backend_ms=None if pd.isna(p95) else float(p95),
        request_share=_round(float(row["request_share"])),
        error_share=_round(float(row["error_share"])),
    )


@dataclass(frozen=True)
class _Destination:
    """One destination's minutes, with what every rule reads."""

    name: str
    own: pd.DataFrame
    frame: pd.DataFrame
    assumptions: Assumptions
    evidence: Evidence


def _connection_failures(d: _Destination) -> Assessment | None:
    """SNAT exhaustion when every SNAT check passes on the worst episode, else an unreachable backend."""
    found = connection_failure_episodes(d.own)
    if not found:
        return None
    episode = max(found, key=lambda e: e.events)
    traffic = d.evidence.traffic
    measures = measure(d.own, episode, traffic.demand_failure_correlation, d.assumptions.port_hold_minutes)
    before = d.own[(d.own["minute"] < episode.onset) & (d.own["minute"] >= episode.onset - pd.Timedelta(minutes=5))]
    failure = FailureEvidence(
        episode_failure_share=round(episode.share, 3),
        episodes=len(found),
        other_destinations_failing=_others_failing(d.frame, d.name, episode),
        recovery_lag_minutes=measures.recovery_lag_minutes,
        p95_backend_ms_before_onset=_round_max(before["backend_p95_ms"]),
        demand_at_onset=round(measures.demand_at_onset, 1),
        utilisation_at_onset=round(measures.utilisation_at_onset, 3),
        low_load_failure_share=round(measures.low_load_failure_share, 3),
    )
    evidence = replace(d.evidence, failure=failure)
    checks = run_checks(measures)
    failures = traffic.connection_failures
    if all(check.passed for check in checks):
        reason = (
            f"{failures} connection failures that rise and fall with this destination's own connection demand, "
            f"starting at {failure.utilisation_at_onset:.0%} of the assumed SNAT capacity"
        )
        return Assessment(d.name, Classification.SNAT_EXHAUSTION, reason, episode, evidence, checks)
    failed = ", ".join(check.name for check in checks if not check.passed)
    reason = (
        f"{failures} connection failures ({episode.share:.0%} of calls during the episode) "
        f"not explained by load: {failed} failed"
    )
    return Assessment(d.name, Classification.BACKEND_UNREACHABLE, reason, episode, evidence, checks)


def _backend_errors(d: _Destination) -> Assessment | None:
    """HTTP 5xx from the backend itself, in episodes or over the window."""
    own, traffic = d.own, d.evidence.traffic
    found = episodes(
        own["minute"],
        bad_minutes(own["backend_5xx"], own["requests"], min_share=MIN_BACKEND_5XX_SHARE),
        own["backend_5xx"],
        own["requests"],
    )
    if not found and share(traffic.backend_5xx, traffic.requests) < MIN_BACKEND_5XX_SHARE:
        return None
    episode = max(found, key=lambda e: e.events) if found else None
    reason = f"{traffic.backend_5xx} HTTP 5xx returned by the backend itself, with no connection errors"
    return Assessment(d.name, Classification.BACKEND_ERRORS, reason, episode, d.evidence)


def _slow_backend(d: _Destination) -> Assessment | None:
    """At least three slow minutes (backend p95 over ``slow_p95_ms``) while the backend kept answering."""
    own, threshold = d.own, d.assumptions.slow_p95_ms
    slow = (own["backend_p95_ms"] >= threshold).astype(int)
    found = episodes(own["minute"], slow.astype(bool), slow, (own["requests"] > 0).astype(int), min_minutes=3)
    if not found:
        return None
    episode = max(found, key=lambda e: e.bad_minutes)
    reason = (
        f"backend p95 at or above {threshold:.0f} ms for {episode.bad_minutes} minutes "
        f"(worst {d.evidence.traffic.worst_p95_backend_ms:.0f} ms) while the backend kept answering"
    )
    return Assessment(d.name, Classification.SLOW_BACKEND, reason, episode, d.evidence)


def _healthy(d: _Destination) -> Assessment:
    """Nothing sustained; a destination busier than the capacity allows shows the reuse it must have."""
    traffic, evidence = d.evidence.traffic, d.evidence
    if traffic.connection_failures:
        reason = f"{traffic.connection_failures} isolated connection failures, never sustained enough to be an episode"
    else:
        reason = "no sustained connection failures, backend errors or slowness"
    if traffic.peak_utilisation > 1:
        # It never ran out of ports although the estimate says it should have: it reuses connections.
        reuse = traffic.peak_utilisation * d.assumptions.requests_per_connection
        evidence = replace(evidence, implied_min_requests_per_connection=round(reuse, 1))
        reason += (
            f"; its estimated demand reached {traffic.peak_utilisation:.0%} of capacity without failures, so it "
            f"carries at least {reuse:.1f} requests per connection (or the capacity is larger than assumed)"
        )
    return Assessment(d.name, Classification.HEALTHY, reason, None, evidence)


# Tried in order; the first that applies decides, and a destination no rule claims is healthy.
RULES: tuple[Callable[[_Destination], Assessment | None], ...] = (_connection_failures, _backend_errors, _slow_backend)


def assess(
    frame: pd.DataFrame, destination: str, assumptions: Assumptions, inventory: pd.DataFrame | None = None
) -> Assessment:
    """Classify one destination of a demand frame (``snat.snat_demand`` output).

    ``inventory`` (the destination inventory query's result) adds whole-window
    figures to the evidence: the overall backend p95 and the destination's shares.
    """
    own = frame[frame["destination"] == destination].sort_values("minute").reset_index(drop=True)
    evidence = Evidence(_traffic(own), _inventory_figures(inventory, destination))
    found = _Destination(destination, own, frame, assumptions, evidence)
    for rule in RULES:
        assessment = rule(found)
        if assessment is not None:
            return assessment
    return _healthy(found)


def assess_all(
    frame: pd.DataFrame, assumptions: Assumptions, inventory: pd.DataFrame | None = None
) -> list[Assessment]:
    """Every destination of the window, the most affected first."""
    assessments = [assess(frame, destination, assumptions, inventory) for destination in frame["destination"].unique()]
    return sorted(
        assessments,
        key=lambda a: (a.classification.rank, -a.evidence.traffic.connection_failures, a.destination),
    )
