"""The verdict of a window."""

from __future__ import annotations

from analysis.assumptions import Assumptions
from analysis.classify import assess
from analysis.verdict import decide
from tests.builders import BURST, SNAT_FAILURES, demand_of, frame


def test_verdict_needs_a_snat_destination_and_enough_traffic():
    demand = demand_of(frame("orders:443", BURST, SNAT_FAILURES))
    assessments = [assess(demand, "orders:443", Assumptions())]
    assert decide(assessments, demand, Assumptions()).verdict == "snat_exhaustion"
    assert decide(assessments, demand, Assumptions(min_requests=10**7)).verdict == "insufficient_data"
    quiet = demand_of(frame("ok:443", [100] * 20, [0] * 20))
    assert decide([assess(quiet, "ok:443", Assumptions())], quiet, Assumptions()).verdict == "no_snat_evidence"
