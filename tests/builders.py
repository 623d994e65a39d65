"""Small hand-made health and fingerprint frames for the analysis tests: one destination, minute by minute."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.health import normalise
from analysis.diagnosis.pools import IpMap
from analysis.diagnosis.window import Diagnosis, diagnose

START = pd.Timestamp("2025-02-25 09:00")
REGION = "West Europe"


def frame(
    destination: str,
    requests: list[int],
    failures: list[int],
    p95: float = 80.0,
    backend_5xx: list[int] | None = None,
    region: str = REGION,
    busy_ms: list[float] | None = None,
) -> pd.DataFrame:
    """Health rows of one destination; ``busy_ms`` is the answered calls' busy time (default: p95 / 2 each)."""
    minutes = pd.date_range(START, periods=len(requests), freq="min")
    errors = backend_5xx or [0] * len(requests)
    busy = busy_ms or [(r - f) * p95 / 2 for r, f in zip(requests, failures, strict=True)]
    return pd.DataFrame(
        {
            "minute": minutes,
            "region": region,
            "destination": destination,
            "requests": requests,
            "successes": [r - f - b for r, f, b in zip(requests, failures, errors, strict=True)],
            "http_5xx": [f + b for f, b in zip(failures, errors, strict=True)],
            "failed_requests": [f + b for f, b in zip(failures, errors, strict=True)],
            "backend_5xx": errors,
            "connection_failures": failures,
            "get_requests": requests,
            "backend_busy_ms": busy,
            "success_busy_ms": busy,
            "backend_p50_ms": p95 / 2,
            "backend_p95_ms": p95,
            "backend_p99_ms": p95 * 1.5,
            "total_p50_ms": p95 / 2,
            "total_p95_ms": p95,
            "total_p99_ms": p95 * 1.5,
        }
    )


def failed_at(
    destination: str,
    failures: int,
    elapsed_s: float = 21,
    reason: str = "BackendConnectionFailure",
    region: str = REGION,
    answered: bool = False,
    source: str = "forward-request",
) -> pd.DataFrame:
    """Fingerprint rows: ``failures`` calls of ``destination`` that ended after ``elapsed_s`` seconds."""
    return pd.DataFrame(
        {
            "region": [region],
            "destination": [destination],
            "reason": [reason],
            "source": [source if reason else ""],
            "answered": [answered],
            "elapsed_s": [elapsed_s],
            "requests": [failures],
            "sample_message": [""],
        }
    )


def fingerprint_of(*frames: pd.DataFrame, elapsed_s: float = 21) -> pd.DataFrame:
    """Fingerprint rows for every failure of the health frames, all ending after ``elapsed_s`` seconds."""
    rows = [
        failed_at(
            str(f["destination"].iloc[0]), int(f["connection_failures"].sum()), elapsed_s, region=f["region"].iloc[0]
        )
        for f in frames
        if f["connection_failures"].sum()
    ]
    return pd.concat(rows, ignore_index=True) if rows else failed_at("none:443", 0).iloc[0:0]


def diagnosis_of(
    *frames: pd.DataFrame,
    assumptions: Assumptions | None = None,
    fingerprint: pd.DataFrame | None = None,
    ip_map: IpMap | None = None,
    absent_columns: tuple[str, ...] = (),
    drivers: pd.DataFrame | None = None,
) -> Diagnosis:
    """The diagnosis of the frames; failures end at the connect timeout unless ``fingerprint`` says otherwise."""
    health = normalise(pd.concat(frames, ignore_index=True))
    end = health["minute"].max() + pd.Timedelta(minutes=1)
    return diagnose(
        health,
        (START, end),
        fingerprint if fingerprint is not None else fingerprint_of(*frames),
        assumptions or Assumptions(),
        drivers=drivers,
        absent_columns=absent_columns,
        ip_map=ip_map,
    )


def assessment_of(diagnosis: Diagnosis, destination: str, region: str = REGION):
    """The assessment of one destination in one region."""
    (found,) = [a for a in diagnosis.assessments if a.destination == destination and a.region == region]
    return found


BURST = [50] * 10 + [400] * 12 + [50] * 10
SNAT_FAILURES = [0] * 12 + [20, 60, 90, 110, 120, 120, 120, 120, 120, 120] + [80, 30, 5] + [0] * 7
OUTAGE_FAILURES = [0] * 14 + [50] * 6 + [0] * 12
