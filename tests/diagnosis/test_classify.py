"""Classification of destinations on small hand-made frames: SNAT on the pool, look-alikes, logs that cannot tell."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.pools import parse_ip_map
from tests.builders import (
    BURST,
    SNAT_FAILURES,
    START,
    assessment_of,
    diagnosis_of,
    failed_at,
    fingerprint_of,
    frame,
)


def test_failures_at_the_connect_timeout_that_follow_demand_are_snat_exhaustion():
    diagnosis = diagnosis_of(frame("orders:443", BURST, SNAT_FAILURES), frame("other:443", [50] * 32, [0] * 32))
    assessment = assessment_of(diagnosis, "orders:443")
    assert assessment.classification == "snat_exhaustion", assessment.checks
    assert assessment.episode.onset == START + pd.Timedelta(minutes=12)
    assert not [check.name for check in assessment.checks if check.outcome == "failed"]
    assert assessment.confidence == "high" and "failures_end_at_a_timeout" in assessment.decided_by
    assert assessment.alternatives == ()
    assert assessment.evidence.failure.other_destinations_failing == ()
    assert assessment.pool.id == "West Europe/orders:443" and "ran out of ports" in assessment.reason


def test_the_same_failures_in_milliseconds_are_refusals_not_snat():
    orders = frame("orders:443", BURST, SNAT_FAILURES)
    diagnosis = diagnosis_of(orders, fingerprint=fingerprint_of(orders, elapsed_s=0))
    assessment = assessment_of(diagnosis, "orders:443")
    assert assessment.classification == "backend_unreachable"
    (fingerprint,) = [c for c in assessment.checks if c.name == "failures_end_at_a_timeout"]
    assert (
        not fingerprint.passed and fingerprint.measured == 0.0 and "100% failed in under a second" in fingerprint.detail
    )


def test_failures_of_every_call_at_low_load_are_an_unreachable_backend():
    requests = [50] * 32
    failures = [0] * 14 + [50] * 6 + [0] * 12
    assessment = assessment_of(diagnosis_of(frame("search:443", requests, failures)), "search:443")
    assert assessment.classification == "backend_unreachable"
    failed = {check.name for check in assessment.checks if not check.passed}
    assert {"some_requests_get_through", "demand_could_reach_capacity"} <= failed


def test_an_outage_during_a_burst_is_not_snat():
    outage = [0] * 14 + [400] * 6 + [0] * 12
    assessment = assessment_of(diagnosis_of(frame("search:443", BURST, outage)), "search:443")
    assert assessment.classification == "backend_unreachable"


def test_backend_errors_and_slowness_without_connection_failures():
    backend_5xx = [0] * 5 + [30] * 5 + [0] * 10
    errors = assessment_of(diagnosis_of(frame("pay:443", [100] * 20, [0] * 20, backend_5xx=backend_5xx)), "pay:443")
    assert errors.classification == "backend_errors"
    p95 = [80.0] * 5 + [4000.0, 9000.0, 5000.0] + [80.0] * 12
    slow_rows = pd.concat(
        [
            frame("erp:443", [100], [0], p95=value).assign(minute=START + pd.Timedelta(minutes=i))
            for i, value in enumerate(p95)
        ]
    )
    slow = assessment_of(diagnosis_of(slow_rows), "erp:443")
    assert slow.classification == "slow_backend"
    assert slow.episode.peak == START + pd.Timedelta(minutes=6), "the peak of a slow backend is its worst minute"
    healthy = assessment_of(diagnosis_of(frame("ok:443", [100] * 20, [0] * 20)), "ok:443")
    assert healthy.classification == "healthy"


def test_a_busy_destination_that_never_failed_shows_its_implied_reuse():
    assessment = assessment_of(diagnosis_of(frame("busy:443", [600] * 10, [0] * 10)), "busy:443")
    assert assessment.classification == "healthy"
    assert assessment.evidence.implied_min_requests_per_connection == 2.3  # (2400 + in flight) / 1024
    assert "at least 2.3 requests per connection" in assessment.reason
    quiet = assessment_of(diagnosis_of(frame("quiet:443", [100] * 10, [0] * 10)), "quiet:443")
    assert quiet.evidence.implied_min_requests_per_connection is None


def test_failures_that_stop_while_demand_stays_high_cannot_be_told_from_an_outage():
    """No port came free when the failures stopped (new connects 1.33 times the ports released): SNAT only if
    capacity was added then, which the logs do not show; an outage over before the burst fits as well."""
    burst = [50] * 10 + [600] * 16 + [50] * 6
    failures = [0] * 12 + [150] * 6 + [0] * 14  # an outage inside the burst, over before demand falls
    assessment = assessment_of(diagnosis_of(frame("search:443", burst, failures)), "search:443")
    (recovery,) = [c for c in assessment.checks if c.name == "recovers_as_demand_falls"]
    assert recovery.outcome == "failed" and "stayed at or above" in recovery.detail
    assert recovery.measured == 1.33 and "capacity was added" in recovery.detail
    assert assessment.confidence == "low"
    named = {assessment.classification, *assessment.alternatives}
    assert named == {"snat_exhaustion", "backend_unreachable"}, "both causes are named"


def test_a_window_ending_in_failures_is_not_recovered_and_not_judged_on_recovery():
    burst, failures = BURST[:18], SNAT_FAILURES[:18]
    assessment = assessment_of(diagnosis_of(frame("orders:443", burst, failures)), "orders:443")
    assert assessment.episode.recovery is None
    (recovery,) = [c for c in assessment.checks if c.name == "recovers_as_demand_falls"]
    assert recovery.outcome == "not_judged" and not recovery.passed
    assert "not recovered by the end of the window" in recovery.detail
    assert assessment.classification == "snat_exhaustion"


# Four hosts sharing the burst: each alone needs under half the ports, together more than all of them.
QUARTER_BURST = [13] * 10 + [100] * 12 + [13] * 10
QUARTER_FAILURES = [f // 4 for f in SNAT_FAILURES]
HOSTS = ("a", "b", "c", "d")


def test_hosts_on_one_ip_are_judged_on_their_pool():
    frames = [frame(f"{name}.azurewebsites.net:443", QUARTER_BURST, QUARTER_FAILURES) for name in HOSTS]
    alone = diagnosis_of(*frames, ip_map=parse_ip_map("host,ip\na.example.org,20.1.1.1\n"))
    assert {a.pool.pool.kind for a in alone.assessments} == {"unmapped"}
    # Each alone held about 300 ports: SNAT only with fewer ports than assumed, or hosts sharing the IP.
    for assessment in alone.assessments:
        assert assessment.confidence != "high"
        assert "shared its IP" in assessment.pool.holds_if.contradiction
    mapped = parse_ip_map("host,ip\n" + "".join(f"{name}.azurewebsites.net,20.50.1.7\n" for name in HOSTS))
    pooled = diagnosis_of(*frames, ip_map=mapped)
    assert {a.classification for a in pooled.assessments} == {"snat_exhaustion"}
    assert {a.pool.id for a in pooled.assessments} == {"West Europe/20.50.1.7:443"}
    (pool,) = [p for p in pooled.pools if p.exhausted]
    assert pool.peak_demand_high > 1024 > max(a.evidence.traffic.peak_snat_demand for a in pooled.assessments)


def test_without_a_map_hosts_failing_together_are_an_inferred_pool_with_a_way_to_confirm():
    frames = [frame(f"{name}.azurewebsites.net:443", QUARTER_BURST, QUARTER_FAILURES) for name in HOSTS]
    diagnosis = diagnosis_of(*frames)
    assert {a.classification for a in diagnosis.assessments} == {"snat_exhaustion"}
    (pool,) = {a.pool.id: a.pool for a in diagnosis.assessments}.values()
    assert pool.pool.kind == "inferred" and pool.pool.destinations == tuple(f"{n}.azurewebsites.net:443" for n in HOSTS)
    assert "inboundIpAddress" in diagnosis.assessments[0].reason


def test_hosts_failing_at_other_times_are_not_pooled():
    late = [0] * 4 + QUARTER_FAILURES[:-4]
    frames = [frame(f"{name}.x.net:443", QUARTER_BURST, QUARTER_FAILURES) for name in HOSTS[:2]]
    frames += [frame(f"{name}.x.net:443", QUARTER_BURST, late) for name in HOSTS[2:]]
    inferred = {tuple(m.destination for m in p.pool.members) for p in diagnosis_of(*frames).pools}
    assert ("a.x.net:443", "b.x.net:443", "c.x.net:443", "d.x.net:443") not in inferred
    assert all(len(members) <= 2 for members in inferred)


def test_a_host_on_two_ips_spreads_its_demand():
    orders = frame("orders.x.net:443", [300] * 20, [0] * 20)
    one = assessment_of(diagnosis_of(orders), "orders.x.net:443")
    two_ips = parse_ip_map("host,ip\norders.x.net,20.1.1.1\norders.x.net,20.1.1.2\n")
    pools = [p for p in diagnosis_of(orders, ip_map=two_ips).pools]
    assert [p.pool.ip for p in pools] == ["20.1.1.1", "20.1.1.2"]
    assert all(p.peak_demand_high == round(one.evidence.traffic.peak_snat_demand / 2, 1) for p in pools)


def test_regions_are_judged_apart_with_their_own_units():
    busy = frame("orders:443", BURST, SNAT_FAILURES, region="North Europe")
    calm = frame("orders:443", [50] * 32, [0] * 32, region="West Europe")
    diagnosis = diagnosis_of(busy, calm)
    assert assessment_of(diagnosis, "orders:443", "North Europe").classification == "snat_exhaustion"
    assert assessment_of(diagnosis, "orders:443", "West Europe").classification == "healthy"
    # Three units in North Europe, spread evenly over them (no few callers): the pool held about 1,100 ports
    # while it failed, so 3,072 is a contradiction the answer names, and it is no longer sure.
    more = diagnosis_of(busy, calm, assumptions=Assumptions(units_by_region={"North Europe": 3}))
    north = assessment_of(more, "orders:443", "North Europe")
    assert north.pool.capacity.low == 3072
    assert north.classification == "snat_exhaustion" and north.confidence == "medium"
    assert "the assumed 3,072 ports contradict the data" in north.pool.holds_if.contradiction


def test_few_callers_may_sit_on_one_unit_so_more_units_never_hide_snat():
    busy = frame("orders:443", BURST, SNAT_FAILURES)
    drivers = pd.DataFrame(
        {
            "region": ["West Europe"] * 2,
            "destination": ["orders:443"] * 2,
            "key_kind": ["subscription"] * 2,
            "key": ["bulk-sync", "web"],
            "requests": [900, 100],
            "share": [0.9, 0.1],
            "connection_failures": [0, 0],
        }
    )
    three = diagnosis_of(busy, assumptions=Assumptions(units=3), drivers=drivers)
    assessment = assessment_of(three, "orders:443")
    assert assessment.classification == "snat_exhaustion"
    assert (assessment.pool.capacity.low, assessment.pool.capacity.high) == (1024, 3072)


def test_logs_without_the_columns_the_checks_need_are_unknown_never_healthy():
    diagnosis = diagnosis_of(frame("ok:443", [100] * 20, [0] * 20), absent_columns=("LastErrorReason",))
    (assessment,) = diagnosis.assessments
    assert assessment.classification == "unknown"
    assert "column LastErrorReason" in assessment.reason and assessment.evidence.missing


def test_error_only_logs_are_unknown_and_name_the_verbosity():
    errors_only = frame("orders:443", [10] * 12, [10] * 12).assign(successes=0)
    (assessment,) = diagnosis_of(errors_only).assessments
    assert assessment.classification == "unknown" and "verbosity 'error'" in assessment.reason


def test_sampled_successes_count_as_many_requests_as_they_stand_for():
    sampled = frame("orders:443", [10] * 12, [0] * 12)
    (assessment,) = diagnosis_of(sampled, assumptions=Assumptions(log_sampling_percent=20)).assessments
    assert assessment.evidence.traffic.requests == 600


def test_masked_timeouts_at_a_short_forward_timeout_are_failed_connects():
    orders = frame("orders:443", BURST, [0] * 32)
    orders["unanswered_timeouts"] = SNAT_FAILURES
    fingerprint = pd.concat(
        [
            failed_at("orders:443", sum(SNAT_FAILURES), elapsed_s=10, reason="Timeout"),
            failed_at("orders:443", 300, elapsed_s=3, reason="", answered=True),
        ]
    )
    masked = assessment_of(diagnosis_of(orders, fingerprint=fingerprint), "orders:443")
    assert masked.classification == "snat_exhaustion"
    assert masked.evidence.traffic.connection_failures == sum(SNAT_FAILURES)
    # Successes answered late at any time are a slow backend's, so its timeouts are not taken as failed connects.
    slow = pd.concat([fingerprint.iloc[:1], failed_at("orders:443", 300, elapsed_s=6, reason="", answered=True)])
    assert assessment_of(diagnosis_of(orders, fingerprint=slow), "orders:443").classification == "healthy"
