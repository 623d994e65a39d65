"""Onsets and episodes: sustained trouble, not the odd failed request."""

from __future__ import annotations

import pandas as pd

from analysis.onset import bad_minutes, episodes
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
