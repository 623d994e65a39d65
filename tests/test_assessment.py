"""The assessment contract: evidence flattened in findings.json's key order, SNAT only with its evidence."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from analysis.assessment import (
    Assessment,
    Classification,
    Evidence,
    FailureEvidence,
    InventoryFigures,
    Traffic,
    exhausted,
)
from analysis.onset import Episode

TRAFFIC = Traffic(
    requests=1000,
    http_5xx=40,
    backend_5xx=0,
    connection_failures=40,
    timeouts=0,
    failure_share=0.04,
    backend_5xx_share=0.0,
    peak_snat_demand=1600.0,
    peak_utilisation=1.563,
    demand_failure_correlation=0.8,
    median_p95_backend_ms=80.0,
    worst_p95_backend_ms=95.0,
)
INVENTORY = InventoryFigures(p95_backend_ms=82.0, request_share=0.5, error_share=0.04)
FAILURE = FailureEvidence(
    episode_failure_share=0.1,
    episodes=1,
    other_destinations_failing=("b:443",),
    recovery_lag_minutes=2.0,
    p95_backend_ms_before_onset=90.0,
    demand_at_onset=800.0,
    utilisation_at_onset=0.781,
    low_load_failure_share=0.0,
)
ONSET = pd.Timestamp("2025-02-25 09:12")
EPISODE = Episode(
    onset=ONSET, peak=ONSET + pd.Timedelta(minutes=4), recovery=None, bad_minutes=10, events=40, requests=400
)


def names(*parts: Any) -> list[str]:
    return [f.name for part in parts for f in dataclasses.fields(part)]


def test_evidence_is_flat_in_a_fixed_order_with_only_the_parts_measured():
    assert list(Evidence(TRAFFIC).as_dict()) == names(TRAFFIC)
    full = Evidence(TRAFFIC, INVENTORY, FAILURE).as_dict()
    assert list(full) == names(TRAFFIC, INVENTORY, FAILURE)
    assert full["other_destinations_failing"] == ("b:443",) and full["demand_at_onset"] == 800.0
    reused = Evidence(TRAFFIC, implied_min_requests_per_connection=1.6).as_dict()
    assert list(reused)[-1] == "implied_min_requests_per_connection"


def test_the_window_p95_is_the_inventorys_when_it_ran():
    assert Evidence(TRAFFIC, INVENTORY).p95_backend_ms == 82.0
    assert Evidence(TRAFFIC).p95_backend_ms == 95.0


def test_snat_exhaustion_cannot_be_stated_without_its_episode_and_evidence():
    with pytest.raises(ValueError, match="needs its failure episode"):
        Assessment("a:443", Classification.SNAT_EXHAUSTION, "", EPISODE, Evidence(TRAFFIC))
    with pytest.raises(ValueError, match="needs its failure episode"):
        Assessment("a:443", Classification.SNAT_EXHAUSTION, "", None, Evidence(TRAFFIC, failure=FAILURE))


def test_the_exhausted_destinations_are_the_snat_ones_in_order_with_their_figures():
    snat = Evidence(TRAFFIC, failure=FAILURE)
    assessments = [
        Assessment("b:443", Classification.SNAT_EXHAUSTION, "", EPISODE, snat),
        Assessment("c:443", Classification.BACKEND_UNREACHABLE, "", EPISODE, snat),
        Assessment("a:443", Classification.SNAT_EXHAUSTION, "", EPISODE, snat),
        Assessment("d:443", Classification.HEALTHY, "", None, Evidence(TRAFFIC)),
    ]
    found = exhausted(assessments)
    assert [e.destination for e in found] == ["b:443", "a:443"]
    assert (found[0].demand_at_onset, found[0].peak_snat_demand, found[0].episode) == (800.0, 1600.0, EPISODE)


def test_classifications_rank_most_affected_first():
    assert [c.rank for c in Classification] == list(range(5))
    assert Classification.SNAT_EXHAUSTION == "snat_exhaustion" and f"{Classification.HEALTHY}" == "healthy"
