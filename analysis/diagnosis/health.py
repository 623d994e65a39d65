"""The per-destination, per-minute health frame that every analysis step reads.

The destination health query returns only the minutes that had requests, per
gateway region and destination: the frame stays that sparse, so its memory is
bounded by the result, not by minutes x destinations. Only the few destinations
the diagnosis looks at closely get every minute of the window (``dense``), so
that trailing windows, onsets and recoveries are measured in real minutes.

A minute in which the whole gateway logged nothing while it was busy on both
sides is an ingestion gap, not an idle minute: the traffic still happened and
still held ports, so ``dense`` fills its demand from its neighbours and flags it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY = ["region", "destination"]
COUNT_COLUMNS = (
    "requests",
    "successes",
    "http_5xx",
    "failed_requests",
    "backend_5xx",
    "connection_failures",
    "idle_cuts",
    "side_call_failures",
    "timeouts",
    "unanswered_timeouts",
    "client_connection_failures",
    "unanswered_client_failures",
    "get_requests",
    "cache_hits",
)
BUSY_COLUMNS = ("backend_busy_ms", "success_busy_ms")
LATENCY_COLUMNS = (
    "backend_p50_ms",
    "backend_p95_ms",
    "backend_p99_ms",
    "total_p50_ms",
    "total_p95_ms",
    "total_p99_ms",
)
COLUMNS = ("minute", *KEY, *COUNT_COLUMNS, *BUSY_COLUMNS, *LATENCY_COLUMNS)
#: A silent minute between minutes this busy (gateway-wide requests on each side) is a gap in the logs:
#: Poisson odds of a whole busy minute without a request are below e^-10.
GAP_MIN_REQUESTS = 10
#: Longer silences are taken as real: the logs cannot tell what happened then.
MAX_GAP_MINUTES = 5
#: What the demand needs from a gap minute, filled from its neighbours.
FILLED_COLUMNS = ("requests", "successes", *BUSY_COLUMNS)


def normalise(result: pd.DataFrame) -> pd.DataFrame:
    """The health query's rows typed and sorted by region, destination and minute; absent columns count zero.

    A result without a ``region`` column (an older export) is one region named "".

    >>> rows = pd.DataFrame({"minute": [pd.Timestamp("2025-01-01 10:01")], "destination": ["a:443"],
    ...                      "requests": [5]})
    >>> print(normalise(rows)[["minute", "region", "destination", "requests", "idle_cuts"]].to_string(index=False))
                 minute region destination  requests  idle_cuts
    2025-01-01 10:01:00              a:443         5          0
    """
    frame = result.copy()
    if "region" not in frame:
        frame["region"] = ""
    if "destination" not in frame:
        frame["destination"] = pd.Series(dtype="object")
    for column in (*COUNT_COLUMNS, *BUSY_COLUMNS):
        frame[column] = frame[column].fillna(0) if column in frame else 0
    for column in LATENCY_COLUMNS:
        if column not in frame:
            frame[column] = float("nan")
    frame["minute"] = pd.to_datetime(frame["minute"]).astype("datetime64[us]")
    frame["region"] = frame["region"].fillna("").astype(str)
    frame["destination"] = frame["destination"].astype(str)
    frame = frame.astype(
        {
            **{c: "int64" for c in COUNT_COLUMNS},
            **{c: "float64" for c in (*BUSY_COLUMNS, *LATENCY_COLUMNS)},
        }
    )
    return frame[list(COLUMNS)].sort_values([*KEY, "minute"], ignore_index=True)


def reweighted(health: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Successful rows stand for ``factor`` requests each (sampled logging that always logs errors).

    >>> rows = normalise(pd.DataFrame({"minute": [pd.Timestamp("2025-01-01")], "destination": ["a:443"],
    ...                                "requests": [30], "successes": [20], "success_busy_ms": [2000.0],
    ...                                "backend_busy_ms": [2500.0]}))
    >>> reweighted(rows, 5.0)[["requests", "successes", "backend_busy_ms"]].values.tolist()
    [[110.0, 100.0, 10500.0]]
    """
    if factor == 1.0:
        return health
    frame = health.copy()
    extra = frame["successes"] * (factor - 1.0)
    frame["requests"] = frame["requests"] + extra
    frame["successes"] = frame["successes"] * factor
    frame["backend_busy_ms"] = frame["backend_busy_ms"] + frame["success_busy_ms"] * (factor - 1.0)
    frame["success_busy_ms"] = frame["success_busy_ms"] * factor
    return frame


