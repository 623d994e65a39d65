"""Each SNAT check reports what it measured, against what, and the outcome, at its boundaries."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from analysis.assessment import Capacity
from analysis.fingerprint import Fingerprint
from analysis.onset import Episode
from analysis.snat_checks import (
    MAX_SNAT_FAILURE_SHARE,
    MIN_DEMAND_CORRELATION,
    SNAT_CHECKS,
    DemandEnd,
    EpisodeMeasures,
    exhausted,
    measure,
    run_checks,
)

START = pd.Timestamp("2025-02-25 09:00")
ONSET = START + pd.Timedelta(minutes=4)
EPISODE = Episode(
    onset=ONSET,
    peak=ONSET + pd.Timedelta(minutes=2),
    recovery=ONSET + pd.Timedelta(minutes=6),
    bad_minutes=5,
    events=100,
    requests=1000,
)
LOW = DemandEnd("demand_low", "requests in flight", 0.5, 10.0, 0.0, (2.0, 2.0))
HIGH = DemandEnd("demand_high", "requests in the port hold", 0.8, 800.0, 0.0, (2.0, 2.0))
AT_TIMEOUT = Fingerprint(connection_failures=100, at_connect_timeout=100)


def snat_like(**changes: Any) -> EpisodeMeasures:
    """Measures of an episode that passes every check; ``changes`` break one."""
    measures = EpisodeMeasures(EPISODE, (LOW, HIGH), Capacity(1024, 1), AT_TIMEOUT, 21.0, 4)
    return dataclasses.replace(measures, **changes)


def high(**changes: Any) -> tuple[DemandEnd, DemandEnd]:
    return LOW, dataclasses.replace(HIGH, **changes)


def test_the_table_runs_every_check_in_order():
    checks = run_checks(snat_like())
    assert [c.name for c in checks] == [
        "failures_end_at_a_timeout",
        "failures_follow_demand",
        "no_failures_at_low_load",
        "some_requests_get_through",
        "demand_could_reach_capacity",
        "recovers_as_demand_falls",
    ]
    assert len(SNAT_CHECKS) == len(checks) and all(c.passed for c in checks) and exhausted(checks)
    assert [(c.measured, c.threshold) for c in checks] == [
        (1.0, 0.5),
        (0.8, 0.4),
        (0.0, 0.01),
        (0.1, 0.9),
        (0.781, 0.5),
        (2.0, (-1, 8)),
    ]


@pytest.mark.parametrize(
    ("changes", "name", "passed"),
    [
        (
            {"fingerprint": Fingerprint(connection_failures=100, at_connect_timeout=50)},
            "failures_end_at_a_timeout",
            True,
        ),
        (
            {"fingerprint": Fingerprint(connection_failures=100, at_connect_timeout=49, fast=51)},
            "failures_end_at_a_timeout",
            False,
        ),
        ({"ends": high(correlation=MIN_DEMAND_CORRELATION)}, "failures_follow_demand", True),
        (
            {"ends": (dataclasses.replace(LOW, correlation=0.39), dataclasses.replace(HIGH, correlation=0.2))},
            "failures_follow_demand",
            False,
        ),
        (
            {"ends": (dataclasses.replace(LOW, correlation=None), dataclasses.replace(HIGH, correlation=None))},
            "failures_follow_demand",
            False,
        ),
        ({"ends": high(low_load_failure_share=0.011)}, "no_failures_at_low_load", False),
        ({"ends": high(at_onset=511.0)}, "demand_could_reach_capacity", False),
        ({"capacity": Capacity(1024, 2)}, "demand_could_reach_capacity", False),
        ({"capacity": Capacity(1024, 2, concentrated=True)}, "demand_could_reach_capacity", True),
        ({"ends": high(recovery_lags=(-1.0, -1.0))}, "recovers_as_demand_falls", True),
        (
            {
                "ends": (
                    dataclasses.replace(LOW, recovery_lags=None),
                    dataclasses.replace(HIGH, recovery_lags=(-2.0, -2.0)),
                )
            },
            "recovers_as_demand_falls",
            False,
        ),
        (
            {
                "ends": (
                    dataclasses.replace(LOW, recovery_lags=None),
                    dataclasses.replace(HIGH, recovery_lags=(9.0, 12.0)),
                )
            },
            "recovers_as_demand_falls",
            False,
        ),
        (
            {
                "ends": (
                    dataclasses.replace(LOW, recovery_lags=None),
                    dataclasses.replace(HIGH, recovery_lags=(5.0, 12.0)),
                )
            },
            "recovers_as_demand_falls",
            True,
        ),
        (
            {"ends": (dataclasses.replace(LOW, recovery_lags=None), dataclasses.replace(HIGH, recovery_lags=None))},
            "recovers_as_demand_falls",
            False,
        ),
    ],
)
def test_a_check_fails_only_past_its_threshold(changes, name, passed):
    checks = run_checks(snat_like(**changes))
    (check,) = [c for c in checks if c.name == name]
    assert check.passed is passed, check.detail
    assert [c.name for c in checks if not c.passed] == ([] if passed else [name])


def test_the_recovery_may_fit_either_end_of_the_band():
    fits_low = (dataclasses.replace(LOW, recovery_lags=(3.0, 3.0)), dataclasses.replace(HIGH, recovery_lags=None))
    (check,) = [c for c in run_checks(snat_like(ends=fits_low)) if c.name == "recovers_as_demand_falls"]
    assert check.passed and "requests in flight" in check.detail


def test_an_outage_share_of_failures_is_not_snat():
    outage = Episode(onset=ONSET, peak=ONSET, recovery=None, bad_minutes=5, events=950, requests=1000)
    (check,) = [c for c in run_checks(snat_like(episode=outage)) if c.name == "some_requests_get_through"]
    assert not check.passed and check.measured == 0.95 > MAX_SNAT_FAILURE_SHARE
    assert "95.0% of requests failed" in check.detail


def test_an_episode_still_running_is_not_judged_on_its_recovery():
    running = Episode(onset=ONSET, peak=ONSET, recovery=None, bad_minutes=5, events=100, requests=1000)
    checks = run_checks(snat_like(episode=running))
    (check,) = [c for c in checks if c.name == "recovers_as_demand_falls"]
    assert check.outcome == "not_judged" and not check.passed and check.measured is None
    assert "not recovered by the end of the window" in check.detail
    assert exhausted(checks), "the other checks decide"


def test_measures_are_taken_at_the_onset_and_the_fall_is_a_range():
    minutes = pd.date_range(START, periods=14, freq="min")
    high = [100, 100, 100, 100, 800, 900, 1000, 900, 790, 810, 300, 100, 100, 100]
    own = pd.DataFrame(
        {
            "minute": minutes,
            "demand_high": high,
            "demand_low": [1.0] * 14,
            "requests": [50] * 14,
            "failures": [1, 0, 0, 0, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0],
            "gap": False,
        }
    )
    episode = Episode(onset=minutes[4], peak=minutes[6], recovery=minutes[10], bad_minutes=5, events=45, requests=250)
    m = measure(own, episode, Capacity(1024, 1), AT_TIMEOUT, 21.0, 4)
    assert (m.high.at_onset, m.utilisation_at_onset) == (800.0, 800 / 1024)
    assert m.high.low_load_failure_share == pytest.approx(1 / 400)  # 1 failure in the 8 minutes under 400
    # Under 800 for good from minute 10; under halfway to the level after (about 100) from minute 10 too.
    assert m.high.recovery_lags == (0.0, 0.0)
