"""The platform metric as a second witness: are the logs complete, and what does the metric alone say?

APIM's ``Requests`` metric counts every request, unsampled. Set beside the logged rows
per minute it measures what the logs miss: sampling (a steady share logged), gaps
(minutes with requests and no rows), or error-only logging (every connection failure
logged, most successes not, so every failure rate computed from the logs is too high).
With no logs at all it still says whether and when ``BackendConnectionFailure`` rose,
per region, though not on which destination (the metric has no backend dimension).
Pure: frames in, a findings section out.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from analysis.times import iso

FAILURE = "BackendConnectionFailure"
#: Logged share of the metric's count from which the logs count as complete (the two bin a
#: request by slightly different instants, so a few requests move across a window edge).
COMPLETE_SHARE = 0.98
CAVEAT = "the metric has no backend dimension: it cannot tell which destination failed"
VERDICTS = ("complete", "sampled", "gaps", "errors_only", "no_logs", "no_traffic")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def failure_regions(metric: pd.DataFrame) -> list[dict[str, Any]]:
    """Per region with connection failures: when they began, when they peaked, how many, of how many requests."""
    regions = []
    for location, rows in metric.groupby("location", sort=True):
        failures = rows[rows["last_error_reason"] == FAILURE].groupby("minute")["requests"].sum()
        if failures.empty:
            continue
        regions.append(
            {
                "location": str(location),
                "connection_failures": int(failures.sum()),
                "requests": int(rows["requests"].sum()),
                "first_failure": iso(failures.index.min()),
                "peak": iso(failures.idxmax()),
                "peak_failures": int(failures.max()),
            }
        )
    return regions


def compare(logged: pd.DataFrame, metric: pd.DataFrame) -> dict[str, Any]:
    """The findings section ``platform_metric``: logged rows against the metric, per window and minute.

    ``logged`` has ``minute``, ``requests`` and ``connection_failures`` (the
    ``logged_requests`` query); ``metric`` has ``minute``, ``location``,
    ``last_error_reason`` and ``requests`` (``analysis.sources.metrics``).
    """
    counted = metric.groupby("minute")["requests"].sum()
    in_logs = logged.set_index("minute")["requests"] if len(logged) else pd.Series(dtype="int64")
    metric_requests, logged_requests = int(counted.sum()), int(in_logs.sum())
    metric_failures = int(metric.loc[metric["last_error_reason"] == FAILURE, "requests"].sum())
    logged_failures = int(logged["connection_failures"].sum()) if len(logged) else 0
    gaps = int((in_logs.reindex(counted.index, fill_value=0)[counted > 0] == 0).sum())
    share = _share(logged_requests, metric_requests)
    failure_share = _share(logged_failures, metric_failures)
    if metric_requests == 0:
        verdict = "no_traffic"
    elif logged_requests == 0:
        verdict = "no_logs"
    elif share is not None and share >= COMPLETE_SHARE:
        verdict = "complete"
    elif gaps:
        verdict = "gaps"
    elif failure_share is not None and failure_share >= COMPLETE_SHARE:
        verdict = "errors_only"
    else:
        verdict = "sampled"
    return {
        "verdict": verdict,
        "metric_requests": metric_requests,
        "logged_requests": logged_requests,
        "logged_share": share,
        "metric_connection_failures": metric_failures,
        "logged_connection_failures": logged_failures,
        "logged_failure_share": failure_share,
        "minutes_with_requests": int((counted > 0).sum()),
        "minutes_without_logs": gaps,
        "failure_regions": failure_regions(metric),
        "caveat": CAVEAT,
    }


_SAY = {
    "complete": "the logs hold {logged_share:.1%} of the requests the platform counted: complete.",
    "sampled": "the logs hold {logged_share:.1%} of the requests the platform counted: sampled or filtered, so "
    "counts in this report are that share of the real ones.",
    "gaps": "the logs hold {logged_share:.1%} of the requests the platform counted, and {minutes_without_logs} "
    "minute(s) with requests have no log row at all: logs are missing.",
    "errors_only": "the logs hold {logged_share:.1%} of the requests but every connection failure: failures are "
    "logged in full and the rest is not, so failure rates from the logs are too high.",
    "no_logs": "no log row in the window, though the platform counted {metric_requests} requests.",
    "no_traffic": "the platform counted no request in the window.",
}


def summary(section: dict[str, Any]) -> str:
    """One Markdown paragraph: what the metric says about the logs, and per region about failures."""
    text = "**Platform metric `Requests`:** " + _SAY[section["verdict"]].format(**section)
    regions = section["failure_regions"]
    if regions:
        said = "; ".join(
            f"{html.escape(r['location'])}: {r['connection_failures']} of {r['requests']} from "
            f"{r['first_failure'][11:16]} UTC, peak {r['peak_failures']} at {r['peak'][11:16]}"
            for r in regions
        )
        text += f" `BackendConnectionFailure` per region: {said} ({section['caveat']})."
    elif section["verdict"] != "no_traffic":
        text += " The metric counted no `BackendConnectionFailure`."
    return text
