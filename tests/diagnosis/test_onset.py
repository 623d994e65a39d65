"""Onsets and episodes: sustained trouble, not the odd failed request."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.onset import bad_minutes, episodes
from tests.builders import START


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


def test_separate_episodes_are_each_kept_and_a_gap_within_the_hold_is_one():
    minutes = pd.Series(pd.date_range(START, periods=20, freq="min"))
    requests = pd.Series([100] * 20)
    failures = pd.Series([0, 9, 9, 0, 0, 0, 9, 9, 0] + [0] * 6 + [9, 9, 0, 0, 0])
    bad = bad_minutes(failures, requests)
    assert len(episodes(minutes, bad, failures, requests, max_gap=2)) == 3
    assert len(episodes(minutes, bad, failures, requests, max_gap=4)) == 2


def test_the_peak_is_the_worst_minute_by_the_severity_given():
    minutes = pd.Series(pd.date_range(START, periods=5, freq="min"))
    slow = pd.Series([1, 1, 1, 1, 0])
    p95 = pd.Series([4000.0, 9000.0, 5000.0, 4500.0, 80.0])
    (episode,) = episodes(minutes, slow.astype(bool), slow, pd.Series([1] * 5), severity=p95)
    assert episode.peak == minutes[1]
