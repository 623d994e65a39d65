"""The per-minute health frame: every minute of every destination."""

from __future__ import annotations

import pandas as pd

from analysis.health import complete_minutes
from tests.builders import START, frame


def test_missing_minutes_count_as_zero_and_every_destination_gets_every_minute():
    sparse = pd.DataFrame({"minute": [START + pd.Timedelta(minutes=2)], "destination": ["b:443"], "requests": [7]})
    rows = pd.concat([frame("a:443", [1] * 5, [0] * 5), sparse])
    full = complete_minutes(rows, START, START + pd.Timedelta(minutes=5))
    assert len(full) == 10
    assert full.loc[full["destination"] == "b:443", "requests"].tolist() == [0, 0, 7, 0, 0]


def test_empty_window_gives_an_empty_frame():
    empty = complete_minutes(pd.DataFrame({"minute": [], "destination": []}), START, START + pd.Timedelta(hours=1))
    assert empty.empty and "connection_failures" in empty
