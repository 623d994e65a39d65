"""Every packaged query returns at most one row per destination (or per key it groups by) and minute,
whatever the request rate: on Log Analytics a day of a busy instance stays far under the 500,000-row
cut, and the rows a query returns depend on the window, never on the traffic."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from analysis.query import pack
from analysis.sources.local import open_local
from analysis.synthetic import Noise, generate
from analysis.synthetic.exports import write_parquet
from analysis.synthetic.library import scenario

DAY = 1440
#: Requests per minute and destination; the busy day has ten times the quiet day's.
RATES = {"quiet": 4.0, "busy": 40.0}
#: Result rows per (destination or key) a query may return for one day, by query.
LIMIT_PER_KEY = {
    "calls_by_key": DAY,
    "destination_health": DAY,
    "destination_inventory": 1,
    "error_breakdown": 1,
    "failure_fingerprint": 1,
    "instances": 1,
    "latency_distribution": 10,
    "load_drivers": 1,
    "logged_requests": 1,
    "request_rows": 1,
    "sampling": 1,
}
KEYS = {
    "calls_by_key": ["key_kind", "key"],
    "destination_health": ["destination"],
    "destination_inventory": ["destination"],
    "error_breakdown": ["destination", "reason", "source", "section"],
    "failure_fingerprint": ["region", "destination", "reason", "source", "answered", "elapsed_s"],
    "instances": ["instance", "region"],
    "latency_distribution": [],
    "load_drivers": ["key_kind", "key"],
    "logged_requests": ["minute"],
    "request_rows": ["CorrelationId"],
    "sampling": ["item_count"],
}


@pytest.fixture(scope="module")
def day_results(tmp_path_factory) -> dict[str, dict[str, pd.DataFrame]]:
    """Every packaged query over the same day of traffic at both rates."""
    template = scenario("no_incident")
    window = {"start": pd.Timestamp(template.start), "end": pd.Timestamp(template.start) + pd.Timedelta(days=1)}
    folder = tmp_path_factory.mktemp("rates")
    results: dict[str, dict[str, pd.DataFrame]] = {}
    for label, rate in RATES.items():
        destinations = tuple(replace(d, baseline_rpm=rate, bursts=()) for d in template.destinations[:2])
        day = replace(
            template, duration_minutes=DAY, destinations=destinations, noise=Noise(isolated_failure_rate=0.002)
        )
        path = folder / f"{label}.parquet"
        write_parquet(generate(day).logs, path)
        source = open_local(path)
        try:
            results[label] = {q.name: source.run(q.render(window)) for q in pack.packaged()}
        finally:
            source.close()
    return results


def test_the_bounds_cover_every_packaged_query():
    assert set(LIMIT_PER_KEY) == set(KEYS) == {q.name for q in pack.packaged()}


@pytest.mark.parametrize("name", sorted(LIMIT_PER_KEY))
def test_rows_stay_within_the_bound_per_key_at_any_rate(day_results, name):
    for label in RATES:
        result = day_results[label][name]
        assert not result.empty, (name, label)
        per_key = result.groupby(KEYS[name]).size() if KEYS[name] else pd.Series([len(result)])
        assert per_key.max() <= LIMIT_PER_KEY[name], (name, label)


@pytest.mark.parametrize("name", sorted(LIMIT_PER_KEY))
def test_ten_times_the_requests_gives_no_more_rows(day_results, name):
    """Raw rows would grow tenfold; aggregates stay put (a quiet minute with no request aside)."""
    quiet, busy = (day_results[label][name] for label in RATES)
    if "requests" in busy:
        assert busy["requests"].sum() > 8 * quiet["requests"].sum()
    assert len(busy) < 1.5 * len(quiet)
