"""The impact in figures: every failed request counted once, per affected destination during its episodes,
and its latency before and during."""

from __future__ import annotations

import pandas as pd

from analysis.impact import impact
from tests.builders import BURST, OUTAGE_FAILURES, SNAT_FAILURES, START, diagnosis_of, frame


def _impact(*frames: pd.DataFrame) -> dict:
    diagnosis = diagnosis_of(*frames)
    end = max(f["minute"].max() for f in frames) + pd.Timedelta(minutes=1)
    return impact(diagnosis.assessments, diagnosis.minutes, (START, end))


def test_backend_errors_count_as_failed_requests_not_only_failed_connects():
    errors = [0] * 10 + [30] * 10 + [0] * 12
    found = _impact(frame("pay:443", [100] * 32, [0] * 32, backend_5xx=errors))
    assert found["failed_connects"] == 0
    assert found["failed_requests"] == 300 and found["failed_requests_share"] == round(300 / 3200, 4)
    (pay,) = found["affected"]
    assert pay["classification"] == "backend_errors" and pay["failure_share"] == round(300 / 3200, 3)
    assert pay["failed_requests_during"] == 300


def test_a_request_both_5xx_and_a_failed_connect_counts_once():
    snat = frame("orders:443", BURST, SNAT_FAILURES)  # each failed connect was answered 500 too
    found = _impact(snat, frame("quiet:443", [50] * 32, [0] * 32))
    assert found["failed_requests"] == sum(SNAT_FAILURES) == found["http_5xx"]


def test_during_runs_from_onset_to_recovery_and_before_is_the_hour_before():
    snat = frame("orders:443", BURST, SNAT_FAILURES, p95=80.0)
    snat.loc[snat["connection_failures"] > 0, "backend_p95_ms"] = 21_000.0
    found = _impact(snat)
    (orders,) = found["affected"]
    onset = pd.Timestamp(found["first_onset"])
    assert orders["classification"] == "snat_exhaustion"
    inside = snat[
        (snat["minute"] >= onset) & (snat["minute"] < onset + pd.Timedelta(minutes=orders["minutes_affected"]))
    ]
    assert orders["requests_during"] == inside["requests"].sum()
    assert orders["failed_requests_during"] == inside["failed_requests"].sum()
    assert orders["failure_share_during"] == round(inside["failed_requests"].sum() / inside["requests"].sum(), 3)
    assert orders["p95_backend_ms_before"] == 80.0 and orders["p95_backend_ms_during"] == 21_000.0
    assert found["duration_minutes"] == orders["minutes_affected"] and found["recovered"]


def test_an_episode_still_running_lasts_to_the_windows_end():
    failures = OUTAGE_FAILURES[:20]
    found = _impact(frame("search:443", [50] * 20, failures))
    (search,) = found["affected"]
    assert not found["recovered"] and found["last_recovery"] is None
    assert search["minutes_affected"] == found["duration_minutes"] == 20 - failures.index(50)


def test_healthy_traffic_has_no_affected_destination():
    found = _impact(frame("quiet:443", [50] * 32, [0] * 32))
    assert found["affected"] == [] and found["duration_minutes"] == 0 and found["failed_requests"] == 0
