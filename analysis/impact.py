"""How bad it was, in figures people quote: failed requests and their share, overall and per affected
destination, how long each destination was affected, and its latency before and during.

A failed request is one answered with HTTP 5xx or whose own call could not connect or got no answer
(``failed_requests`` of the health query counts each request once, whichever of these it was). The
episodes are those of the diagnosis; "during" means from an episode's onset to its recovery (or the
window's end), "before" the hour before the destination's first onset.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.assessment import Assessment, Classification
from analysis.health import KEY, share
from analysis.onset import Episode

#: How far back "p95 before" looks from a destination's first onset.
BEFORE_MINUTES = 60


def affected(assessments: list[Assessment]) -> list[Assessment]:
    """The destinations with trouble: every classification but healthy and unknown, in the given order."""
    return [a for a in assessments if a.classification not in (Classification.HEALTHY, Classification.UNKNOWN)]


def _spans(episodes: tuple[Episode, ...], end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Each episode from its onset to its recovery, or to ``end`` when it did not recover."""
    return [(e.onset, e.recovery if e.recovery is not None else end) for e in episodes]


def _median(values: pd.Series) -> float | None:
    values = values.dropna()
    return round(float(values.median()), 1) if len(values) else None


def destination_impact(assessment: Assessment, minutes: pd.DataFrame, window_end: pd.Timestamp) -> dict[str, Any]:
    """One affected destination: its failed requests over the window and during its episodes, and its backend
    p95 (the median of its minutes' p95) in the hour before its first onset and during its episodes.

    ``minutes`` holds every minute of this destination (the diagnosis's close look); without them only
    the window's figures are known.
    """
    traffic = assessment.evidence.traffic
    spans = _spans(assessment.episodes, window_end)
    during = before = pd.DataFrame(columns=["requests", "failed_requests", "backend_p95_ms"])
    if len(minutes) and spans:
        at = minutes["minute"]
        inside = pd.Series(False, index=minutes.index)
        for onset, end in spans:
            inside |= (at >= onset) & (at < end)
        first = min(onset for onset, _ in spans)
        during = minutes[inside]
        before = minutes[(at < first) & (at >= first - pd.Timedelta(minutes=BEFORE_MINUTES))]
    requests_during = int(round(float(during["requests"].sum())))
    failed_during = int(during["failed_requests"].sum())
    return {
        "destination": assessment.destination,
        "region": assessment.region,
        "classification": assessment.classification,
        "requests": traffic.requests,
        "failed_requests": traffic.failed_requests,
        "failure_share": traffic.failure_share,
        "episodes": len(spans),
        "minutes_affected": int(sum((end - onset) / pd.Timedelta(minutes=1) for onset, end in spans)),
        "requests_during": requests_during,
        "failed_requests_during": failed_during,
        "failure_share_during": round(share(failed_during, requests_during), 3),
        "p95_backend_ms_before": _median(before.loc[before["requests"] > 0, "backend_p95_ms"]),
        "p95_backend_ms_during": _median(during.loc[during["requests"] > 0, "backend_p95_ms"]),
    }


def impact(assessments: list[Assessment], minutes: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp]) -> dict:
    """The window's impact: requests and failed requests, failed connects, affected and exhausted destinations,
    episodes (an exhausted pool's episode counts once however many hosts share it), their span, and per affected
    destination ``destination_impact``."""
    troubled = affected(assessments)
    # The members of an exhausted pool share its episodes: each counts once.
    owner = {
        a.key: a.pool.id if a.classification is Classification.SNAT_EXHAUSTION and a.pool else a.key for a in troubled
    }
    runs = list({(owner[a.key], e.onset): e for a in troubled for e in a.episodes}.values())
    recoveries = [e.recovery for e in runs if e.recovery is not None]
    recovered = bool(runs) and len(recoveries) == len(runs)
    first_onset = min(e.onset for e in runs) if runs else None
    last_recovery = max(recoveries) if recovered else None
    requests = sum(a.evidence.traffic.requests for a in assessments)
    failed = sum(a.evidence.traffic.failed_requests for a in assessments)
    connects = sum(a.evidence.traffic.connection_failures for a in assessments)
    exhausted = [a for a in troubled if a.classification is Classification.SNAT_EXHAUSTION]
    by_key = minutes.groupby(KEY, sort=False) if len(minutes) else None
    empty = minutes.iloc[0:0]

    def own(a: Assessment) -> pd.DataFrame:
        return by_key.get_group(a.key) if by_key is not None and a.key in by_key.groups else empty

    duration = 0
    if first_onset is not None:
        duration = int(((last_recovery or window[1]) - first_onset) / pd.Timedelta(minutes=1))
    return {
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
        "minutes_in_episodes": sum(e.bad_minutes for e in runs),
        "first_onset": first_onset,
        "last_recovery": last_recovery,
        "recovered": recovered,
        "duration_minutes": duration,
        "affected": [destination_impact(a, own(a), window[1]) for a in troubled],
    }
