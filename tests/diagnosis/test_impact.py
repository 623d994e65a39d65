"""The impact in figures: every failed request counted once, per affected destination during its episodes, the
answered calls' latency before and during, durations per cause, and whom the failures reached per key."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.diagnosis.callers import BASELINE_MINUTES, LEAD_MINUTES, Span
from analysis.diagnosis.impact import impact
from analysis.investigation.run import Investigation, investigate
from analysis.sources import open_source
from tests.builders import BURST, OUTAGE_FAILURES, REGION, SNAT_FAILURES, START, diagnosis_of, frame


def _impact(*frames: pd.DataFrame, calls: pd.DataFrame | None = None, spans: list[Span] | None = None) -> dict:
    diagnosis = diagnosis_of(*frames)
    end = max(f["minute"].max() for f in frames) + pd.Timedelta(minutes=1)
    return impact(diagnosis.assessments, diagnosis.minutes, (START, end), calls, spans)


def calls_like(health: pd.DataFrame, answered_p95: list[float], keys: dict[str, float]) -> pd.DataFrame:
    """``calls_by_key`` rows for one destination's health frame: all its calls, and per subscription key the given
    share of each minute's calls and failures (rounded down, so the kept keys never add up to all)."""
    rows = []
    for (_, minute), p95 in zip(health.iterrows(), answered_p95, strict=True):
        base = {"region": REGION, "destination": minute["destination"], "minute": minute["minute"]}
        rows.append(
            {**base, "key_kind": "all", "key": "", "requests": minute["requests"]}
            | {"failed_requests": minute["failed_requests"], "answered_p95_ms": p95}
        )
        for key, part in keys.items():
            rows.append(
                {**base, "key_kind": "subscription", "key": key, "requests": int(minute["requests"] * part)}
                | {"failed_requests": int(minute["failed_requests"] * part), "answered_p95_ms": p95}
            )
    return pd.DataFrame(rows)


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


def test_during_runs_from_onset_to_recovery_and_the_answered_latency_leaves_failed_connects_out():
    """The failed connects' 21 s never enter the answered calls' p95: before is the trigger's baseline, during
    the median minute of the episode, both read from the answered calls only."""
    snat = frame("orders:443", [50] * 40 + BURST, [0] * 40 + SNAT_FAILURES, p95=80.0)
    snat.loc[snat["connection_failures"] > 0, "backend_p95_ms"] = 21_000.0  # every call: the failed connects' wait
    answered = [80.0] * 52 + [3_000.0] * 10 + [80.0] * 10
    calls = calls_like(snat, answered, {})
    span = Span(REGION, "orders:443", START, START + pd.Timedelta(minutes=72))
    found = _impact(snat, calls=calls, spans=[span])
    (orders,) = found["affected"]
    onset = pd.Timestamp(found["by_cause"][0]["first_onset"])
    assert orders["classification"] == "snat_exhaustion"
    inside = snat[
        (snat["minute"] >= onset) & (snat["minute"] < onset + pd.Timedelta(minutes=orders["minutes_affected"]))
    ]
    assert orders["requests_during"] == inside["requests"].sum()
    assert orders["failed_requests_during"] == inside["failed_requests"].sum()
    assert orders["failure_share_during"] == round(inside["failed_requests"].sum() / inside["requests"].sum(), 3)
    assert orders["answered_p95_ms_before"] == 80.0 and orders["answered_p95_ms_during"] == 3_000.0
    assert onset - pd.Timedelta(minutes=BASELINE_MINUTES + LEAD_MINUTES) >= START
    assert found["by_cause"][0]["minutes"] == orders["minutes_affected"] and found["recovered"]


def test_without_the_calls_the_answered_latency_is_not_known():
    (orders,) = _impact(frame("orders:443", BURST, SNAT_FAILURES))["affected"]
    assert orders["answered_p95_ms_before"] is None and orders["answered_p95_ms_during"] is None


def test_an_episode_still_running_lasts_to_the_windows_end():
    failures = OUTAGE_FAILURES[:20]
    found = _impact(frame("search:443", [50] * 20, failures))
    (search,) = found["affected"]
    (cause,) = found["by_cause"]
    assert not found["recovered"] and cause["classification"] == "backend_unreachable"
    assert search["minutes_affected"] == cause["minutes"] == 20 - failures.index(50)


def test_durations_are_per_cause_never_one_span_over_different_causes():
    """A slow backend early and an outage late are two troubles of their own lengths, not one from first to last."""
    slow = frame("erp:443", [40] * 60, [0] * 60)
    slow.loc[5:14, "backend_p95_ms"] = 9_000.0
    outage = frame("search:443", [50] * 60, [0] * 50 + [50] * 6 + [0] * 4)
    found = _impact(slow, outage)
    causes = {c["classification"]: c for c in found["by_cause"]}
    assert set(causes) == {"slow_backend", "backend_unreachable"}
    assert causes["slow_backend"]["minutes"] == 10 and causes["backend_unreachable"]["minutes"] == 6
    assert causes["backend_unreachable"]["failed_requests_during"] == 300
    assert "duration_minutes" not in found and "first_onset" not in found


def test_healthy_traffic_has_no_affected_destination():
    found = _impact(frame("quiet:443", [50] * 32, [0] * 32))
    assert found["affected"] == [] and found["by_cause"] == [] and found["failed_requests"] == 0
    assert found["by_api"] == [] and found["by_subscription"] == []


def test_keys_below_the_share_are_one_row_so_the_keys_add_up_to_the_destination():
    snat = frame("orders:443", [50] * 40 + BURST, [0] * 40 + SNAT_FAILURES)
    calls = calls_like(snat, [80.0] * 72, {"bulk-job": 0.6, "web": 0.2})
    span = Span(REGION, "orders:443", START, START + pd.Timedelta(minutes=72))
    found = _impact(snat, calls=calls, spans=[span])
    (orders,) = found["affected"]
    rows = found["by_subscription"]
    assert [r["key"] for r in rows] == ["bulk-job", "web", None]
    assert sum(r["failed_requests"] for r in rows) == orders["failed_requests_during"]
    assert sum(r["requests"] for r in rows) == orders["requests_during"]
    assert all(r["complete"] for r in rows)
    short = Span(REGION, "orders:443", START + pd.Timedelta(minutes=55), START + pd.Timedelta(minutes=72))
    assert not any(r["complete"] for r in _impact(snat, calls=calls, spans=[short])["by_subscription"])


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


def test_the_sample_names_whom_the_failures_reached_and_every_figure_adds_up(found):
    """Per affected destination, its failed requests by API, operation, product and subscription add up to the
    failed requests during its episodes that the summary quotes."""
    document = found.findings
    for row in document["impact"]["affected"]:
        for kind in ("by_api", "by_operation", "by_product", "by_subscription"):
            own = [
                r
                for r in document["impact"][kind]
                if (r["region"], r["destination"]) == (row["region"], row["destination"])
            ]
            assert own and all(r["complete"] for r in own), (kind, row["destination"])
            assert sum(r["failed_requests"] for r in own) == row["failed_requests_during"], (kind, row["destination"])
            assert sum(r["requests"] for r in own) == row["requests_during"], (kind, row["destination"])
    orders = [r for r in document["impact"]["by_subscription"] if r["classification"] == "snat_exhaustion"]
    assert {r["key"] for r in orders[:2]} == {"partner-bulk-sync", "orders-replay-job"}  # the burst's jobs, first
