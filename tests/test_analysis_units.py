"""The analysis steps on small hand-made frames: demand, onsets, classification, verdict, mitigations."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.assumptions import Assumptions, from_params
from analysis.classify import assess
from analysis.errors import KitError
from analysis.health import complete_minutes
from analysis.mitigations import recommend
from analysis.onset import bad_minutes, episodes
from analysis.snat import snat_demand
from analysis.verdict import decide

START = pd.Timestamp("2025-02-25 09:00")


def frame(
    destination: str, requests: list[int], failures: list[int], p95: float = 80.0, backend_5xx: list[int] | None = None
) -> pd.DataFrame:
    minutes = pd.date_range(START, periods=len(requests), freq="min")
    return pd.DataFrame({
        "minute": minutes, "destination": destination, "requests": requests,
        "http_5xx": [f + (b or 0) for f, b in zip(failures, backend_5xx or [0] * len(requests))],
        "backend_5xx": backend_5xx or [0] * len(requests), "connection_failures": failures,
        "timeouts": 0, "client_connection_failures": 0, "get_requests": requests, "cache_hits": 0,
        "backend_p50_ms": p95 / 2, "backend_p95_ms": p95, "backend_p99_ms": p95 * 1.5,
        "total_p50_ms": p95 / 2, "total_p95_ms": p95, "total_p99_ms": p95 * 1.5,
    })


def demand_of(*frames: pd.DataFrame, assumptions: Assumptions = Assumptions()) -> pd.DataFrame:
    health = pd.concat(frames, ignore_index=True)
    end = health["minute"].max() + pd.Timedelta(minutes=1)
    return snat_demand(complete_minutes(health, START, end), assumptions)


BURST = [50] * 10 + [400] * 12 + [50] * 10
SNAT_FAILURES = [0] * 12 + [20, 60, 90, 110, 120, 120, 120, 120, 120, 120] + [80, 30, 5] + [0] * 7
OUTAGE_FAILURES = [0] * 14 + [50] * 6 + [0] * 12


def test_demand_is_the_trailing_four_minutes_of_new_connections():
    demand = demand_of(frame("a:443", [100, 100, 100, 100, 100, 0, 0, 0, 0], [0] * 9))
    assert demand["snat_demand"].tolist() == [100, 200, 300, 400, 400, 300, 200, 100, 0]
    reused = demand_of(frame("a:443", [100] * 5, [0] * 5), assumptions=Assumptions(requests_per_connection=4))
    assert reused["snat_demand"].iloc[-1] == 100


def test_missing_minutes_count_as_zero_and_every_destination_gets_every_minute():
    sparse = pd.DataFrame({"minute": [START + pd.Timedelta(minutes=2)], "destination": ["b:443"], "requests": [7]})
    rows = pd.concat([frame("a:443", [1] * 5, [0] * 5), sparse])
    full = complete_minutes(rows, START, START + pd.Timedelta(minutes=5))
    assert len(full) == 10
    assert full.loc[full["destination"] == "b:443", "requests"].tolist() == [0, 0, 7, 0, 0]


def test_empty_window_gives_an_empty_frame():
    empty = complete_minutes(pd.DataFrame({"minute": [], "destination": []}), START, START + pd.Timedelta(hours=1))
    assert empty.empty and "connection_failures" in empty


def test_one_failed_request_is_not_an_onset():
    minutes = pd.Series(pd.date_range(START, periods=10, freq="min"))
    requests = pd.Series([100] * 10)
    single = pd.Series([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    assert episodes(minutes, bad_minutes(single, requests), single, requests) == []
    burst = pd.Series([0, 0, 0, 9, 12, 0, 10, 0, 0, 0])
    (episode,) = episodes(minutes, bad_minutes(burst, requests), burst, requests)
    assert (episode.onset, episode.peak, episode.recovery) == (minutes[3], minutes[4], minutes[7])


def test_an_episode_still_running_at_the_end_has_no_recovery():
    minutes = pd.Series(pd.date_range(START, periods=4, freq="min"))
    requests, failures = pd.Series([100] * 4), pd.Series([0, 0, 10, 10])
    (episode,) = episodes(minutes, bad_minutes(failures, requests), failures, requests)
    assert episode.recovery is None


def test_failures_that_follow_demand_are_snat_exhaustion():
    demand = demand_of(frame("orders:443", BURST, SNAT_FAILURES), frame("other:443", [50] * 32, [0] * 32))
    assessment = assess(demand, "orders:443", Assumptions())
    assert assessment.classification == "snat_exhaustion", assessment.checks
    assert assessment.episode.onset == START + pd.Timedelta(minutes=12)
    assert all(check.passed for check in assessment.checks)
    assert assessment.evidence.failure.other_destinations_failing == ()


def test_failures_of_every_call_at_low_load_are_an_unreachable_backend():
    requests = [50] * 32
    failures = [0] * 14 + [50] * 6 + [0] * 12
    assessment = assess(demand_of(frame("search:443", requests, failures)), "search:443", Assumptions())
    assert assessment.classification == "backend_unreachable"
    failed = {check.name for check in assessment.checks if not check.passed}
    assert {"some_requests_get_through", "demand_near_capacity_at_onset"} <= failed


def test_an_outage_during_a_burst_is_not_snat():
    outage = [0] * 14 + [400] * 6 + [0] * 12
    assessment = assess(demand_of(frame("search:443", BURST, outage)), "search:443", Assumptions())
    assert assessment.classification == "backend_unreachable"


def test_backend_errors_and_slowness_without_connection_failures():
    backend_5xx = [0] * 5 + [30] * 5 + [0] * 10
    failing = demand_of(frame("pay:443", [100] * 20, [0] * 20, backend_5xx=backend_5xx))
    errors = assess(failing, "pay:443", Assumptions())
    assert errors.classification == "backend_errors"
    slow = assess(demand_of(frame("erp:443", [100] * 20, [0] * 20, p95=8000.0)), "erp:443", Assumptions())
    assert slow.classification == "slow_backend"
    healthy = assess(demand_of(frame("ok:443", [100] * 20, [0] * 20)), "ok:443", Assumptions())
    assert healthy.classification == "healthy"


def test_verdict_needs_a_snat_destination_and_enough_traffic():
    demand = demand_of(frame("orders:443", BURST, SNAT_FAILURES))
    assessments = [assess(demand, "orders:443", Assumptions())]
    assert decide(assessments, demand, Assumptions()).verdict == "snat_exhaustion"
    assert decide(assessments, demand, Assumptions(min_requests=10**7)).verdict == "insufficient_data"
    quiet = demand_of(frame("ok:443", [100] * 20, [0] * 20))
    assert decide([assess(quiet, "ok:443", Assumptions())], quiet, Assumptions()).verdict == "no_snat_evidence"


def test_mitigations_are_sized_and_only_when_they_apply():
    demand = demand_of(frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES))
    assessments = [assess(demand, "orders.azurewebsites.net:443", Assumptions())]
    found = {m.id: m for m in recommend(assessments, demand, Assumptions())}
    peak = assessments[0].evidence.traffic.peak_snat_demand
    assert peak == 1600
    assert found["scale_out"].title == "Scale out to 3 units"  # 1600 / (0.75 * 1024) = 2.08 -> 3
    assert found["spread_backend_ips"].title == "Spread the backend over 3 IP addresses"
    assert "private_endpoint" in found and "cache_responses" in found and "connection_reuse" in found
    assert "nat_gateway" not in found and "rate_limit_by_key" not in found
    quiet = demand_of(frame("ok:443", [100] * 20, [0] * 20))
    assert recommend([assess(quiet, "ok:443", Assumptions())], quiet, Assumptions()) == []


@pytest.mark.parametrize(
    ("texts", "message"),
    [({"units": "0"}, "'units' is out of range"), ({"snat_ports": "-5"}, "'snat_ports' is out of range"),
     ({"snat_ports": "abc"}, "'snat_ports': expected a whole number"),
     ({"requests_per_connection": "0.5"}, "'requests_per_connection' is out of range"),
     ({"colour": "red"}, "unknown parameter 'colour'")],
)
def test_assumptions_out_of_range_are_errors(texts, message):
    with pytest.raises(KitError, match=message):
        from_params(texts)


def test_a_busy_destination_that_never_failed_shows_its_implied_reuse():
    demand = demand_of(frame("busy:443", [600] * 10, [0] * 10))
    assessment = assess(demand, "busy:443", Assumptions())
    assert assessment.classification == "healthy"
    assert assessment.evidence.implied_min_requests_per_connection == 2.3  # 2400 / 1024
    assert "at least 2.3 requests per connection" in assessment.reason
    quiet = assess(demand_of(frame("quiet:443", [100] * 10, [0] * 10)), "quiet:443", Assumptions())
    assert quiet.evidence.implied_min_requests_per_connection is None


def test_a_result_cut_short_by_the_service_is_said_in_findings_and_summary(scenario_export):
    from analysis import narrative
    from analysis.investigation import investigate
    from analysis.sources.local import open_local

    class CutShort:
        """The real local source, whose health result comes back flagged as Log Analytics flags a cut."""

        def __init__(self, inner):
            self.inner, self.mode, self.description = inner, inner.mode, inner.description

        def time_range(self):
            return self.inner.time_range()

        def run(self, kql):
            frame = self.inner.run(kql)
            if kql.startswith("// destination_health"):
                frame.attrs["warnings"] = ["partial result (500000 rows kept): E_QUERY_RESULT_SET_TOO_LARGE"]
            return frame

    findings = investigate(CutShort(open_local(scenario_export("no_incident")))).findings
    health = [q for q in findings["queries"] if q["name"] == "destination_health"][0]
    assert health["warnings"] == ["partial result (500000 rows kept): E_QUERY_RESULT_SET_TOO_LARGE"]
    assert "**Warning: the result of `destination_health` is incomplete" in narrative.summary(findings)


def test_failures_that_stop_while_demand_stays_high_are_not_snat():
    burst = [50] * 10 + [600] * 16 + [50] * 6
    failures = [0] * 12 + [150] * 6 + [0] * 14  # an outage inside the burst, over before demand falls
    assessment = assess(demand_of(frame("search:443", burst, failures)), "search:443", Assumptions())
    (recovery,) = [c for c in assessment.checks if c.name == "recovers_as_demand_falls"]
    assert not recovery.passed and "-1 to 8" in recovery.detail
    assert assessment.classification == "backend_unreachable"
