"""Mitigations: sized to the incident, listed only where they apply."""

from __future__ import annotations

from analysis.assumptions import Assumptions
from analysis.classify import assess
from analysis.mitigations import recommend
from tests.builders import BURST, SNAT_FAILURES, demand_of, frame


def test_mitigations_are_sized_and_only_when_they_apply():
    demand = demand_of(frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES))
    assessments = [assess(demand, "orders.azurewebsites.net:443", Assumptions())]
    found = {m.id: m for m in recommend(assessments, demand, Assumptions())}
    peak = assessments[0].evidence.traffic.peak_snat_demand
    assert peak == 1600
    assert found["scale_out"].title == "Scale out to 3 units"  # 1600 / (0.75 * 1024) = 2.08 -> 3
    assert found["spread_backend_ips"].title == "Spread the backend over 3 IP addresses"
    assert "private_endpoint" in found and "cache_responses" in found and "connection_reuse" in found
    assert "nat_gateway" not in found and "rate_limit_by_key" not in found
    quiet = demand_of(frame("ok:443", [100] * 20, [0] * 20))
    assert recommend([assess(quiet, "ok:443", Assumptions())], quiet, Assumptions()) == []
