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


@pytest.mark.parametrize(
    ("name", "listed", "not_listed"),
    [
        (
            "sample",
            ["scale_out", "spread_backend_ips", "rate_limit_by_key", "connection_reuse", "cache_responses"],
            ["private_endpoint", "nat_gateway"],
        ),
        ("two_exhausted", ["scale_out", "nat_gateway"], []),
        (
            "no_incident",
            [],
            [
                "scale_out",
                "spread_backend_ips",
                "private_endpoint",
                "nat_gateway",
                "rate_limit_by_key",
                "connection_reuse",
                "cache_responses",
            ],
        ),
        ("outage_during_burst", [], ["scale_out"]),
    ],
)
def test_mitigations_are_listed_only_where_they_apply(name, listed, not_listed, scenario_export):
    result = investigate(open_local(scenario_export(name)))
    ids = [m.id for m in result.mitigations]
    assert set(listed) <= set(ids), ids
    assert not set(not_listed) & set(ids), ids
    order = [
        "scale_out",
        "spread_backend_ips",
        "private_endpoint",
        "nat_gateway",
        "rate_limit_by_key",
        "connection_reuse",
        "cache_responses",
    ]
    assert ids == sorted(ids, key=order.index), "in the order a responder would try them"


def test_an_exhausted_azure_backend_gets_a_private_endpoint(incident, tmp_path):
    from dataclasses import replace

    from analysis.synthetic import generate
    from analysis.synthetic.exports import write_parquet

    base = incident("snat_only").scenario
    moved = tuple(
        replace(d, base_url="https://orders.azurewebsites.net") if d.base_url.startswith("https://orders.") else d
        for d in base.destinations
    )
    path = tmp_path / "azure.parquet"
    write_parquet(generate(replace(base, destinations=moved)).logs, path)
    found = {m.id: m for m in investigate(open_local(path)).mitigations}
    assert found["private_endpoint"].destinations == ("orders.azurewebsites.net:443",)


def test_the_sample_rate_limit_names_the_driving_subscriptions(scenario_export):
    result = investigate(open_local(scenario_export("sample")))
    (limit,) = [m for m in result.mitigations if m.id == "rate_limit_by_key"]
    assert "partner-bulk-sync" in limit.reason and "orders-replay-job" in limit.reason
    assert "per subscription" in limit.title
