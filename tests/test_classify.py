"""Classification of one destination on small hand-made frames."""

from __future__ import annotations

import pandas as pd

from analysis.assumptions import Assumptions
from analysis.classify import assess
from tests.builders import BURST, SNAT_FAILURES, START, demand_of, frame


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


def test_a_busy_destination_that_never_failed_shows_its_implied_reuse():
    demand = demand_of(frame("busy:443", [600] * 10, [0] * 10))
    assessment = assess(demand, "busy:443", Assumptions())
    assert assessment.classification == "healthy"
    assert assessment.evidence.implied_min_requests_per_connection == 2.3  # 2400 / 1024
    assert "at least 2.3 requests per connection" in assessment.reason
    quiet = assess(demand_of(frame("quiet:443", [100] * 10, [0] * 10)), "quiet:443", Assumptions())
    assert quiet.evidence.implied_min_requests_per_connection is None


def test_failures_that_stop_while_demand_stays_high_are_not_snat():
    burst = [50] * 10 + [600] * 16 + [50] * 6
    failures = [0] * 12 + [150] * 6 + [0] * 14  # an outage inside the burst, over before demand falls
    assessment = assess(demand_of(frame("search:443", burst, failures)), "search:443", Assumptions())
    (recovery,) = [c for c in assessment.checks if c.name == "recovers_as_demand_falls"]
    assert not recovery.passed and "-1 to 8" in recovery.detail
    assert assessment.classification == "backend_unreachable"
