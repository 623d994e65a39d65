"""Grading an investigation against a scenario's truth, which comes from the generator's physics, never from the
classifier: the classification of each (region, destination), its SNAT pool, its episodes and their onsets and
recoveries (within 2 minutes, where the logs show them), and the verdict."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.assessment import Assessment, Classification
from analysis.diagnosis.pools import PoolKind
from analysis.investigation.run import Investigation
from analysis.synthetic import Incident

TOLERANCE = pd.Timedelta(minutes=2)
MODES = ("resource", "azurediagnostics")
FAILING = (Classification.SNAT_EXHAUSTION, Classification.BACKEND_UNREACHABLE)


def near(ours: list[pd.Timestamp | None], truth: list[pd.Timestamp]) -> bool:
    """Every true time has one of ours within the tolerance."""
    return all(any(o is not None and abs(o - t) <= TOLERANCE for o in ours) for t in truth)


def grade(incident: Incident, found: Investigation, open_when_unsure: bool = False) -> None:
    """Assert that the investigation says what the truth says, destination by destination.

    With ``open_when_unsure``, another classification passes when it is of low confidence and names the true
    cause among the ones it cannot rule out: not a confident wrong cause. Onsets before the data starts must
    be said to be so; recoveries after the data ends are not looked for.
    """
    regions_logged = "Region" in incident.logs.columns
    got: dict[tuple[str, str], Assessment] = {a.key: a for a in found.assessments}
    expected = {((t.region if regions_logged else ""), t.destination): t for t in incident.truth.values() if t.in_logs}
    assert set(got) == set(expected)
    ip_map = incident.scenario.assumptions.ip_map
    for key, truth in expected.items():
        ours = got[key]
        if ours.classification != truth.classification:
            assert open_when_unsure, (key, ours.classification, ours.reason)
            assert ours.confidence == "low" and truth.classification in ours.alternatives, (key, ours.reason)
            continue
        if truth.classification == Classification.SNAT_EXHAUSTION:
            pool = ours.pool
            assert pool is not None and pool.exhausted
            hosts_sharing = {m for p in truth.pools for m in incident.pools[p].members}
            assert set(pool.pool.destinations) <= hosts_sharing, (key, pool.id)
            if ip_map:
                assert pool.pool.kind == PoolKind.IP
                assert (truth.region, pool.pool.ip, pool.pool.port) in {tuple(p) for p in truth.pools}
        if truth.episodes and truth.classification in FAILING:
            assert len(ours.episodes) == len(truth.episodes), (key, ours.episodes)
            seen = list(zip(truth.episodes, truth.observed, strict=True))
            onsets = [start for (start, _), (onset_seen, _) in seen if onset_seen]
            assert near([e.onset for e in ours.episodes if e.onset_observed], onsets), key
            if not all(onset_seen for _, (onset_seen, _) in seen):
                assert not all(e.onset_observed for e in ours.episodes), ("an onset before the data is said so", key)
            recoveries = [end for (_, end), (_, end_seen) in seen if end is not None and end_seen]
            assert near([e.recovery for e in ours.episodes], recoveries), key
    if found.verdict.verdict != incident.expected_verdict:
        assert open_when_unsure and found.verdict.confidence == "low", found.verdict.reason
