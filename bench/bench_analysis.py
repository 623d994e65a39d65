"""Time and memory of the analysis (no query) over many destinations: the pure half of an investigation.

Builds the per-minute health result a gateway with DESTINATIONS backends would return for two hours
(each quiet destination busy in about two minutes of three, so the frame is sparse as the query
returns it), with a handful of destinations failing at the connect timeout during a burst, and runs
``investigation.recompute`` on it, then builds the findings document. Prints the rows, the seconds
of each step and the peak resident memory.

    .venv/bin/python -m bench.bench_analysis [DESTINATIONS]
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.health import normalise
from analysis.investigation.run import WindowData, recompute

START = pd.Timestamp("2025-02-25 08:00")
MINUTES = 120
FAILING = 20


def health(destinations: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A sparse health result and its failure fingerprint: FAILING destinations run out of ports."""
    names = np.array([f"backend-{n:05d}.example.net:443" for n in range(destinations)])
    cell = np.arange(destinations * MINUTES)
    who, minute = cell // MINUTES, cell % MINUTES
    keep = (rng.random(len(cell)) < 2 / 3) | (who < FAILING)  # a busy backend has requests every minute
    who, minute = who[keep], minute[keep]
    requests = rng.poisson(20, len(who)) + 1
    burst = (who < FAILING) & (minute >= 40) & (minute < 60)
    requests[burst] = rng.poisson(500, int(burst.sum()))
    failures = np.where(burst & (minute >= 43), (requests * 0.3).astype(int), 0)
    frame = pd.DataFrame(
        {
            "minute": START + pd.to_timedelta(minute, unit="min"),
            "region": "West Europe",
            "destination": names[who],
            "requests": requests,
            "successes": requests - failures,
            "http_5xx": failures,
            "connection_failures": failures,
            "get_requests": requests,
            "backend_busy_ms": (requests - failures) * 80.0,
            "success_busy_ms": (requests - failures) * 80.0,
            "backend_p50_ms": 40.0,
            "backend_p95_ms": np.where(failures > 0, 21_000.0, 80.0),
            "backend_p99_ms": 120.0,
            "total_p50_ms": 45.0,
            "total_p95_ms": 90.0,
            "total_p99_ms": 130.0,
        }
    )
    fingerprint = pd.DataFrame(
        {
            "region": "West Europe",
            "destination": names[:FAILING],
            "reason": "BackendConnectionFailure",
            "source": "forward-request",
            "answered": False,
            "elapsed_s": 21.0,
            "requests": [int(failures[who == n].sum()) for n in range(FAILING)],
            "sample_message": "",
        }
    )
    return frame, fingerprint


def main(destinations: int = 10_000) -> None:
    rows, fingerprint = health(destinations, np.random.default_rng(7))
    empty = pd.DataFrame(columns=["region", "destination", "key_kind", "key", "requests", "share"])
    began = time.perf_counter()
    data = WindowData(
        window=(START, START + pd.Timedelta(minutes=MINUTES)),
        source="bench",
        mode="resource",
        health=normalise(rows),
        inventory=pd.DataFrame(),
        errors=pd.DataFrame(),
        fingerprint=fingerprint,
        drivers=empty,
        runs=(),
        driver_runs={},
    )
    normalised = time.perf_counter() - began
    began = time.perf_counter()
    found = recompute(data, Assumptions())
    analysed = time.perf_counter() - began
    began = time.perf_counter()
    document = found.findings
    built = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    exhausted = len(found.exhausted_destinations)
    print(f"destinations: {destinations:,} over {MINUTES} min; health rows: {len(rows):,} (sparse)")
    print(f"normalise:  {normalised:6.2f} s")
    print(
        f"analysis:   {analysed:6.2f} s ({exhausted} exhausted of {FAILING} failing; verdict {found.verdict.verdict})"
    )
    print(
        f"findings:   {built:6.2f} s ({len(document['destinations']):,} destinations, {len(document['pools']):,} pools)"
    )
    print(f"peak RSS: {peak:,.0f} MiB")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
