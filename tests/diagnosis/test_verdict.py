"""The verdict of a window."""

from __future__ import annotations

from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.coverage import Coverage
from analysis.diagnosis.verdict import decide, timeline
from tests.builders import BURST, SNAT_FAILURES, diagnosis_of, frame


def test_verdict_needs_a_snat_destination_and_enough_traffic():
    orders = diagnosis_of(frame("orders:443", BURST, SNAT_FAILURES))
    assert decide(orders.assessments, orders.frame, Assumptions()).verdict == "snat_exhaustion"
    assert decide(orders.assessments, orders.frame, Assumptions(min_requests=10**7)).verdict == "insufficient_data"
    quiet = diagnosis_of(frame("ok:443", [100] * 20, [0] * 20))
    assert decide(quiet.assessments, quiet.frame, Assumptions()).verdict == "no_snat_evidence"


def test_logs_that_cannot_tell_give_insufficient_data_naming_what_is_missing():
    orders = diagnosis_of(frame("orders:443", BURST, SNAT_FAILURES))
    blind = Coverage(absent_columns=("BackendTime",))
    verdict = decide(orders.assessments, orders.frame, Assumptions(), blind)
    assert verdict.verdict == "insufficient_data" and "column BackendTime" in verdict.reason


def test_the_timeline_holds_every_episode():
    twice = diagnosis_of(frame("orders:443", BURST + BURST, SNAT_FAILURES + SNAT_FAILURES))
    (orders,) = twice.assessments
    assert len(orders.episodes) == 2
    assert [e["event"] for e in timeline(twice.assessments)] == ["onset", "peak", "recovery"] * 2
