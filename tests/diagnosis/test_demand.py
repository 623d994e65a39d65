"""The SNAT demand model: a band from the requests in flight to every request of the hold a new connection."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.demand import band, what_if, what_if_settings
from tests.builders import START


def minutes(requests: list[float], busy_ms: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pool": "a",
            "minute": pd.date_range(START, periods=len(requests), freq="min"),
            "requests": requests,
            "backend_busy_ms": busy_ms,
        }
    )


def test_the_top_is_in_flight_plus_the_trailing_four_minutes_of_requests():
    got = band(minutes([100, 100, 100, 100, 100, 0, 0, 0, 0], [0.0] * 9), Assumptions(), ["pool"])
    assert got["demand_high"].tolist() == [100, 200, 300, 400, 400, 300, 200, 100, 0]
    reused = band(minutes([100] * 5, [0.0] * 5), Assumptions(requests_per_connection=4), ["pool"])
    assert reused["demand_high"].iloc[-1] == 100


def test_the_bottom_is_the_most_in_flight_a_hold_idle_time_and_minute_ago():
    busy = [60_000.0 * n for n in (0, 300, 0, 0, 0, 0, 0, 0)]  # 300 calls in flight in the second minute
    got = band(minutes([500] * 8, busy), Assumptions(), ["pool"])
    assert got["in_flight"].tolist()[:3] == [0, 300, 0]
    # Busy in minute 1: idle for 1 minute, closed, held 4 minutes: its ports are taken to minute 6.
    assert got["demand_low"].tolist() == [0, 300, 300, 300, 300, 300, 300, 0]
    assert (got["demand_high"] >= got["demand_low"]).all()


def test_what_if_replays_the_top_of_the_band_under_other_units_ips_and_reuse():
    pool = minutes([600] * 4, [0.0] * 4)
    table = what_if(pool, Assumptions(), what_if_settings(Assumptions(), 1, 2400.0))
    rows = {row.setting: row for row in table.itertuples()}
    assert rows["as assumed"].peak_utilisation == 2.34
    assert rows["4 units"].minutes_over_capacity == 0  # 2400 / (0.75 x 1024) -> 4
    assert rows["10 requests per connection"].peak_utilisation == 0.23
