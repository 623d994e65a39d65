"""Who called a troubled destination and whom its trouble reached: which spans to ask about, and its calls by key.

The ``calls_by_key`` query gives a destination's calls per minute, in all and per API, operation, product,
subscription and caller range. Which spans to ask about depends on the health query alone, never on an
assumption (as for the load drivers): so a window's queries are known once its health has run, and a report
rendered again from its saved results under other assumptions finds every result it needs. A span covers a
destination's trouble (minutes with sustained failed requests, or with a slow backend) and the minutes before
it that the trigger compares against; the figures by key are then cut, minute by minute, to the episodes the
diagnosis found, so they add up to the same failed requests as every other table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.diagnosis.health import KEY
from analysis.diagnosis.onset import Episode, bad_minutes

Key = tuple[str, str]
#: The minutes before an onset that say what was normal, and the minutes just before it where a change counts.
BASELINE_MINUTES = 30
LEAD_MINUTES = 5
#: A baseline needs at least this many minutes with calls to compare against.
MIN_BASELINE_MINUTES = 5
#: A minute whose backend p95 reaches this is looked at as possibly slow, whatever ``slow_p95_ms`` will be.
SLOW_FLOOR_MS = 1000.0
#: Trouble minutes further apart than this are asked about in separate spans.
CLUSTER_GAP_MINUTES = 60
#: Bounds on what one window asks: a span's length from its first minute, and spans per destination.
MAX_SPAN_MINUTES = 360
MAX_SPANS_PER_DESTINATION = 3
#: The key kinds of ``calls_by_key`` besides "all", in the order the report names them.
KEY_KINDS = ("api", "operation", "product", "subscription", "caller_range")
KEY_WORDS = {
    "api": "API",
    "operation": "operation",
    "product": "product",
    "subscription": "subscription",
    "caller_range": "caller range",
}
CALL_COLUMNS = ["region", "destination", "minute", "key_kind", "key", "requests", "failed_requests", "answered_p95_ms"]
ONE_MINUTE = pd.Timedelta(minutes=1)


@dataclass(frozen=True)
class Span:
    """A stretch of one destination's minutes to ask ``calls_by_key`` about (end exclusive)."""

    region: str
    destination: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def key(self) -> Key:
        return (self.region, self.destination)


def trouble_minutes(health: pd.DataFrame) -> pd.Series:
    """Minutes with sustained failed requests of any kind, or a backend p95 of ``SLOW_FLOOR_MS`` or more."""
    failed = bad_minutes(health["failed_requests"], health["requests"])
    return failed | (health["backend_p95_ms"] >= SLOW_FLOOR_MS).fillna(False)


def _clusters(minutes: list[pd.Timestamp]) -> list[list[pd.Timestamp]]:
    """Sorted minutes split where more than ``CLUSTER_GAP_MINUTES`` lie between two of them."""
    found: list[list[pd.Timestamp]] = []
    for minute in minutes:
        if found and minute - found[-1][-1] <= pd.Timedelta(minutes=CLUSTER_GAP_MINUTES):
            found[-1].append(minute)
        else:
            found.append([minute])
    return found


def trouble_spans(health: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp]) -> list[Span]:
    """The spans of each destination with two or more trouble minutes: from the baseline before its first trouble
    minute to just after its last, in the window, at most ``MAX_SPAN_MINUTES`` long; per destination the
    ``MAX_SPANS_PER_DESTINATION`` with the most trouble minutes, in time order."""
    troubled = health[trouble_minutes(health)]
    lead = pd.Timedelta(minutes=BASELINE_MINUTES + LEAD_MINUTES)
    spans = []
    for (region, destination), rows in troubled.groupby(KEY, sort=True):
        clusters = [c for c in _clusters(sorted(rows["minute"])) if len(c) >= 2]
        kept = sorted(clusters, key=len, reverse=True)[:MAX_SPANS_PER_DESTINATION]
        for cluster in sorted(kept, key=lambda c: c[0]):
            start = max(window[0], cluster[0] - lead)
            end = min(window[1], cluster[-1] + ONE_MINUTE, start + pd.Timedelta(minutes=MAX_SPAN_MINUTES))
            spans.append(Span(str(region), str(destination), start, end))
    return spans


def covered(spans: list[Span], key: Key, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """Whether the spans asked about hold every minute of ``[start, end)`` of the destination."""
    at = start
    for span in sorted((s for s in spans if s.key == key), key=lambda s: s.start):
        if span.start <= at < span.end:
            at = span.end
    return at >= end


def episode_spans(episodes: tuple[Episode, ...], end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Each episode from its onset to its recovery, or to ``end`` when it did not recover."""
    return [(e.onset, e.recovery if e.recovery is not None else end) for e in episodes]


def within(minutes: pd.Series, spans: list[tuple[pd.Timestamp, pd.Timestamp]]) -> pd.Series:
    """Which of ``minutes`` fall inside any of ``spans``."""
    inside = pd.Series(False, index=minutes.index)
    for start, end in spans:
        inside |= (minutes >= start) & (minutes < end)
    return inside


def calls_of(calls: pd.DataFrame, key: Key) -> pd.DataFrame:
    """One destination's rows of the ``calls_by_key`` results."""
    if calls.empty:
        return calls
    return calls[(calls["region"] == key[0]) & (calls["destination"] == key[1])]


def hurt_by(own: pd.DataFrame, kind: str, spans: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[dict[str, Any]]:
    """Per key of ``kind``, a destination's requests and failed requests in ``spans``, most failed first; the keys
    under the query's share come last as one row with ``key`` None, so the rows add up to the destination's."""
    inside = own[within(own["minute"], spans)]
    every = inside[inside["key_kind"] == "all"][["requests", "failed_requests"]].sum()
    keyed = inside[inside["key_kind"] == kind].groupby("key", sort=False)[["requests", "failed_requests"]].sum()
    keyed = keyed.sort_values(["failed_requests", "requests"], ascending=False, kind="stable")
    rows = [_row(key, int(r.requests), int(r.failed_requests)) for key, r in keyed.iterrows()]
    rest = every - keyed.sum()
    if rest["requests"] > 0:
        rows.append(_row(None, int(rest["requests"]), int(rest["failed_requests"])))
    return rows


def answered_p95(own: pd.DataFrame, spans: list[tuple[pd.Timestamp, pd.Timestamp]], least: int = 1) -> float | None:
    """The answered calls' p95 of a destination in ``spans``: the median of its minutes' (the "all" rows of
    ``calls_by_key``); None with fewer than ``least`` such minutes. Failed connects never got an answer, so their
    wait (the connect timer) is not in it."""
    if own.empty:
        return None
    every = own[own["key_kind"] == "all"]
    values = every.loc[within(every["minute"], spans), "answered_p95_ms"].dropna()
    return round(float(values.median()), 1) if len(values) >= max(least, 1) else None


def baseline(onset: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The minutes before an onset that say what was normal: ``BASELINE_MINUTES`` ending ``LEAD_MINUTES`` before it."""
    lead = onset - pd.Timedelta(minutes=LEAD_MINUTES)
    return lead - pd.Timedelta(minutes=BASELINE_MINUTES), lead


def _row(key: Any, requests: int, failed: int) -> dict[str, Any]:
    return {
        "key": key,
        "requests": requests,
        "failed_requests": failed,
        "failure_share": round(failed / requests, 4) if requests else 0.0,
    }
