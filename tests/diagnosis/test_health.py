"""The per-minute health frame: sparse rows typed, every minute only where asked, gaps told from idle minutes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.diagnosis.health import (
    dense,
    gap_minutes,
    normalise,
    reweighted,
    trailing_max,
    trailing_sum,
    window_minutes,
)
from tests.builders import REGION, START, frame


def test_the_frame_stays_sparse_and_fills_absent_columns():
    sparse = pd.DataFrame({"minute": [START + pd.Timedelta(minutes=2)], "destination": ["b:443"], "requests": [7]})
    rows = normalise(pd.concat([frame("a:443", [1] * 5, [0] * 5), sparse]))
    assert len(rows) == 6
    assert rows.loc[rows["destination"] == "b:443", ["region", "idle_cuts"]].values.tolist() == [["", 0]]


def test_every_minute_of_the_destinations_asked_for_counts_zero_when_silent():
    rows = normalise(frame("a:443", [1] * 5, [0] * 5).drop(index=[1, 3]))
    minutes = window_minutes(START, START + pd.Timedelta(minutes=5))
    full = dense(rows, [(REGION, "a:443")], minutes, pd.DatetimeIndex([]))
    assert full["requests"].tolist() == [1, 0, 1, 0, 1] and not full["gap"].any()
    assert dense(rows, [], minutes, pd.DatetimeIndex([])).empty


def test_a_silent_minute_amid_busy_ones_is_a_gap_whose_demand_comes_from_its_neighbours():
    rows = normalise(frame("a:443", [50, 60, 70, 80, 90], [0] * 5).drop(index=[2]))
    window = (START, START + pd.Timedelta(minutes=5))
    gaps = gap_minutes(rows, *window)
    assert list(gaps) == [START + pd.Timedelta(minutes=2)]
    full = dense(rows, [(REGION, "a:443")], window_minutes(*window), gaps)
    assert full["requests"].tolist() == [50, 60, 70, 80, 90] and full["gap"].tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]
    quiet = normalise(frame("a:443", [2, 2, 2, 2, 2], [0] * 5).drop(index=[2]))
    assert gap_minutes(quiet, *window).empty, "two requests a minute may well skip one"


def test_sampled_successes_are_reweighted_failures_are_not():
    rows = normalise(frame("a:443", [30], [10]))
    got = reweighted(rows, 5.0)
    assert (got["requests"].iloc[0], got["successes"].iloc[0]) == (10 + 5 * 20, 100)
    assert got["connection_failures"].iloc[0] == 10


def test_trailing_windows_over_sparse_minutes_stay_within_each_group():
    minutes = pd.Series(
        pd.to_datetime(["2025-01-01 10:00", "2025-01-01 10:02", "2025-01-01 10:04", "2025-01-01 10:00"])
    )
    groups = np.array([0, 0, 0, 1])
    values = np.array([4.0, 2.0, 1.0, 8.0])
    assert trailing_sum(values, groups, minutes, 3).tolist() == [4.0, 6.0, 3.0, 8.0]
    assert trailing_max(values, groups, minutes, 3).tolist() == [4.0, 4.0, 2.0, 8.0]
