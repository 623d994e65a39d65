"""Each SNAT check reports what it measured, against what, how much it weighs, at its boundaries; and the
balance of the checks decides, with a confidence, so that no single check vetoes a capacity-limit signature."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.diagnosis.assessment import Capacity, Check, CheckOutcome
from analysis.diagnosis.checks import (
    DECISIVE,
    MAX_SNAT_FAILURE_SHARE,
    SNAT_CHECKS,
    STRONG,
    WEAK,
    DemandEnd,
    EpisodeMeasures,
    HeldPorts,
    correlation,
    measure,
    run_checks,
    separation,
    weigh,
)
from analysis.diagnosis.fingerprint import Fingerprint
from analysis.diagnosis.onset import Episode

START = pd.Timestamp("2025-02-25 09:00")
ONSET = START + pd.Timedelta(minutes=10)
EPISODE = Episode(
    onset=ONSET,
    peak=ONSET + pd.Timedelta(minutes=2),
    recovery=ONSET + pd.Timedelta(minutes=6),
    bad_minutes=5,
    events=100,
    requests=1000,
)
LOW = DemandEnd("demand_low", "requests in flight", 0.5, 0.7, 10.0, 0.0, 8, (2.0, 2.0))
HIGH = DemandEnd("demand_high", "requests in the port hold", 0.8, 0.9, 800.0, 0.0, 8, (2.0, 2.0))
OPENED = DemandEnd("opened", "new connects a minute", 0.8, 0.95, 200.0, 0.0, 8, None)
AT_TIMEOUT = Fingerprint(connection_failures=100, slow=100, at_connect_timeout=100, connect_timer_s=21.0)
HELD = HeldPorts(12.0, 1000.0, (1000.0,))


def snat_like(**changes: Any) -> EpisodeMeasures:
    """Measures of an episode that every judged check supports; ``changes`` break one."""
    measures = EpisodeMeasures(EPISODE, (LOW, HIGH, OPENED), Capacity(1024, 1), AT_TIMEOUT, 4, HELD, 0.9, 0.05)
    return dataclasses.replace(measures, **changes)


def high(**changes: Any) -> tuple[DemandEnd, ...]:
    return LOW, dataclasses.replace(HIGH, **changes), OPENED


def check_of(measures: EpisodeMeasures, name: str) -> Check:
    (check,) = [c for c in run_checks(measures) if c.name == name]
    return check


def test_the_table_runs_every_check_in_order_with_its_weight():
    checks = run_checks(snat_like())
    assert [c.name for c in checks] == [
        "failures_end_at_a_timeout",
        "failures_follow_demand",
        "no_failures_at_low_load",
        "some_requests_get_through",
        "demand_could_reach_capacity",
        "recovers_as_demand_falls",
        "failures_start_at_one_level",
    ]
    assert len(SNAT_CHECKS) == len(checks)
    assert [(c.outcome.value, c.weight) for c in checks] == [
        ("passed", STRONG),
        ("passed", STRONG),
        ("passed", WEAK),
        ("passed", WEAK),
        ("passed", WEAK),
        ("passed", STRONG),
        ("not_judged", 0.0),
    ]
    balance = weigh(checks)
    assert balance.snat and balance.confidence == "high" and balance.against == 0
    assert balance.decided_by == ("failures_end_at_a_timeout", "failures_follow_demand", "recovers_as_demand_falls")


@pytest.mark.parametrize(
    ("fingerprint", "outcome", "weight"),
    [
        (Fingerprint(connection_failures=100, slow=100, at_connect_timeout=50, connect_timer_s=21.0), "passed", STRONG),
        # 127 s, Linux's connect timer: a timer wherever it sits.
        (
            Fingerprint(connection_failures=100, slow=100, at_connect_timeout=90, connect_timer_s=127.0),
            "passed",
            STRONG,
        ),
        # Slow but spread between 15 and 21 s: no one timer, still no refusal.
        (Fingerprint(connection_failures=100, slow=100, at_connect_timeout=30, connect_timer_s=None), "passed", WEAK),
        (Fingerprint(connection_failures=100, slow=49, fast=51, at_connect_timeout=49), "failed", DECISIVE),
        (Fingerprint(connection_failures=100, slow=40, fast=30, at_connect_timeout=10), "failed", WEAK),
    ],
)
def test_failures_at_any_timer_or_slow_support_snat_and_failures_in_milliseconds_decide_against(
    fingerprint, outcome, weight
):
    check = check_of(snat_like(fingerprint=fingerprint), "failures_end_at_a_timeout")
    assert (check.outcome, check.weight) == (outcome, weight), check.detail
    if fingerprint.connect_timer_s == 127.0:
        assert "the 127 s connect timer" in check.detail


def test_no_elapsed_time_is_not_judged():
    check = check_of(snat_like(fingerprint=Fingerprint()), "failures_end_at_a_timeout")
    assert check.outcome == "not_judged" and check.weight == 0 and check.measured is None


@pytest.mark.parametrize(
    ("separations", "outcome", "weight"),
    [
        ((0.5, 0.8, 0.6), "passed", STRONG),
        ((0.5, 0.79, 0.6), "passed", WEAK),
        ((0.5, 0.55, 0.59), "failed", WEAK),
        ((None, None, None), "not_judged", 0.0),
    ],
)
def test_failures_follow_whichever_demand_tells_the_failing_minutes_apart(separations, outcome, weight):
    ends = tuple(
        dataclasses.replace(end, separation=s) for end, s in zip((LOW, HIGH, OPENED), separations, strict=True)
    )
    check = check_of(snat_like(ends=ends), "failures_follow_demand")
    assert (check.outcome, check.weight) == (outcome, weight), check.detail


def test_separation_does_not_shrink_with_the_quiet_part_of_the_window():
    """A six-minute burst in a short and in a long window: the rank correlation falls with the quiet minutes
    (0.59 to 0.12 here), the separation of failing from calm minutes does not."""
    rng = np.random.default_rng(3)
    found = {}
    for quiet in (20, 600):
        demand = pd.Series(np.r_[rng.poisson(50, quiet), [300, 380, 400, 420, 390, 350], rng.poisson(50, quiet)])
        rate = pd.Series(np.r_[np.zeros(quiet), [0.05, 0.3, 0.4, 0.5, 0.3, 0.1], np.zeros(quiet)])
        found[quiet] = (correlation(demand.astype(float), rate), separation(demand.astype(float), rate > 0.01))
    assert found[20][1] == found[600][1] == 1.0
    assert found[20][0] > 0.5 > 0.2 > found[600][0]


def test_low_load_is_judged_only_with_minutes_to_judge():
    assert check_of(snat_like(ends=high(low_load_minutes=2)), "no_failures_at_low_load").outcome == "not_judged"
    failing = check_of(snat_like(ends=high(low_load_failure_share=0.011)), "no_failures_at_low_load")
    assert (failing.outcome, failing.weight) == ("failed", STRONG)


def test_an_outage_share_of_failures_counts_strongly_against_snat():
    outage = dataclasses.replace(EPISODE, events=950)
    check = check_of(snat_like(episode=outage), "some_requests_get_through")
    assert check.outcome == "failed" and check.weight == STRONG and check.measured == 0.95 > MAX_SNAT_FAILURE_SHARE


@pytest.mark.parametrize(
    ("held", "capacity", "outcome", "weight"),
    [
        (HeldPorts(12.0, 1000.0), Capacity(1024, 1), "passed", WEAK),
        (HeldPorts(12.0, 1000.0), Capacity(4096, 1), "failed", WEAK),  # the assumed capacity contradicts
        (HeldPorts(12.0, 1000.0), Capacity(1024, 3, concentrated=True), "passed", WEAK),
        (HeldPorts(0.0, 40.0), Capacity(1024, 1), "failed", STRONG),  # almost nothing was held while it failed
        (HeldPorts(None, None), Capacity(1024, 1), "not_judged", 0.0),
    ],
)
def test_the_ports_held_while_failing_are_set_against_the_assumed_capacity(held, capacity, outcome, weight):
    check = check_of(snat_like(held=held, capacity=capacity), "demand_could_reach_capacity")
    assert (check.outcome, check.weight) == (outcome, weight), check.detail


def test_a_recovery_fits_a_fall_of_either_end_or_ports_released_as_fast_as_asked_for():
    fell_late = (
        dataclasses.replace(LOW, recovery_lags=None),
        dataclasses.replace(HIGH, recovery_lags=(9.0, 12.0)),
        OPENED,
    )
    # The band fell too late, but new connects came no faster than ports were released: a saturated pool.
    released = check_of(snat_like(ends=fell_late, release_ratio=0.95), "recovers_as_demand_falls")
    assert released.passed and "freed ports as fast" in released.detail
    too_late = check_of(snat_like(ends=fell_late, release_ratio=3.0), "recovers_as_demand_falls")
    assert (too_late.outcome, too_late.weight) == ("failed", STRONG)
    fits_low = (dataclasses.replace(LOW, recovery_lags=(3.0, 3.0)), dataclasses.replace(HIGH, recovery_lags=None))
    check = check_of(snat_like(ends=(*fits_low, OPENED), release_ratio=None), "recovers_as_demand_falls")
    assert check.passed and "requests in flight" in check.detail


def test_failures_stopping_while_no_port_came_free_leave_the_cause_open():
    steady = (dataclasses.replace(LOW, recovery_lags=None), dataclasses.replace(HIGH, recovery_lags=None), OPENED)
    contrary = check_of(snat_like(ends=steady, release_ratio=1.33, release_error=0.05), "recovers_as_demand_falls")
    assert (contrary.outcome, contrary.weight, contrary.ceiling) == ("failed", STRONG, "low")
    assert "capacity was added" in contrary.detail
    balance = weigh(run_checks(snat_like(ends=steady, release_ratio=1.33, release_error=0.05)))
    assert balance.snat and balance.confidence == "low"
    noisy = check_of(snat_like(ends=steady, release_ratio=1.33, release_error=0.2), "recovers_as_demand_falls")
    assert noisy.passed, "within two standard errors of the release rate"
    unmeasured = check_of(snat_like(ends=steady, release_ratio=None), "recovers_as_demand_falls")
    assert unmeasured.outcome == "not_judged", "nothing to measure does not vote"


def test_an_episode_still_running_is_not_judged_on_its_recovery():
    running = dataclasses.replace(EPISODE, recovery=None)
    checks = run_checks(snat_like(episode=running))
    (check,) = [c for c in checks if c.name == "recovers_as_demand_falls"]
    assert check.outcome == "not_judged" and check.measured is None and check.weight == 0
    assert "not recovered by the end of the window" in check.detail
    assert weigh(checks).snat, "the other checks decide"


def test_episodes_of_one_pool_hold_about_the_same_ports():
    same = check_of(snat_like(held=HeldPorts(12.0, 1000.0, (1000.0, 1100.0))), "failures_start_at_one_level")
    assert same.passed and same.measured == 1.1
    apart = check_of(snat_like(held=HeldPorts(12.0, 1000.0, (400.0, 1100.0))), "failures_start_at_one_level")
    assert (apart.outcome, apart.weight) == ("failed", WEAK)


@pytest.mark.parametrize(
    "broken",
    [
        {"capacity": Capacity(4096, 1)},
        {"ends": (LOW, HIGH, dataclasses.replace(OPENED, separation=0.5))},
        {"ends": high(low_load_failure_share=0.05)},
        {"episode": dataclasses.replace(EPISODE, events=950)},
        {"held": HeldPorts(12.0, 1000.0, (400.0, 1100.0))},
    ],
)
def test_one_check_against_never_outweighs_a_capacity_limit_signature(broken):
    """Slow failures that follow demand and stop as it falls stay SNAT whatever one other check says."""
    if "ends" in broken and broken["ends"][2].separation == 0.5:
        broken = {"ends": tuple(dataclasses.replace(e, separation=0.5) for e in (LOW, HIGH, OPENED))}
    balance = weigh(run_checks(snat_like(**broken)))
    assert balance.snat and balance.confidence != "high", balance


def test_checks_not_judged_do_not_vote():
    judged = [Check("a", 1.0, 0.5, CheckOutcome.PASSED, "", STRONG)]
    unjudged = [Check(f"n{i}", None, 0.5, CheckOutcome.NOT_JUDGED, "") for i in range(5)]
    assert weigh(judged) == weigh(judged + unjudged)


def test_measures_are_taken_at_the_onset_and_the_held_ports_while_failing():
    minutes = pd.date_range(START, periods=20, freq="min")
    requests = [50] * 10 + [300] * 6 + [60] * 4
    failures = [0] * 11 + [0, 30, 60, 60, 60] + [0] * 4
    own = pd.DataFrame(
        {
            "minute": minutes,
            "requests": requests,
            "failures": failures,
            "demand_low": [1.0] * 20,
            "demand_high": [200.0] * 10 + [450, 700, 950, 1200, 1200, 1200] + [900, 600, 300, 240],
            "held_high": [200.0] * 10 + [450, 700, 920, 1000, 1000, 1000] + [900, 600, 300, 240],
            "gap": False,
        }
    )
    episode = Episode(
        onset=minutes[12], peak=minutes[13], recovery=minutes[16], bad_minutes=4, events=210, requests=1200
    )
    m = measure(own, episode, Capacity(1024, 1), AT_TIMEOUT, 4, warm_up_minutes=6)
    assert m.high.at_onset == 950.0 and m.utilisation_at_onset == 950 / 1024
    assert m.held.high == 1000.0 and m.held.low == 1.0, "the median held over the failing minutes"
    # Under half of 950: minutes 6-10 and 18-19; minutes 0-5 are the warm-up, left out.
    assert m.high.low_load_minutes == 7
    assert m.driving.separation == 1.0
    # New connects after the recovery (60 a minute) against those that succeeded a minute in the episode's
    # last hold before it (270, 240, 240, 240): 0.24.
    assert m.release_ratio == 0.24