def window_minutes(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Every whole minute of ``[start, end)``."""
    first = pd.Timestamp(start).floor("min")
    last = (pd.Timestamp(end) - pd.Timedelta(microseconds=1)).floor("min")
    return pd.date_range(first, max(first, last), freq="min", name="minute").astype("datetime64[us]")


def traffic_span(
    health: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp], margin: int
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The part of ``window`` from its first minute with traffic to ``margin`` minutes after its last.

    A port is held only after a request; minutes far from any request hold none and judge nothing,
    so a two-year window over a two-hour export is analysed like the two hours, in their memory.

    >>> rows = normalise(pd.DataFrame({"minute": [pd.Timestamp("2025-01-01 10:00")], "destination": "a:443",
    ...                                "requests": [5]}))
    >>> [t.strftime("%Y-%m-%d %H:%M") for t in traffic_span(rows, (pd.Timestamp("2024-01-01"),
    ...                                                               pd.Timestamp("2026-01-01")), 10)]
    ['2025-01-01 10:00', '2025-01-01 10:11']
    """
    if health.empty:
        return window
    step = pd.Timedelta(minutes=margin)
    first, last = health["minute"].min(), health["minute"].max() + pd.Timedelta(minutes=1)
    return max(window[0], first), min(window[1], last + step)


def gap_minutes(health: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Minutes with no row at all amid busy minutes: gaps in the logs (at most ``MAX_GAP_MINUTES`` in a row).

    >>> minutes = pd.date_range("2025-01-01 10:00", periods=5, freq="min")
    >>> rows = pd.DataFrame({"minute": minutes.delete(2), "destination": "a:443", "requests": 50})
    >>> [t.strftime("%H:%M") for t in gap_minutes(normalise(rows), minutes[0], minutes[-1] + pd.Timedelta("1min"))]
    ['10:02']
    """
    minutes = window_minutes(start, end)
    per_minute = health.groupby("minute")["requests"].sum().reindex(minutes, fill_value=0)
    silent = (per_minute == 0).to_numpy()
    found = []
    position = 0
    while position < len(silent):
        if not silent[position]:
            position += 1
            continue
        run_end = position
        while run_end < len(silent) and silent[run_end]:
            run_end += 1
        inside = position > 0 and run_end < len(silent) and run_end - position <= MAX_GAP_MINUTES
        if inside and min(per_minute.iloc[position - 1], per_minute.iloc[run_end]) >= GAP_MIN_REQUESTS:
            found.extend(minutes[position:run_end])
        position = run_end
    return pd.DatetimeIndex(found, name="minute").astype("datetime64[us]")


def dense(
    health: pd.DataFrame, keys: list[tuple[str, str]], minutes: pd.DatetimeIndex, gaps: pd.DatetimeIndex
) -> pd.DataFrame:
    """Every minute of ``minutes`` for each (region, destination) of ``keys``; silent minutes count zero.

    Gap minutes get the mean of the neighbouring minutes' requests and busy time
    (what the demand needs) and ``gap`` True; their failures stay zero.
    """
    if not keys:
        empty = health.iloc[0:0].copy()
        empty["gap"] = pd.Series(dtype=bool)
        return empty
    wanted = pd.MultiIndex.from_tuples(keys, names=KEY)
    count = len(minutes)
    index = pd.MultiIndex.from_arrays(
        [
            np.repeat([r for r, _ in keys], count),
            np.repeat([d for _, d in keys], count),
            np.tile(minutes.to_numpy(), len(keys)),
        ],
        names=[*KEY, "minute"],
    )
    own = health.set_index(KEY)
    own = own[own.index.isin(wanted)].reset_index().set_index([*KEY, "minute"])
    frame = own.reindex(index)
    frame[list(COUNT_COLUMNS)] = frame[list(COUNT_COLUMNS)].fillna(0)
    frame[list(BUSY_COLUMNS)] = frame[list(BUSY_COLUMNS)].fillna(0.0)
    frame = frame.reset_index()
    frame["gap"] = frame["minute"].isin(gaps)
    if frame["gap"].any():
        frame = _fill_gaps(frame)
    frame = frame.astype({c: "float64" for c in FILLED_COLUMNS})
    return frame[[*COLUMNS, "gap"]]


def _fill_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Gap minutes get the mean of the nearest minutes before and after that are not gaps."""
    frame = frame.copy()
    for column in FILLED_COLUMNS:
        values = frame[column].astype("float64").where(~frame["gap"])
        grouped = values.groupby([frame["region"], frame["destination"]])
        estimate = (grouped.ffill() + grouped.bfill()) / 2
        frame[column] = values.fillna(estimate).fillna(0.0)
    return frame


def share(part: float, whole: float) -> float:
    """``part / whole``, or 0 when there is nothing to divide."""
    return float(part) / float(whole) if whole else 0.0


def trailing_sum(values: np.ndarray, groups: np.ndarray, minutes: pd.Series, window: int) -> np.ndarray:
    """Per group, the sum of ``values`` over the trailing ``window`` minutes ending at each row.

    Rows must be sorted by group, then minute; minutes may be sparse (a missing minute adds nothing).

    >>> minutes = pd.Series(pd.to_datetime(["2025-01-01 10:00", "2025-01-01 10:01", "2025-01-01 10:05",
    ...                                     "2025-01-01 10:00"]))
    >>> trailing_sum(np.array([1.0, 2.0, 4.0, 8.0]), np.array([0, 0, 0, 1]), minutes, 4).tolist()
    [1.0, 3.0, 4.0, 8.0]
    """
    if not len(values):
        return np.zeros(0)
    stamp = (minutes.to_numpy().astype("datetime64[m]").astype(np.int64)).astype(np.int64)
    key = groups.astype(np.int64) * (1 << 40) + (stamp - stamp.min())
    total = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
    first = np.searchsorted(key, key - (window - 1), side="left")
    return total[1:] - total[first]


def trailing_max(values: np.ndarray, groups: np.ndarray, minutes: pd.Series, window: int) -> np.ndarray:
    """Per group, the largest of ``values`` over the trailing ``window`` minutes ending at each row.

    Rows must be sorted by group, then minute; a missing minute counts as zero.

    >>> minutes = pd.Series(pd.date_range("2025-01-01 10:00", periods=5, freq="min"))
    >>> trailing_max(np.array([5.0, 1.0, 0.0, 0.0, 2.0]), np.zeros(5, dtype=int), minutes, 3).tolist()
    [5.0, 5.0, 5.0, 1.0, 2.0]
    """
    found = np.array(values, dtype=np.float64, copy=True)
    if not len(found):
        return found
    stamp = minutes.to_numpy().astype("datetime64[m]").astype(np.int64)
    # Minutes are distinct within a group, so a row more than ``window - 1`` rows back is out of the window.
    for back in range(1, min(window, len(found))):
        inside = (groups[back:] == groups[:-back]) & (stamp[back:] - stamp[:-back] < window)
        found[back:] = np.where(inside, np.maximum(found[back:], values[:-back]), found[back:])
    return found
