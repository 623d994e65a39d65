"""Incidents under the unknowns: their truth comes from the port model and the timers, whatever the logs
show. Scale-outs, cut exports, windows that end mid-episode, wrong capacity figures, several pools at
once, sampling, and look-alikes under the same unknowns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.synthetic import Caller, Destination, Operation, Region
from analysis.synthetic.diagnostics import newest
from analysis.synthetic.library import UNKNOWNS
from analysis.synthetic.outcomes import REFUSED, RESET
from analysis.synthetic.ports import PORT_HOLD_MINUTES
from analysis.synthetic.traffic import draw_calls
from analysis.synthetic.unknowns import PORTAL_ROW_CAP
from tests.synthetic.test_synthetic_physics import connection_failures, minute_of, rows_of

ORDERS = "orders.contoso-backend.com:443"
INVENTORY = "inventory.azurewebsites.net:443"

#: What physically happens in each scenario (cause per destination) and the verdict a right
#: diagnosis reaches from the logs it is handed.
EXPECTED = {
    "timer_127s": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "timer_spread_15_21": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "short_burst_6min": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "day_midday_batch": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "scale_out_ends_ramp": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "saturated_recovers_under_load": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "two_episodes_one_pool": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "episode_past_window": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "capped_export_30000": (
        {
            ORDERS: "snat_exhaustion",
            INVENTORY: "healthy",
            "payments.contoso.com:443": "healthy",
            "shipping.fabrikam.net:443": "healthy",
        },
        "snat_exhaustion",
    ),
    "capacity_quarter": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "told_4096_ports": (
        {
            ORDERS: "snat_exhaustion",
            "legacy-erp.fabrikam.net:8443": "slow_backend",
            "payments.contoso.com:443": "backend_errors",
            "search.cloudapp.azure.com:443": "backend_unreachable",
            INVENTORY: "healthy",
            "shipping.fabrikam.net:443": "healthy",
        },
        "snat_exhaustion",
    ),
    "several_pools_at_once": (
        {
            ORDERS: "snat_exhaustion",
            "payments.contoso.com:443": "snat_exhaustion",
            "shipping.fabrikam.net:443": "snat_exhaustion",
            INVENTORY: "healthy",
        },
        "snat_exhaustion",
    ),
    "sampled_10_percent_two_episodes": ({ORDERS: "snat_exhaustion", INVENTORY: "healthy"}, "snat_exhaustion"),
    "two_regions_burst_in_one": (
        {
            ("West Europe", ORDERS): "healthy",
            ("North Europe", ORDERS): "snat_exhaustion",
            ("West Europe", INVENTORY): "healthy",
            ("North Europe", INVENTORY): "healthy",
        },
        "snat_exhaustion",
    ),
    "blackhole_127s": (
        {"search.cloudapp.azure.com:443": "backend_unreachable", INVENTORY: "healthy"},
        "no_snat_evidence",
    ),
    "refuses_under_load_127s": (
        {"catalog.fabrikam.net:443": "backend_unreachable", INVENTORY: "healthy"},
        "no_snat_evidence",
    ),
    "slow_keepalive_127s": ({"pricing.contoso.com:443": "slow_backend", INVENTORY: "healthy"}, "no_snat_evidence"),
}


def minute_index(result, minute: int) -> pd.Timestamp:
    return pd.Timestamp(result.scenario.start) + pd.Timedelta(minutes=minute)


@pytest.mark.parametrize("name", sorted(UNKNOWNS))
def test_unknowns_truths(incident, name: str) -> None:
    causes, verdict = EXPECTED[name]
    result = incident(name)
    assert {k: t.cause for k, t in result.truth.items()} == causes
    assert result.expected_verdict == verdict
    for truth in result.truth.values():
        if truth.cause == "snat_exhaustion":
            failing = truth.per_minute.loc[truth.per_minute["failure_share"] > 0]
            assert (failing["demand_attempted"] > failing["capacity"]).all(), "connects fail only past the ports"


# --- capacity changes -----------------------------------------------------------------------------


def test_a_scale_out_spreads_new_calls_and_ends_the_failures(incident) -> None:
    result = incident("scale_out_ends_ramp")
    (pool,) = [p for p in result.pools.values() if p.exhausted]
    minute = result.scenario.gateway_regions[0].scale_out[0][0]
    assert pool.units == 3 and pool.exhausted_units == (0,)
    assert (pool.demand[1:, :minute] == 0).all(), "the new units carry nothing before they exist"
    after = pool.demand[:, minute + PORT_HOLD_MINUTES : minute + 15]
    assert (after.min(axis=0) > 0.25 * after.sum(axis=0)).all(), "new calls spread over the three units"
    assert (pool.held[:, minute:] <= pool.capacity_per_unit).all()
    truth = result.truth[ORDERS]
    ((onset, recovery),) = truth.episodes
    assert recovery == minute_index(result, minute), "failures stop when the units arrive"
    requests = truth.per_minute["backend_requests"]
    assert requests.iloc[minute : minute + 15].mean() >= 0.95 * requests.iloc[minute - 5 : minute].mean(), (
        "the load stays as high"
    )
    assert (truth.per_minute["scenario_connection_failures"].iloc[minute:] == 0).all()


def test_long_lived_client_connections_stay_on_their_unit_after_a_scale_out() -> None:
    op = (Operation("a", "a", "get", "GET", "/x"),)
    callers = (Caller("devices", "20.61.1.1", "p"), Caller("job", "52.1.2.3", "p", connections=2))
    region = Region("West Europe", 2, scale_out=((10, 4),))
    calls = draw_calls(
        Destination("https://a.example.com", op, 400.0), 20, callers, 2, (region,), np.random.default_rng(5)
    )
    late = calls.minute >= 10
    job, devices = calls.caller == 1, calls.caller == 0
    assert set(calls.unit[job & ~late]) == set(calls.unit[job & late]) <= {0, 1}, "the job keeps its units"
    assert set(calls.unit[devices & ~late]) == {0, 1} and set(calls.unit[devices & late]) == {0, 1, 2, 3}
    shares = np.bincount(calls.unit[devices & late], minlength=4) / (devices & late).sum()
    assert (np.abs(shares - 0.25) < 0.05).all(), "new devices spread evenly"


def test_a_quarter_of_the_assumed_ports_fails_at_a_quarter_of_the_demand(incident) -> None:
    result = incident("capacity_quarter")
    truth = result.truth[ORDERS]
    frame = truth.per_minute
    assert (frame["capacity"] == 256).all() and result.scenario.assumptions.snat_ports is None
    assert 256 < truth.peak_demand < 0.6 * 1024, "the demand never reaches the kit's default 1,024"
    first = frame.index[frame["failure_share"] > 0][0]
    assert first == truth.onset and frame.loc[first, "demand_attempted"] > 256
    before = frame.loc[: first - pd.Timedelta(minutes=1)]
    assert before["demand_attempted"].max() <= 256 and truth.peak_held == 256


def test_a_user_may_state_a_wrong_capacity(incident) -> None:
    result = incident("told_4096_ports")
    assert result.scenario.assumptions.snat_ports == 4096 and result.scenario.snat_ports == 1024
    truth = result.truth[ORDERS]
    assert 1024 < truth.peak_demand < 4096 and truth.peak_held == 1024
    document = json.loads(result.truth_json())
    assert document["assumptions"]["snat_ports"] == 4096 and document["snat_ports_per_instance"] == 1024


# --- cut data and windows ---------------------------------------------------------------------------


def test_a_capped_export_keeps_the_newest_rows_newest_first(incident) -> None:
    result = incident("capped_export_30000")
    logs, everything = result.logs, result.all_requests
    assert len(logs) == PORTAL_ROW_CAP < len(everything)
    assert logs["TimeGenerated"].is_monotonic_decreasing
    assert logs["TimeGenerated"].min() >= everything["TimeGenerated"].nlargest(PORTAL_ROW_CAP).min()
    assert logs["TimeGenerated"].max() == everything["TimeGenerated"].max()
    covered = result.facts.logged
    assert (covered.rows, covered.first, covered.last) == (
        len(logs),
        logs["TimeGenerated"].min(),
        logs["TimeGenerated"].max(),
    )
    truth = result.truth[ORDERS]
    ((onset, recovery),) = truth.episodes
    assert onset + pd.Timedelta(minutes=5) < covered.first < recovery, "the data starts inside the episode"
    assert truth.observed == ((False, True),) and truth.onset_observed is False
    inside = rows_of(result, ORDERS, logs=logs)
    assert len(connection_failures(inside)) > 100, "the cut keeps failures from the episode's middle"
    document = json.loads(result.truth_json())
    assert document["logged"]["rows"] == PORTAL_ROW_CAP and document["logging"]["export_row_cap"] == PORTAL_ROW_CAP
    assert document["destinations"][ORDERS]["episodes_observed"] == [{"onset": False, "recovery": True}]


def test_a_cap_larger_than_the_logs_keeps_them_all_newest_first(incident) -> None:
    logs = incident("snat_only").logs
    kept = newest(logs, len(logs) + 1)
    assert len(kept) == len(logs) and kept["TimeGenerated"].is_monotonic_decreasing
    assert newest(logs, None) is logs


def test_an_episode_past_the_window_never_recovers_in_it(incident) -> None:
    result = incident("episode_past_window")
    truth = result.truth[ORDERS]
    ((onset, recovery),) = truth.episodes
    assert recovery is None and truth.recovery is None and truth.incident_end is None
    assert truth.observed == ((True, False),)
    last = truth.per_minute.iloc[-1]
    assert last["failure_share"] > 0.1 and last["scenario_connection_failures"] > 0
    document = json.loads(result.truth_json())["destinations"][ORDERS]
    assert document["recovery"] is None and document["episodes"][0][1] is None


def test_the_two_region_window_ends_shortly_after_the_recovery(incident) -> None:
    result = incident("two_regions_burst_in_one")
    north = result.truth_at("North Europe", ORDERS)
    ((onset, recovery),) = north.episodes
    end = minute_index(result, result.scenario.duration_minutes)
    assert recovery is not None and pd.Timedelta(minutes=2) <= end - recovery <= pd.Timedelta(minutes=5)
    assert north.observed == ((True, True),)
    assert connection_failures(rows_of(result, ORDERS, "West Europe")).empty


# --- shapes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "episodes"), [("two_episodes_one_pool", 2), ("sampled_10_percent_two_episodes", 2)])
def test_bursts_far_apart_are_two_episodes(incident, name: str, episodes: int) -> None:
    result = incident(name)
    truth = result.truth[ORDERS]
    assert len(truth.episodes) == episodes
    (first_end, second_start) = (truth.episodes[0][1], truth.episodes[1][0])
    assert second_start - first_end > pd.Timedelta(minutes=2 * PORT_HOLD_MINUTES)
    between = truth.per_minute.loc[first_end : second_start - pd.Timedelta(minutes=1)]
    assert (between["failure_share"] == 0).all()
    assert between["held"].min() < 0.5 * between["capacity"].iloc[0], "the pool drains between the bursts"


def test_sampling_logs_every_failure_of_both_episodes(incident) -> None:
    result = incident("sampled_10_percent_two_episodes")
    full, kept = result.all_requests, result.logs
    failed = ~full["IsRequestSuccess"].astype(bool)
    assert (~kept["IsRequestSuccess"].astype(bool)).sum() == failed.sum()
    assert 0.09 < kept["IsRequestSuccess"].astype(bool).sum() / (~failed).sum() < 0.11
    for onset, recovery in result.truth[ORDERS].episodes:
        rows = rows_of(result, ORDERS, logs=kept)
        inside = connection_failures(rows[(rows["TimeGenerated"] >= onset) & (rows["TimeGenerated"] < recovery)])
        assert len(inside) > 300


def test_a_six_minute_burst_fails_until_its_first_ports_come_back(incident) -> None:
    result = incident("short_burst_6min")
    truth = result.truth[ORDERS]
    (burst,) = result.scenario.destinations[0].bursts
    ((onset, recovery),) = truth.episodes
    assert minute_index(result, burst.start_minute) < onset
    assert recovery <= minute_index(result, burst.end_minute)
    failing = minute_of(connection_failures(rows_of(result, ORDERS))).unique()
    assert all(onset <= m < recovery for m in failing), "every failure lies in the episode"
    quiet = truth.per_minute.drop(truth.per_minute.index[burst.start_minute : burst.end_minute + PORT_HOLD_MINUTES])
    assert (quiet["demand_attempted"] < 0.5 * quiet["capacity"]).all()


def test_a_midday_batch_is_one_episode_in_a_quiet_day(incident) -> None:
    result = incident("day_midday_batch")
    truth = result.truth[ORDERS]
    ((onset, recovery),) = truth.episodes
    assert onset.hour == 12 and recovery - onset <= pd.Timedelta(minutes=45)
    assert truth.per_minute["demand_attempted"].median() < 0.1 * 1024 < 1024 < truth.peak_demand


def test_several_pools_run_out_in_the_same_burst(incident) -> None:
    result = incident("several_pools_at_once")
    exhausted = [p for p in result.pools.values() if p.exhausted]
    assert len(exhausted) == 3 and len({p.key.ip for p in exhausted}) == 3
    assert all(len(p.members) == 1 for p in exhausted)
    onsets = [result.truth[p.members[0]].onset for p in exhausted]
    assert max(onsets) - min(onsets) <= pd.Timedelta(minutes=3)
    assert result.truth[INVENTORY].peak_demand < 0.05 * 1024


# --- look-alikes under the same unknowns ----------------------------------------------------------


def test_a_blackholed_backend_on_linux_fails_at_127_seconds_at_any_load(incident) -> None:
    result = incident("blackhole_127s")
    key = "search.cloudapp.azure.com:443"
    failed = connection_failures(rows_of(result, key))
    assert len(failed) > 300 and failed["LastErrorElapsed"].between(127_000, 127_200).all()
    truth = result.truth[key]
    assert truth.peak_demand < 0.05 * 1024 and (truth.per_minute["failure_share"] == 0).all()


def test_a_refusing_backend_on_linux_fails_in_milliseconds(incident) -> None:
    result = incident("refuses_under_load_127s")
    failed = connection_failures(rows_of(result, "catalog.fabrikam.net:443"))
    assert len(failed) > 1000 and failed["LastErrorElapsed"].max() < 1000
    assert set(failed["LastErrorMessage"]) == {REFUSED, RESET}


def test_a_slow_keep_alive_backend_answers_every_call_late(incident) -> None:
    result = incident("slow_keepalive_127s")
    key = "pricing.contoso.com:443"
    rows = rows_of(result, key)
    assert connection_failures(rows).empty and (rows["LastErrorReason"] == "").all()
    truth = result.truth[key]
    window = result.scenario.destinations[0].window
    slow = rows[
        minute_of(rows).between(minute_index(result, window.start_minute), minute_index(result, window.end_minute - 1))
    ]
    assert slow["BackendTime"].median() > 15_000 and slow["BackendResponseCode"].notna().all()
    assert truth.peak_demand < 0.4 * truth.per_minute["capacity"].iloc[0]
