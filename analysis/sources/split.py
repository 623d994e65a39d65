"""Complete a result the service cut short by asking for each half of its window, then combining.

Log Analytics and Azure Data Explorer cut a result at 500,000 rows or 64 MB, and stop
a query at its server timeout. Asking for each half of the window again, and halving
again where a half is still cut (``MAX_DEPTH`` times at most), completes the result,
but only for queries whose parts can be put back together exactly:

- ``destination_health`` and ``logged_requests`` aggregate per minute (per ``bin_size``):
  split on bin boundaries, each bin is computed from its own rows in exactly one part,
  so the parts concatenate, percentiles included;
- ``error_breakdown`` and ``latency_distribution`` count per key: the parts'
  counts add up, first/last seen are the min/max, a sample message is any part's;
- ``raw_rows`` (``apim-snat export``) are rows: the parts concatenate;
- ``destination_inventory`` (a p95 and shares over the whole window), ``load_drivers`` and
  ``calls_by_key`` (keys kept by their share of the whole window) cannot be rebuilt from
  parts: a cut there is reported, never patched.

Adding a splittable query is one entry in ``COMBINERS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analysis.errors import KitError
from analysis.sources.base import Request

#: Halvings at most: a window is cut into at most 2**MAX_DEPTH parts.
MAX_DEPTH = 4
_log = logging.getLogger(__name__)


class ServerTimeout(Exception):
    """The service stopped the query at its server timeout and sent no rows."""


@dataclass(frozen=True)
class Combiner:
    """How the parts of one query's result become the whole: the split step, then the merge."""

    step: Callable[[Request], pd.Timedelta]
    merge: Callable[[list[pd.DataFrame]], pd.DataFrame]


def _minute(request: Request) -> pd.Timedelta:
    return pd.Timedelta(minutes=1)


def _second(request: Request) -> pd.Timedelta:
    return pd.Timedelta(seconds=1)


def _bin(request: Request) -> pd.Timedelta:
    return pd.Timedelta(request.values.get("bin_size", pd.Timedelta(minutes=1)))


def _concatenate(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def _regroup(
    keys: list[str], sums: list[str], order: list[tuple[str, bool]], firsts: dict[str, str] | None = None
) -> Callable[[list[pd.DataFrame]], pd.DataFrame]:
    """Merge parts by adding ``sums`` per key; ``firsts`` maps other columns to min/max/first."""

    def merge(parts: list[pd.DataFrame]) -> pd.DataFrame:
        whole = pd.concat(parts, ignore_index=True)
        how = {column: "sum" for column in sums} | (firsts or {})
        merged = whole.groupby(keys, sort=False, dropna=False, as_index=False).agg(how)
        merged = merged[list(whole.columns)]
        columns, ascending = zip(*order, strict=True)
        return merged.sort_values(list(columns), ascending=list(ascending), kind="stable").reset_index(drop=True)

    return merge


COMBINERS: dict[str, Combiner] = {
    "destination_health": Combiner(_bin, _concatenate),
    "logged_requests": Combiner(_minute, _concatenate),
    "raw_rows": Combiner(_second, _concatenate),
    "error_breakdown": Combiner(
        _minute,
        _regroup(
            ["destination", "reason", "source", "section"],
            ["errors"],
            [("errors", False), ("destination", True), ("reason", True), ("source", True), ("section", True)],
            {"first_seen": "min", "last_seen": "max", "sample_message": "first"},
        ),
    ),
    "latency_distribution": Combiner(
        _minute,
        _regroup(["bucket_ms"], ["requests", "connection_failures", "timeouts", "http_5xx"], [("bucket_ms", True)]),
    ),
}


def halves(request: Request, step: pd.Timedelta) -> tuple[Request, Request] | None:
    """The request over each half of its window, split on a multiple of ``step``; None when too short."""
    window = request.window
    if window is None:
        return None
    start, end = window
    epoch = pd.Timestamp(0)
    middle = epoch + ((start + (end - start) / 2) - epoch) // step * step
    if not start < middle < end:
        return None
    return request.within(start, middle), request.within(middle, end)


Attempt = Callable[[Request], tuple[pd.DataFrame, str | None]]


def complete(request: Request, attempt: Attempt, depth: int = MAX_DEPTH) -> tuple[pd.DataFrame, list[str], int]:
    """The request's result, its window split where the service cut it: (frame, what is still cut, parts).

    ``attempt`` runs one request and returns its rows with the service's reason when it
    cut them (None when whole), or raises ``ServerTimeout``. What is still cut after
    ``depth`` halvings (or cannot be split) comes back in the list; a part with no rows
    at all at that point is a ``KitError``, as nothing can stand in for it.
    """
    combiner = COMBINERS.get(request.name)
    try:
        frame, problem = attempt(request)
    except ServerTimeout as timeout:
        frame, problem = None, str(timeout)
    if problem is None and frame is not None:
        return frame, [], 1
    parts = halves(request, combiner.step(request)) if combiner is not None and depth > 0 else None
    if parts is None:
        if frame is None:
            raise KitError(f"{problem}; narrow the window or raise --timeout")
        return frame, [problem or "cut short"], 1
    _log.info("%s was cut short (%s); asking for each half of its window", request.name, problem)
    done = [complete(part, attempt, depth - 1) for part in parts]
    assert combiner is not None
    merged = combiner.merge([d[0] for d in done])
    return merged, [p for d in done for p in d[1]], sum(d[2] for d in done)
