"""Every destination's figures over the window at once, from the sparse health frame: the cheap pass.

Most destinations of a large gateway are fine. This pass computes the figures of
all of them with vectorised pandas and finds the few that need a close look
(sustained connection failures, backend errors or slowness), so that ten thousand
destinations cost little more than ten.

A destination's *failures* are the failed connects of its own calls: connection
failures from ``forward-request`` (side calls are another destination's; a call
cut near 240 s had connected), plus unanswered timeouts and client disconnects
when its fingerprint shows them to be masked connect failures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.diagnosis.assessment import Traffic
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.fingerprint import CLIENT_FAILURE, TIMEOUT, Fingerprint, Key
from analysis.diagnosis.health import KEY, share
from analysis.diagnosis.onset import bad_minutes

MIN_BACKEND_5XX_SHARE = 0.05
MIN_SLOW_MINUTES = 3


def effective_failures(frame: pd.DataFrame, fingerprints: dict[Key, Fingerprint]) -> pd.Series:
    """Per row: connection failures not cut at 240 s, plus the unanswered timeouts and client disconnects
    that the destination's fingerprint shows to be masked connect failures."""
    keys = pd.MultiIndex.from_frame(frame[KEY])
    masked = {
        reason: keys.isin([k for k, fp in fingerprints.items() if fp.masks(reason)])
        for reason in (TIMEOUT, CLIENT_FAILURE)
    }
    return (
        frame["connection_failures"]
        - frame["idle_cuts"]
        + frame["unanswered_timeouts"] * masked[TIMEOUT]
        + frame["unanswered_client_failures"] * masked[CLIENT_FAILURE]
    ).astype("float64")


@dataclass(frozen=True)
class Candidates:
    """The destinations worth a close look, by what they showed."""

    failing: list[Key]
    """At least two minutes with sustained failed connects: an episode is possible."""
    erroring: list[Key]
    slow: list[Key]

    @property
    def all(self) -> list[Key]:
        return sorted(set(self.failing) | set(self.erroring) | set(self.slow))


def window_figures(frame: pd.DataFrame, slow_p95_ms: float) -> pd.DataFrame:
    """One row per (region, destination): totals, the peaks of the demand band, latency and bad minutes.

    ``frame`` is the sparse health with ``failures`` and the band (``demand.band``).
    """
    marked = frame.assign(
        failure_minute=bad_minutes(frame["failures"], frame["requests"]),
        error_minute=bad_minutes(frame["backend_5xx"], frame["requests"], min_share=MIN_BACKEND_5XX_SHARE),
        slow_minute=frame["backend_p95_ms"] >= slow_p95_ms,
    )
    return marked.groupby(KEY, sort=True).agg(
        requests=("requests", "sum"),
        http_5xx=("http_5xx", "sum"),
        failed_requests=("failed_requests", "sum"),
        backend_5xx=("backend_5xx", "sum"),
        failures=("failures", "sum"),
        timeouts=("timeouts", "sum"),
        side_call_failures=("side_call_failures", "sum"),
        idle_cuts=("idle_cuts", "sum"),
        peak_demand_high=("demand_high", "max"),
        peak_demand_low=("demand_low", "max"),
        median_p95_backend_ms=("backend_p95_ms", "median"),
        worst_p95_backend_ms=("backend_p95_ms", "max"),
        baseline_ms=("backend_p50_ms", "median"),
        failure_minutes=("failure_minute", "sum"),
        error_minutes=("error_minute", "sum"),
        slow_minutes=("slow_minute", "sum"),
    )


def candidates(figures: pd.DataFrame) -> Candidates:
    """The destinations that showed sustained failures, backend errors or slowness."""
    backend_share = figures["backend_5xx"] / figures["requests"].where(figures["requests"] > 0)
    erroring = (figures["error_minutes"] >= 2) | (backend_share.fillna(0) >= MIN_BACKEND_5XX_SHARE)

    def keys(mask: pd.Series) -> list[Key]:
        return [(str(r), str(d)) for r, d in figures.index[mask.to_numpy()]]

    return Candidates(
        failing=keys(figures["failure_minutes"] >= 2),
        erroring=keys(erroring),
        slow=keys(figures["slow_minutes"] >= MIN_SLOW_MINUTES),
    )


def _rounded(value: float, digits: int = 1) -> float | None:
    return round(float(value), digits) if value is not None and np.isfinite(value) else None


def traffic(row: pd.Series, assumptions: Assumptions, region: str) -> Traffic:
    """The ``Traffic`` evidence of one row of ``window_figures``."""
    requests, failures = float(row["requests"]), float(row["failures"])
    peak = float(row["peak_demand_high"]) if np.isfinite(row["peak_demand_high"]) else 0.0
    return Traffic(
        requests=int(round(requests)),
        http_5xx=int(row["http_5xx"]),
        failed_requests=int(row["failed_requests"]),
        backend_5xx=int(row["backend_5xx"]),
        connection_failures=int(round(failures)),
        timeouts=int(row["timeouts"]),
        side_call_failures=int(row["side_call_failures"]),
        failure_share=round(share(row["failed_requests"], requests), 3),
        backend_5xx_share=round(share(row["backend_5xx"], requests), 3),
        peak_snat_demand=round(peak, 1),
        peak_demand_low=round(float(row["peak_demand_low"]), 1) if np.isfinite(row["peak_demand_low"]) else 0.0,
        peak_utilisation=round(peak / assumptions.capacity_in(region), 3),
        median_p95_backend_ms=_rounded(row["median_p95_backend_ms"]),
        worst_p95_backend_ms=_rounded(row["worst_p95_backend_ms"]),
    )
