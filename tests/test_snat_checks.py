"""Each SNAT check reports what it measured, against what, and the outcome, at its boundaries."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from analysis.onset import Episode
from analysis.snat_checks import (
    MAX_SNAT_FAILURE_SHARE,
    MIN_DEMAND_CORRELATION,
    SNAT_CHECKS,
    EpisodeMeasures,
    measure,
    run_checks,
)

START = pd.Timestamp("2025-02-25 09:00")
ONSET = START + pd.Timedelta(minutes=4)


def snat_like(**changes: Any) -> EpisodeMeasures:
    """Measures of an episode that passes every check; ``changes`` break one."""
    episode = Episode(
        onset=ONSET,
        peak=ONSET + pd.Timedelta(minutes=2),
        recovery=ONSET + pd.Timedelta(minutes=6),
        bad_minutes=5,
        events=100,
        requests=1000,
    )
    measures = EpisodeMeasures(
        episode=episode,
        correlation=0.8,
        demand_at_onset=800.0,
        utilisation_at_onset=0.78,
        low_load_failure_share=0.0,
        recovery_lag_minutes=2.0,
        hold_minutes=4,
    )
    return dataclasses.replace(measures, **changes)


def test_the_table_runs_every_check_in_order():
    checks = run_checks(snat_like())
    assert [c.name for c in checks] == [
        "failures_follow_demand",
        "no_failures_at_low_load",
        "some_requests_get_through",
        "demand_near_capacity_at_onset",
        "recovers_as_demand_falls",
    ]
    assert len(SNAT_CHECKS) == len(checks) and all(c.passed for c in checks)
    assert [(c.measured, c.threshold) for c in checks] == [
        (0.8, 0.4),
        (0.0, 0.01),
        (0.1, 0.9),
        (0.78, 0.5),
        (2.0, (-1, 8)),
    ]


@pytest.mark.parametrize(
    ("changes", "name", "passed"),
    [
        ({"correlation": MIN_DEMAND_CORRELATION}, "failures_follow_demand", True),
        ({"correlation": 0.39}, "failures_follow_demand", False),
        ({"correlation": None}, "failures_follow_demand", False),
        ({"low_load_failure_share": 0.011}, "no_failures_at_low_load", False),
        ({"utilisation_at_onset": 0.49}, "demand_near_capacity_at_onset", False),
        ({"recovery_lag_minutes": -1.0}, "recovers_as_demand_falls", True),
        ({"recovery_lag_minutes": -2.0}, "recovers_as_demand_falls", False),
        ({"recovery_lag_minutes": 9.0}, "recovers_as_demand_falls", False),
        ({"recovery_lag_minutes": None}, "recovers_as_demand_falls", False),
    ],
)
def test_a_check_fails_only_past_its_threshold(changes, name, passed):
    (check,) = [c for c in run_checks(snat_like(**changes)) if c.name == name]
    assert check.passed is passed, check.detail
    assert [c.name for c in run_checks(snat_like(**changes)) if not c.passed] == ([] if passed else [name])


def test_an_outage_share_of_failures_is_not_snat():
    outage = Episode(onset=ONSET, peak=ONSET, recovery=None, bad_minutes=5, events=950, requests=1000)
    (check,) = [c for c in run_checks(snat_like(episode=outage)) if c.name == "some_requests_get_through"]
    assert not check.passed and check.measured == 0.95 > MAX_SNAT_FAILURE_SHARE
    assert "95.0% of requests failed" in check.detail


def test_an_episode_still_running_cannot_be_judged_on_its_recovery():
    running = Episode(onset=ONSET, peak=ONSET, recovery=None, bad_minutes=5, events=100, requests=1000)
    (check,) = [
        c
        for c in run_checks(snat_like(episode=running, recovery_lag_minutes=None))
        if c.name == "recovers_as_demand_falls"
    ]
    assert check.passed and check.measured is None and "cannot be judged" in check.detail


def test_measures_are_taken_at_the_onset_and_the_lag_once_demand_falls_back():
    minutes = pd.date_range(START, periods=12, freq="min")
    demand = [100, 100, 100, 100, 800, 900, 1000, 900, 700, 300, 100, 100]
    own = pd.DataFrame(
        {
            "minute": minutes,
            "snat_demand": demand,
            "utilisation": [d / 1024 for d in demand],
            "requests": [50] * 12,
            "connection_failures": [1, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0],
        }
    )
    episode = Episode(onset=minutes[4], peak=minutes[6], recovery=minutes[10], bad_minutes=4, events=36, requests=200)
    m = measure(own, episode, correlation=0.9, hold_minutes=4)
    assert (m.demand_at_onset, m.utilisation_at_onset) == (800.0, 800 / 1024)
    assert m.low_load_failure_share == pytest.approx(1 / 350)  # 1 failure in the 7 minutes under 400 connections
    assert m.recovery_lag_minutes == 2.0  # demand fell under 800 at minute 8, recovery at minute 10
