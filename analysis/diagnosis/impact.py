"""How bad it was, in figures people quote: failed requests and their share, overall and per affected
destination, how long each destination was affected, the answered calls' latency before and during, and whom the
failures reached (per API, operation, product and subscription).

A failed request is one answered with HTTP 5xx or whose own call could not connect or got no answer
(``failed_requests`` of the health query counts each request once, whichever of these it was). The
episodes are those of the diagnosis; "during" means from an episode's onset to its recovery (or the
window's end), "before" the baseline the trigger compares with (``callers.baseline`` of the first onset). Each
figure is computed here once; the summary, the tables and the fleet index show these values.

Durations are per destination and per cause: a slow backend and a SNAT episode an hour apart are two troubles,
never one span.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.diagnosis.assessment import Assessment, Classification
from analysis.diagnosis.callers import (
    KEY_KINDS,
    MIN_BASELINE_MINUTES,
    Span,
    answered_p95,
    baseline,
    calls_of,
    covered,
    episode_spans,
    hurt_by,
    within,
)
from analysis.diagnosis.health import KEY, share


def affected(assessments: list[Assessment]) -> list[Assessment]:
    """The destinations with trouble: every classification but healthy and unknown, in the given order."""
    return [a for a in assessments if a.classification not in (Classification.HEALTHY, Classification.UNKNOWN)]


def _minutes_of(spans: list[tuple[pd.Timestamp, pd.Timestamp]]) -> int:
    return int(sum((end - onset) / pd.Timedelta(minutes=1) for onset, end in spans))


def destination_impact(
    assessment: Assessment,
    minutes: pd.DataFrame,
    window_end: pd.Timestamp,
    calls: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """One affected destination: its failed requests over the window and during its episodes, and the p95 of its
    answered calls (the median minute's) in the baseline before its first onset and during its episodes.

    ``minutes`` holds every minute of this destination (the diagnosis's close look); ``calls`` its
    ``calls_by_key`` rows (None or empty: the answered calls' latency is not known).
    """
    traffic = assessment.evidence.traffic
    spans = episode_spans(assessment.episodes, window_end)
    during = minutes[within(minutes["minute"], spans)] if len(minutes) else minutes
    requests_during = int(round(float(during["requests"].sum())))
    failed_during = int(during["failed_requests"].sum())
    calls = calls if calls is not None else pd.DataFrame()
    first = [baseline(min(onset for onset, _ in spans))] if spans else []
    return {
        "destination": assessment.destination,
        "region": assessment.region,
        "classification": assessment.classification,
        "requests": traffic.requests,
        "failed_requests": traffic.failed_requests,
        "failure_share": traffic.failure_share,
        "episodes": len(spans),
        "minutes_affected": _minutes_of(spans),
        "requests_during": requests_during,
        "failed_requests_during": failed_during,
        "failure_share_during": round(share(failed_during, requests_during), 3),
        "answered_p95_ms_before": answered_p95(calls, first, least=MIN_BASELINE_MINUTES),
        "answered_p95_ms_during": answered_p95(calls, spans),
    }


def _by_key(
    troubled: list[Assessment], calls: pd.DataFrame, spans: list[Span], window_end: pd.Timestamp, kind: str
) -> list[dict[str, Any]]:
    """Per affected destination whose calls were asked for, its requests and failed requests during its episodes
    per key of ``kind`` (``callers.hurt_by``); ``complete`` is false when its spans missed some episode minutes."""
    rows = []
    for assessment in troubled:
        own = calls_of(calls, assessment.key)
        if own.empty:
            continue
        episodes = episode_spans(assessment.episodes, window_end)
        whole = all(covered(spans, assessment.key, onset, end) for onset, end in episodes)
        for row in hurt_by(own, kind, episodes):
            rows.append(
                {
                    "destination": assessment.destination,
                    "region": assessment.region,
                    "classification": assessment.classification,
                    **row,
                    "complete": whole,
                }
            )
    return sorted(rows, key=lambda r: (-r["failed_requests"], r["key"] is None, -r["requests"]))


def _by_cause(troubled: list[Assessment], rows: list[dict[str, Any]], window_end: pd.Timestamp) -> list[dict]:
    """Per cause: its destinations and episodes, the minutes from its first onset to its last recovery (or the
    window's end), and its failed requests during its episodes."""
    found = []
    for cause in dict.fromkeys(a.classification for a in troubled):
        own = [a for a in troubled if a.classification is cause]
        spans = [span for a in own for span in episode_spans(a.episodes, window_end)]
        found.append(
            {
                "classification": cause,
                "destinations": len(own),
                "episodes": len({onset for a in own for onset, _ in episode_spans(a.episodes, window_end)}),
                "first_onset": min((s for s, _ in spans), default=None),
                "last_recovery": max((e for _, e in spans), default=None),
                "minutes": _minutes_of([(min(s for s, _ in spans), max(e for _, e in spans))]) if spans else 0,
                "failed_requests_during": sum(
                    r["failed_requests_during"] for r in rows if r["classification"] == cause
                ),
            }
        )
    return found


def impact(
    assessments: list[Assessment],
    minutes: pd.DataFrame,
    window: tuple[pd.Timestamp, pd.Timestamp],
    calls: pd.DataFrame | None = None,
    spans: list[Span] | None = None,
) -> dict:
    """The window's impact: requests and failed requests, failed connects, affected and exhausted destinations,
    episodes (an exhausted pool's episode counts once however many hosts share it), per cause and per affected
    destination (``destination_impact``), and whom the failures reached per API, operation, product and
    subscription (from ``calls``, the ``calls_by_key`` results over ``spans``)."""
    troubled = affected(assessments)
    # The members of an exhausted pool share its episodes: each counts once.
    owner = {
        a.key: a.pool.id if a.classification is Classification.SNAT_EXHAUSTION and a.pool else a.key for a in troubled
    }
    runs = list({(owner[a.key], e.onset): e for a in troubled for e in a.episodes}.values())
    recovered = bool(runs) and all(e.recovery is not None for e in runs)
    requests = sum(a.evidence.traffic.requests for a in assessments)
    failed = sum(a.evidence.traffic.failed_requests for a in assessments)
    connects = sum(a.evidence.traffic.connection_failures for a in assessments)
    exhausted = [a for a in troubled if a.classification is Classification.SNAT_EXHAUSTION]
    by_key = minutes.groupby(KEY, sort=False) if len(minutes) else None
    empty = minutes.iloc[0:0]
    calls = calls if calls is not None else pd.DataFrame(columns=["region", "destination", "minute", "key_kind"])

    def own(a: Assessment) -> pd.DataFrame:
        return by_key.get_group(a.key) if by_key is not None and a.key in by_key.groups else empty

    rows = [destination_impact(a, own(a), window[1], calls_of(calls, a.key)) for a in troubled]
    found: dict[str, Any] = {
        "requests": requests,
        "failed_requests": failed,
        "failed_requests_share": round(share(failed, requests), 4),
        "http_5xx": sum(a.evidence.traffic.http_5xx for a in assessments),
        "failed_connects": connects,
        "failed_connects_share": round(share(connects, requests), 4),
        "snat_failed_connects": sum(a.evidence.traffic.connection_failures for a in exhausted),
        "affected_destinations": len(troubled),
        "exhausted_destinations": len(exhausted),
        "episodes": len(runs),
        "recovered": recovered,
        "by_cause": _by_cause(troubled, rows, window[1]),
        "affected": rows,
    }
    for kind in KEY_KINDS[:-1]:  # caller ranges say who sent the load, not whom to notify
        found[f"by_{kind}"] = _by_key(troubled, calls, spans or [], window[1], kind)
    return found
