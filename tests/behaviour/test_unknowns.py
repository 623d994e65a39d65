"""Incidents under what the logs cannot show (timers, capacity, reuse, where the export starts), graded against the
truth of the generator's physics: no destination gets a confident wrong cause; where the logs cannot tell, the
answer is low and names the other cause. The same incident under wrong assumptions keeps its cause or says what
it depends on."""

from __future__ import annotations

import itertools

import pytest

from analysis.diagnosis.assessment import Classification
from analysis.diagnosis.assumptions import Assumptions
from analysis.investigation.run import query_window, recompute
from analysis.sources.local import open_local
from analysis.synthetic.library import UNKNOWNS
from tests.grading import grade


@pytest.mark.parametrize("name", sorted(UNKNOWNS))
def test_an_incident_under_unknowns_gets_its_cause_or_an_open_answer(name, incident, diagnosed):
    """In the resource-specific mode: both modes give the same findings (``test_scenarios``)."""
    grade(incident(name), diagnosed(name), open_when_unsure=True)


def _exhausted(found):
    (entry,) = [d for d in found.findings["destinations"] if d["classification"] == "snat_exhaustion"][:1]
    return entry


def test_a_linux_connect_timer_is_read_from_the_data(diagnosed):
    found = diagnosed("timer_127s")
    assert found.findings["connect_timer_s"] == 127.0
    assert _exhausted(found)["connect_timer_s"] == 127.0 and _exhausted(found)["confidence"] == "high"


def test_a_capacity_told_four_times_too_large_is_a_named_contradiction(diagnosed):
    entry = _exhausted(diagnosed("told_4096_ports"))
    assert entry["confidence"] != "high"
    assert "the assumed 4,096 ports contradict the data" in entry["holds_if"]["contradiction"]
    assert 800 <= entry["holds_if"]["ports_at_most"] <= 1400, "about the 1,024 ports the pool really had"


def test_a_quarter_of_the_assumed_ports_is_what_the_held_ports_show(diagnosed):
    entry = _exhausted(diagnosed("capacity_quarter"))
    assert "the assumed 1,024 ports contradict the data" in entry["holds_if"]["contradiction"]
    assert 200 <= entry["holds_if"]["ports_at_most"] <= 400, "about the 256 ports of each unit"


def test_a_capped_export_starting_inside_the_episode_says_both(diagnosed):
    found = diagnosed("capped_export_30000")
    assert [c["kind"] for c in found.findings["data_quality"]["cut"]] == ["row_cap", "starts_inside_episode"]
    entry = _exhausted(found)
    assert entry["onset_observed"] is False and entry["confidence"] == "medium"


def test_an_episode_past_the_window_is_not_judged_on_its_recovery(diagnosed):
    found = diagnosed("episode_past_window")
    entry = _exhausted(found)
    assert entry["recovery"] is None
    (recovery,) = [c for c in entry["checks"] if c["name"] == "recovers_as_demand_falls"]
    assert recovery["outcome"] == "not_judged"
    assert [c["kind"] for c in found.findings["data_quality"]["cut"]] == ["ends_inside_episode"]


def test_a_scale_out_that_ends_the_failures_under_load_leaves_the_cause_open(diagnosed):
    """Failures stop while new connects still outpace the released ports: SNAT only if capacity was added, which
    the logs do not show; the answer says so instead of blaming the backend."""
    entry = _exhausted(diagnosed("scale_out_ends_ramp"))
    assert entry["confidence"] == "low" and entry["alternatives"] == ["backend_unreachable"]
    (recovery,) = [c for c in entry["checks"] if c["name"] == "recovers_as_demand_falls"]
    assert recovery["outcome"] == "failed" and "capacity was added" in recovery["detail"]


GRID = list(
    itertools.product(
        (256, 1024, 4096),  # ports per unit: a quarter, the default, four times
        (1, 3),  # units
        (1.0, 10.0),  # requests per connection
        (None, 21.0, 127.0),  # the connect timer: read from the data, right, wrong
    )
)


@pytest.mark.parametrize(("name", "cause"), [("sample", "snat_exhaustion"), ("refuses_under_load_127s", None)])
def test_no_assumption_makes_a_confident_wrong_cause(name, cause, scenario_export, incident):
    """Every combination of the unknowns over the same logs: the SNAT destination stays SNAT or says it cannot
    tell; a look-alike never becomes confident SNAT."""
    source = open_local(scenario_export(name))
    data = query_window(source)
    source.close()
    truth = {t.destination: t.classification for t in incident(name).truth.values()}
    for ports, units, reuse, timer in GRID:
        assumptions = Assumptions(snat_ports=ports, units=units, requests_per_connection=reuse, connect_timeout_s=timer)
        found = recompute(data, assumptions)
        for a in found.assessments:
            right = truth[a.destination]
            if a.classification != right:
                said = (ports, units, reuse, timer, a.destination, a.classification, a.confidence, a.reason)
                assert a.confidence == "low" and right in a.alternatives, said
                assert a.classification != Classification.SNAT_EXHAUSTION or right == cause, said
