"""What the explorer narrows to, without widgets or a source: presets, chosen destinations and regions, drill-down."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.explorer import scope
from analysis.investigation.run import Investigation, investigate
from analysis.sources import open_source
from analysis.sources.local import open_local

EXHAUSTED = "orders.contoso-backend.com:443"
HEALTHY = "payments.contoso.com:443"
SAMPLE_RANGE = (pd.Timestamp("2025-02-25 08:30:00.28"), pd.Timestamp("2025-02-25 10:29:59.79"))


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


@pytest.fixture(scope="module")
def two_regions(scenario_export) -> Investigation:
    return investigate(open_local(scenario_export("two_regions_one_exhausted")))


@pytest.mark.parametrize(
    ("name", "start"),
    [("last 1 h", "2025-02-25 09:30"), ("last 6 h", "2025-02-25 08:30"), ("last 24 h", "2025-02-25 08:30")],
)
def test_a_preset_ends_at_the_sources_last_minute_and_never_starts_before_its_first(name, start):
    window = scope.preset_window(name, SAMPLE_RANGE, now=pd.Timestamp("2030-01-01"))
    assert window == (pd.Timestamp(start), pd.Timestamp("2025-02-25 10:30"))


@pytest.mark.parametrize(("name", "hours"), [("last 1 h", 1), ("last 6 h", 6), ("last 24 h", 24)])
def test_a_preset_of_a_source_without_a_time_range_ends_at_the_current_minute(name, hours):
    start, end = scope.preset_window(name, None, now=pd.Timestamp("2025-03-01 12:34:56"))
    assert end == pd.Timestamp("2025-03-01 12:34") and end - start == pd.Timedelta(hours=hours)


def test_an_unknown_preset_is_an_error():
    with pytest.raises(KitError, match="unknown time range 'last week'"):
        scope.preset_window("last week", None, pd.Timestamp("2025-03-01"))


def test_choosing_destinations_keeps_only_them_and_nothing_chosen_keeps_all(found):
    every = [e["destination"] for e in found.findings["destinations"]]
    assert scope.chosen_findings(found.findings, (), ())["destinations"] == found.findings["destinations"]
    kept = scope.chosen_findings(found.findings, [EXHAUSTED, HEALTHY], ())
    assert [e["destination"] for e in kept["destinations"]] == [d for d in every if d in (EXHAUSTED, HEALTHY)]
    minutes = scope.chosen_minutes(found.diagnosis.timeseries, [HEALTHY], ())
    assert set(minutes["destination"]) == {HEALTHY} and len(minutes) > 0
    assert len(scope.chosen_minutes(found.diagnosis.timeseries, (), ())) == len(found.diagnosis.timeseries)


def test_choosing_a_region_keeps_its_destinations_only(two_regions):
    regions = scope.regions_of(two_regions.diagnosis.frame)
    assert len(regions) == 2
    for region in regions:
        kept = scope.chosen_findings(two_regions.findings, (), [region])["destinations"]
        assert kept and {e["region"] for e in kept} == {region}
        minutes = scope.chosen_minutes(two_regions.diagnosis.timeseries, (), [region])
        assert set(minutes["region"]) == {region}
    assert scope.chosen_findings(two_regions.findings, ["no.such.host:443"], ())["destinations"] == []


def test_the_error_breakdown_is_one_destinations_errors_most_first(found):
    errors = scope.error_breakdown(found.errors, EXHAUSTED)
    assert list(errors.columns) == scope.ERROR_COLUMNS
    assert errors["reason"].iloc[0] == "BackendConnectionFailure"
    assert errors["errors"].is_monotonic_decreasing
    assert errors["errors"].sum() == found.errors.loc[found.errors["destination"] == EXHAUSTED, "errors"].sum()
    assert scope.error_breakdown(found.errors, HEALTHY).empty


def test_latency_buckets_are_labelled_by_their_edges():
    latency = pd.DataFrame(
        {"bucket_ms": [30000, 0, 100], "requests": [1, 2, 3], "connection_failures": [1, 0, 0], "timeouts": 0,
         "http_5xx": [1, 0, 0]}
    )  # fmt: skip
    table = scope.latency_table(latency)
    assert table["backend_time"].tolist() == ["0-50 ms", "100-250 ms", "30,000 ms and more"]
    assert table["requests"].tolist() == [2, 3, 1]


def test_the_fingerprint_keys_are_the_destinations_regions(found):
    assert scope.fingerprint_keys(found.fingerprint, EXHAUSTED) == [("West Europe", EXHAUSTED)]
    assert scope.fingerprint_keys(found.fingerprint, "no.such.host:443") == []


def _row(table: pd.DataFrame, label: str) -> dict:
    return table.set_index("setting").loc[label].to_dict()


def test_the_destination_what_if_agrees_with_the_reports_what_if(found):
    """As assumed it replays what the report replays; 3 units and 3 backend IPs give the report's rows."""
    report = found.what_if
    assumed = scope.WhatIfChoice.assumed(found.assumptions)
    table = scope.destination_what_if(found, EXHAUSTED, assumed)
    assert _row(table, "as assumed") == _row(report, "as assumed")
    for choice, label in (
        (scope.WhatIfChoice(3, 1, 1.0, 1024), "3 units"),
        (scope.WhatIfChoice(1, 3, 1.0, 1024), "3 backend IPs"),
        (scope.WhatIfChoice(1, 1, 10.0, 1024), "10 requests per connection"),
    ):
        table = scope.destination_what_if(found, EXHAUSTED, choice)
        assert _row(table, choice.label) == _row(report, label)
    more_ports = scope.destination_what_if(found, EXHAUSTED, scope.WhatIfChoice(1, 1, 1.0, 3072))
    assert (
        _row(more_ports, more_ports["setting"].iloc[1])["peak_utilisation"]
        == _row(report, "3 units")["peak_utilisation"]
    )


def test_a_destination_outside_an_exhausted_pool_replays_its_own_minutes(found):
    minutes, replayed = scope.replayed_minutes(found, HEALTHY)
    assert replayed == "this destination's own minutes" and set(minutes["pool"]) == {"West Europe"}
    table = scope.destination_what_if(found, HEALTHY, scope.WhatIfChoice.assumed(found.assumptions))
    assert table["minutes_over_capacity"].tolist() == [0, 0]
    assert scope.replayed_minutes(found, EXHAUSTED)[1].startswith("the exhausted pool ")


@pytest.mark.parametrize(
    ("choice", "match"),
    [
        (scope.WhatIfChoice(0, 1, 1.0, 1024), "at least 1"),
        (scope.WhatIfChoice(1, 0, 1.0, 1024), "at least 1"),
        (scope.WhatIfChoice(1, 1, 0.5, 1024), "'requests_per_connection' is out of range"),
        (scope.WhatIfChoice(1, 1, 1.0, 0), "'snat_ports' is out of range"),
    ],
)
def test_a_what_if_out_of_range_is_an_error(found, choice, match):
    with pytest.raises(KitError, match=match):
        scope.destination_what_if(found, EXHAUSTED, choice)
