"""The per-destination, per-minute health frame that every analysis step reads.

The destination health query returns only minutes that had requests; the
analysis needs every minute of the window for every destination, so trailing
windows and onsets are measured in real minutes.
"""

from __future__ import annotations

import pandas as pd

COUNT_COLUMNS = (
    "requests",
    "http_5xx",
    "backend_5xx",
    "connection_failures",
    "timeouts",
    "client_connection_failures",
    "get_requests",
    "cache_hits",
)
LATENCY_COLUMNS = (
    "backend_p50_ms",
    "backend_p95_ms",
    "backend_p99_ms",
    "total_p50_ms",
    "total_p95_ms",
    "total_p99_ms",
)


def complete_minutes(health: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every minute of ``[start, end)`` for every destination; absent columns and minutes count zero.

    >>> rows = pd.DataFrame({"minute": [pd.Timestamp("2025-01-01 10:01")], "destination": ["a:443"],
    ...                      "requests": [5]})
    >>> frame = complete_minutes(rows, pd.Timestamp("2025-01-01 10:00"), pd.Timestamp("2025-01-01 10:03"))
    >>> print(frame[["minute", "requests", "connection_failures"]].to_string(index=False))
                 minute  requests  connection_failures
    2025-01-01 10:00:00         0                    0
    2025-01-01 10:01:00         5                    0
    2025-01-01 10:02:00         0                    0
    """
    first = pd.Timestamp(start).floor("min")
    last = (pd.Timestamp(end) - pd.Timedelta(microseconds=1)).floor("min")
    minutes = pd.date_range(first, max(first, last), freq="min", name="minute")
    destinations = sorted(health["destination"].unique()) if "destination" in health else []
    index = pd.MultiIndex.from_product([destinations, minutes], names=["destination", "minute"])
    frame = health.copy()
    for column in COUNT_COLUMNS:
        if column not in frame:
            frame[column] = 0
    for column in LATENCY_COLUMNS:
        if column not in frame:
            frame[column] = float("nan")
    if frame.empty:
        frame = frame.astype({"minute": "datetime64[us]"})
    frame["minute"] = pd.to_datetime(frame["minute"]).astype("datetime64[us]")
    index = index.set_levels(index.levels[1].astype("datetime64[us]"), level=1)
    frame = frame.set_index(["destination", "minute"])[list(COUNT_COLUMNS + LATENCY_COLUMNS)]
    frame = frame.reindex(index)
    frame[list(COUNT_COLUMNS)] = frame[list(COUNT_COLUMNS)].fillna(0).astype("int64")
    frame[list(LATENCY_COLUMNS)] = frame[list(LATENCY_COLUMNS)].astype("float64")
    return frame.reset_index()[["minute", "destination", *COUNT_COLUMNS, *LATENCY_COLUMNS]]


def share(part: float, whole: float) -> float:
    """``part / whole``, or 0 when there is nothing to divide."""
    return float(part) / float(whole) if whole else 0.0
