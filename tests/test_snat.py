"""The SNAT demand model: trailing connections per destination."""

from __future__ import annotations

from analysis.assumptions import Assumptions
from tests.builders import demand_of, frame


def test_demand_is_the_trailing_four_minutes_of_new_connections():
    demand = demand_of(frame("a:443", [100, 100, 100, 100, 100, 0, 0, 0, 0], [0] * 9))
    assert demand["snat_demand"].tolist() == [100, 200, 300, 400, 400, 300, 200, 100, 0]
    reused = demand_of(frame("a:443", [100] * 5, [0] * 5), assumptions=Assumptions(requests_per_connection=4))
    assert reused["snat_demand"].iloc[-1] == 100
