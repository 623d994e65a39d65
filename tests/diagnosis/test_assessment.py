"""The assessment contract: evidence flattened in findings.json's key order, SNAT only with its evidence and pool."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from analysis.diagnosis.assessment import (
    Assessment,
    Capacity,
    Classification,
    Evidence,
    FailureEvidence,
    InventoryFigures,
    PoolAssessment,
    PoolState,
    Traffic,
    exhausted,
)
from analysis.diagnosis.onset import Episode
from analysis.diagnosis.pools import Member, Pool, PoolKind

TRAFFIC = Traffic(
    requests=1000,
    http_5xx=40,
    failed_requests=40,
    backend_5xx=0,
    connection_failures=40,
    timeouts=0,
    side_call_failures=0,
    failure_share=0.04,
    backend_5xx_share=0.0,
    peak_snat_demand=1600.0,
    peak_demand_low=12.0,
    peak_utilisation=1.563,
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
    demand_at_onset_low=10.0,
    utilisation_at_onset=0.781,
    low_load_failure_share=0.0,
    correlation_in_flight=0.8,
    correlation_requests=0.8,
    share_at_timeout=1.0,
    share_fast=0.0,
    masked_failures=0,
)
ONSET = pd.Timestamp("2025-02-25 09:12")
EPISODE = Episode(
    onset=ONSET, peak=ONSET + pd.Timedelta(minutes=4), recovery=None, bad_minutes=10, events=40, requests=400
)
POOL = PoolAssessment(
    Pool("West Europe", 443, PoolKind.HOST, (Member("a:443"),)),
    PoolState.EXHAUSTED,
    Capacity(1024, 1),
    12.0,
    1600.0,
    "ran out",
    EPISODE,
    (EPISODE,),
    (),
    FAILURE,
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
    assert Evidence(TRAFFIC, missing=("column BackendTime",)).as_dict()["missing"] == ["column BackendTime"]


def test_the_window_p95_is_the_inventorys_when_it_ran():
    assert Evidence(TRAFFIC, INVENTORY).p95_backend_ms == 82.0
    assert Evidence(TRAFFIC).p95_backend_ms == 95.0


def test_snat_exhaustion_cannot_be_stated_without_its_episode_evidence_and_pool():
    snat = Classification.SNAT_EXHAUSTION
    with pytest.raises(ValueError, match="needs its failure episode"):
        Assessment("a:443", "", snat, "", EPISODE, Evidence(TRAFFIC), pool=POOL)
    with pytest.raises(ValueError, match="needs its failure episode"):
        Assessment("a:443", "", snat, "", None, Evidence(TRAFFIC, failure=FAILURE), pool=POOL)
    with pytest.raises(ValueError, match="needs its failure episode"):
        Assessment("a:443", "", snat, "", EPISODE, Evidence(TRAFFIC, failure=FAILURE))


def test_the_exhausted_destinations_are_the_snat_ones_in_order_with_their_pools_figures():
    snat = Evidence(TRAFFIC, failure=FAILURE)
    assessments = [
        Assessment("b:443", "", Classification.SNAT_EXHAUSTION, "", EPISODE, snat, pool=POOL),
        Assessment("c:443", "", Classification.BACKEND_UNREACHABLE, "", EPISODE, snat, pool=POOL),
        Assessment("a:443", "North Europe", Classification.SNAT_EXHAUSTION, "", EPISODE, snat, pool=POOL),
        Assessment("d:443", "", Classification.HEALTHY, "", None, Evidence(TRAFFIC)),
    ]
    found = exhausted(assessments)
    assert [e.label for e in found] == ["b:443", "a:443 (North Europe)"]
    assert (found[0].demand_at_onset, found[0].peak_snat_demand, found[0].episode) == (800.0, 1600.0, EPISODE)


def test_the_capacity_is_one_units_when_few_callers_carried_the_load():
    assert (Capacity(1024, 3).low, Capacity(1024, 3).high) == (3072, 3072)
    assert (Capacity(1024, 3, concentrated=True).low, Capacity(1024, 3, concentrated=True).high) == (1024, 3072)


def test_classifications_rank_most_affected_first_and_unknown_last():
    assert [c.rank for c in Classification] == list(range(6))
    assert list(Classification)[-1] == "unknown"
    assert Classification.SNAT_EXHAUSTION == "snat_exhaustion" and f"{Classification.HEALTHY}" == "healthy"
