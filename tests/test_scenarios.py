"""Every look-alike scenario, in both logging modes: each destination classified as caused, onsets within 2 minutes."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.investigation import investigate
from analysis.sources.local import open_local
from analysis.synthetic.library import SCENARIOS

ONSET_TOLERANCE = pd.Timedelta(minutes=2)


@pytest.mark.parametrize("mode", ["resource", "azurediagnostics"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_is_diagnosed_as_caused(name, mode, incident, scenario_export):
    truth = incident(name).truth
    result = investigate(open_local(scenario_export(name, mode)))
    got = {a.destination: a for a in result.assessments}
    assert set(got) == set(truth)
    for destination, expected in truth.items():
        assessment = got[destination]
        assert assessment.classification == expected.classification, (destination, assessment.reason)
        if expected.onset is not None:
            assert abs(assessment.episode.onset - expected.onset) <= ONSET_TOLERANCE, destination
        if expected.recovery is not None:
            assert abs(assessment.episode.recovery - expected.recovery) <= ONSET_TOLERANCE, destination
    exhausted = any(t.classification == "snat_exhaustion" for t in truth.values())
    assert result.verdict.verdict == ("snat_exhaustion" if exhausted else "no_snat_evidence")


def test_both_modes_give_the_same_findings(scenario_export):
    resource = investigate(open_local(scenario_export("sample", "resource"))).findings
    legacy = investigate(open_local(scenario_export("sample", "azurediagnostics"))).findings
    for document in (resource, legacy):
        document.pop("source"), document.pop("mode")
        for query in document.pop("queries"):
            assert query["rows"] > 0
    assert resource == legacy
