"""Small hand-made health frames for the analysis tests: one destination, minute by minute."""

from __future__ import annotations

import pandas as pd

from analysis.assumptions import Assumptions
from analysis.health import complete_minutes
from analysis.snat import snat_demand

START = pd.Timestamp("2025-02-25 09:00")


def frame(
    destination: str, requests: list[int], failures: list[int], p95: float = 80.0, backend_5xx: list[int] | None = None
) -> pd.DataFrame:
    minutes = pd.date_range(START, periods=len(requests), freq="min")
    return pd.DataFrame(
        {
            "minute": minutes,
            "destination": destination,
            "requests": requests,
            "http_5xx": [f + (b or 0) for f, b in zip(failures, backend_5xx or [0] * len(requests), strict=True)],
            "backend_5xx": backend_5xx or [0] * len(requests),
            "connection_failures": failures,
            "timeouts": 0,
            "client_connection_failures": 0,
            "get_requests": requests,
            "cache_hits": 0,
            "backend_p50_ms": p95 / 2,
            "backend_p95_ms": p95,
            "backend_p99_ms": p95 * 1.5,
            "total_p50_ms": p95 / 2,
            "total_p95_ms": p95,
            "total_p99_ms": p95 * 1.5,
        }
    )


def demand_of(*frames: pd.DataFrame, assumptions: Assumptions | None = None) -> pd.DataFrame:
    health = pd.concat(frames, ignore_index=True)
    end = health["minute"].max() + pd.Timedelta(minutes=1)
    return snat_demand(complete_minutes(health, START, end), assumptions or Assumptions())


BURST = [50] * 10 + [400] * 12 + [50] * 10
SNAT_FAILURES = [0] * 12 + [20, 60, 90, 110, 120, 120, 120, 120, 120, 120] + [80, 30, 5] + [0] * 7
OUTAGE_FAILURES = [0] * 14 + [50] * 6 + [0] * 12
