"""The generator's physics: SNAT pools per region, IP and unit; demand from concurrency and the hold;
the port model, where a failed connect holds no port; the SYN schedules and connect budgets; what
running out of ports (and each look-alike) looks like in the rows; what the logging setting keeps;
and the internal consistency of every scenario's truth."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.synthetic import Behaviour, Incident, generate, ports
from analysis.synthetic.exports import to_azure_diagnostics
from analysis.synthetic.library import ALL, ESTATES, HOLDOUT, SCENARIOS, UNKNOWNS, scenario
from analysis.synthetic.outcomes import ATTEMPT_FAILED, REFUSED, RESET, TRANSPORT_CLOSED, UNABLE_TO_CONNECT
from analysis.synthetic.ports import LINUX, PORT_HOLD_MINUTES, WINDOWS, SynSchedule
from analysis.synthetic.truth import CLASSIFICATIONS, VERDICTS
from analysis.synthetic.truth_document import json_key

CONNECT_MS = 21_000
SNAT_MESSAGES = {ATTEMPT_FAILED, UNABLE_TO_CONNECT}


def destination_of(logs: pd.DataFrame) -> pd.Series:
    parts = logs["BackendUrl"].str.extract(r"^(https?)://([^/:?]+)(?::(\d+))?")
    return parts[1].str.lower() + ":" + parts[2].fillna(parts[0].map({"https": "443", "http": "80"}))


def rows_of(
    incident: Incident, destination: str, region: str | None = None, logs: pd.DataFrame | None = None
) -> pd.DataFrame:
    frame = incident.all_requests if logs is None else logs
    mask = destination_of(frame) == destination
    if region is not None:
        mask &= frame["Region"] == region
    return frame[mask]


def minute_of(rows: pd.DataFrame) -> pd.Series:
    return rows["TimeGenerated"].dt.floor("min")


def connection_failures(rows: pd.DataFrame) -> pd.DataFrame:
    """Forwarded requests that got no backend answer."""
    return rows[
        (rows["LastErrorSource"] == "forward-request")
        & rows["BackendResponseCode"].isna()
        & (rows["LastErrorReason"] != "")
    ]


# --- pools: ports per destination IP and port, per region, per unit ------------------------------


def test_hosts_on_one_ip_share_one_pool(incident) -> None:
    result = incident("app_service_shared_ip")
    apps = [k for k in result.truth if k.endswith(".azurewebsites.net:443")]
    (pool,) = [p for p in result.pools.values() if len(p.members) > 1]
    assert sorted(pool.members) == sorted(apps) and pool.units == 1
    own = sum(result.truth[k].per_minute["own_demand"].to_numpy() for k in apps)
    np.testing.assert_allclose(pool.demand[0], own, rtol=1e-9, err_msg="pool demand is the sum of its hosts'")
    capacity = pool.capacity_per_unit
    for key in apps:
        truth = result.truth[key]
        assert truth.per_minute["own_demand"].max() < capacity / 2, "each alone needs under half the ports"
        assert truth.cause == "snat_exhaustion" and truth.pools == (pool.key,)
    assert pool.peak_demand > capacity and pool.exhausted
    assert result.expected_verdict == "snat_exhaustion"


def test_ip_map_lists_every_host_and_ip(incident, scenario_ip_map) -> None:
    result = incident("app_service_shared_ip")
    path = scenario_ip_map("app_service_shared_ip")
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[0] == "host,ip"
    mapping = pd.read_csv(path, dtype=str)
    assert set(mapping["host"]) == {k.rsplit(":", 1)[0] for k in result.truth}
    apps = mapping[mapping["host"].str.endswith(".azurewebsites.net")]
    assert apps["ip"].nunique() == 1 and len(apps) == 3
    spread = incident("holdout_two_ips_spread").ip_map()
    assert len(spread[spread["host"] == "api.contoso-global.com"]) == 2


def test_a_host_on_two_ips_splits_its_demand(incident) -> None:
    result = incident("holdout_two_ips_spread")
    host = "api.contoso-global.com:443"
    pools = [result.pools[p] for p in result.truth[host].pools]
    assert len(pools) == 2
    total = sum(p.demand[0] for p in pools)
    assert total.max() > 1.4 * pools[0].capacity_per_unit, "one IP alone would have run out"
    assert all(p.peak_demand < p.capacity_per_unit for p in pools)
    assert result.truth[host].cause == "healthy"
    assert connection_failures(rows_of(result, host)).empty


def test_regions_have_their_own_ports(incident) -> None:
    result = incident("two_regions_one_exhausted")
    host = "orders.contoso-backend.com:443"
    north, west = result.truth_at("North Europe", host), result.truth_at("West Europe", host)
    assert result.truth[("North Europe", host)] is north
    assert north.cause == "snat_exhaustion" and west.cause == "healthy"
    assert west.peak_demand < west.per_minute["capacity"].iloc[0] < north.peak_demand
    assert north.pools[0] != west.pools[0] and north.pools[0].ip == west.pools[0].ip
    assert connection_failures(rows_of(result, host, "West Europe")).empty
    assert len(connection_failures(rows_of(result, host, "North Europe"))) > 500
    assert set(result.logs["Region"]) == {"West Europe", "North Europe"}
    legacy = to_azure_diagnostics(result.logs)
    assert set(legacy["Region_s"]) == {"West Europe", "North Europe"}


def test_one_unit_runs_out_while_the_region_has_ports(incident) -> None:
    result = incident("sample_three_units")
    (pool,) = [p for p in result.pools.values() if p.exhausted]
    assert pool.units == 3 and len(pool.exhausted_units) == 1
    assert pool.peak_demand > pool.capacity_per_unit
    assert pool.peak_region_demand < pool.units * pool.capacity_per_unit
    assert result.scenario.assumptions.units == 3
    assert result.truth["orders.contoso-backend.com:443"].cause == "snat_exhaustion"


# --- demand from concurrency and the hold -------------------------------------------------------


def test_a_slow_backend_exhausts_ports_at_a_constant_rate(incident) -> None:
    result = incident("slow_backend_keepalive")
    truth = result.truth["pricing.contoso.com:443"]
    frame = truth.per_minute
    window = result.scenario.destinations[0].window
    requests = frame["backend_requests"]
    assert requests.max() < 1.3 * requests.min(), "the request rate does not rise"
    slow = frame.iloc[window.start_minute + 1 : window.end_minute]
    before = frame.iloc[: window.start_minute]
    assert slow["concurrency"].min() > 50 * before["concurrency"].max()
    assert before["demand_attempted"].max() < truth.per_minute["capacity"].iloc[0] < slow["demand_attempted"].min()
    assert truth.cause == "snat_exhaustion"
    assert (
        window.start_minute
        <= (truth.onset - pd.Timestamp(result.scenario.start)) / pd.Timedelta(minutes=1)
        <= window.start_minute + 1
    )
    held = (truth.recovery - pd.Timestamp(result.scenario.start)) / pd.Timedelta(minutes=1) - window.end_minute
    assert 0 < held <= PORT_HOLD_MINUTES + 2, (
        "idle connections closing after the slowdown hold their ports up to 4 minutes"
    )


def test_failures_start_only_after_the_pool_runs_out(incident) -> None:
    for name in (
        "app_service_shared_ip",
        "two_regions_one_exhausted",
        "sample_three_units",
        "forward_timeout_10s",
        "sample_day",
    ):
        result = incident(name)
        for truth in result.truth.values():
            if truth.behaviour != Behaviour.SNAT:
                continue
            rows = rows_of(result, truth.destination, truth.region)
            failing = minute_of(connection_failures(rows)).unique()
            demand = truth.per_minute["demand_attempted"].reindex(failing)
            assert (demand > truth.per_minute["capacity"].iloc[0]).all(), (name, truth.key)


def test_day_has_twelve_episodes(incident) -> None:
    result = incident("sample_day")
    truth = result.truth["orders.contoso-backend.com:443"]
    assert len(truth.episodes) == 12
    starts = [s for s, _ in truth.episodes]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(pd.Timedelta(minutes=110) < gap < pd.Timedelta(minutes=130) for gap in gaps)
    assert truth.onset == truth.episodes[0][0] and truth.recovery == truth.episodes[-1][1]
    assert len(result.logs) < 300_000


# --- the port model: a failed connect holds no port ----------------------------------------------


def test_a_steady_saturation_fails_the_share_the_attempted_demand_gives() -> None:
    # 1,024 ports, filled at their release rate (256 connects a minute), then 400 a minute for an hour.
    closed = np.array([256.0] * 4 + [400.0] * 60)
    model = ports.held_ports(np.zeros_like(closed), closed, 1024)
    attempted = ports.port_demand(np.zeros_like(closed), closed)
    steady = slice(8, None)
    np.testing.assert_allclose(attempted[steady], 1600.0)
    np.testing.assert_allclose(model.failing[steady], 1 - 1024 / 1600, err_msg="f = (D - C) / D")
    np.testing.assert_allclose(model.held[steady], 1024.0)


def test_failures_stop_once_connects_arrive_slower_than_ports_come_back() -> None:
    # Worked by hand: saturated at 400 connects a minute on 1,024 ports, 256 of them got a port
    # each minute; at minute 8 the connects fall to 200 a minute (under 1,024 / 4 = 256 released):
    # 200 + 3 x 256 = 968 ports asked, so none fails, while the attempted demand (every connect
    # of the hold, failed ones included) is 1,400 then 1,200 and stays above the ports.
    closed = np.array([256.0] * 4 + [400.0] * 4 + [200.0] * 4)
    model = ports.held_ports(np.zeros_like(closed), closed, 1024)
    attempted = ports.port_demand(np.zeros_like(closed), closed)
    np.testing.assert_allclose(model.failing[4:8], 0.36)
    assert (model.failing[8:] == 0).all()
    np.testing.assert_allclose(model.asked[8:11], [968.0, 912.0, 856.0])
    np.testing.assert_allclose(attempted[8:11], [1400.0, 1200.0, 1000.0])
    assert (ports.port_demand(0 * closed, closed)[8:10] > 1024).all(), "the old band still over the ports"


def test_ports_taken_together_come_back_together_one_hold_later() -> None:
    # 600 connects a minute on 1,024 ports: the second minute fills the pool (176 of 600 fail),
    # the next two find almost nothing free, and the fifth gets back the 600 ports of the first
    # (only 60 of its connects fail): the fill echoes every hold, around the steady share.
    closed = np.full(13, 600.0)
    model = ports.held_ports(np.zeros_like(closed), closed, 1024)
    np.testing.assert_allclose(model.failing[:5], [0.0, 176 / 600, 0.95, 0.95, 0.1])
    np.testing.assert_allclose(model.failing[1:5], model.failing[5:9])
    np.testing.assert_allclose(model.failing[1:13].mean(), 1 - 1024 / 2400, atol=0.01)


def test_cells_are_independent_and_vectorised() -> None:
    one = ports.held_ports([0.0] * 6, [300.0] * 6, 1024)
    two = ports.held_ports(np.zeros((2, 6)), np.array([[300.0] * 6, [100.0] * 6]), 1024)
    np.testing.assert_array_equal(two.failing[0], one.failing)
    assert (two.failing[1] == 0).all() and two.held.shape == (2, 6)


def test_saturated_pool_recovers_while_the_attempted_band_is_still_over(incident) -> None:
    result = incident("saturated_recovers_under_load")
    truth = result.truth["orders.contoso-backend.com:443"]
    frame = truth.per_minute
    (burst,) = result.scenario.destinations[0].bursts
    ((onset, recovery),) = truth.episodes
    assert recovery == frame.index[burst.end_minute], "failures stop with the load, not when the band falls"
    after = frame.iloc[burst.end_minute : burst.end_minute + 25]
    assert (after["failure_share"] == 0).all() and (after["scenario_connection_failures"] == 0).all()
    capacity = frame["capacity"].iloc[0]
    assert (after["demand_attempted"].iloc[:3] > capacity).all(), "the attempts of the hold are still over"
    release = capacity / PORT_HOLD_MINUTES
    assert 0.8 * release < after["backend_requests"].mean() < release, "the load stays just under the release rate"
    during = frame.loc[onset : recovery - pd.Timedelta(minutes=1)]
    np.testing.assert_allclose(during["held"], capacity)


def test_no_pool_holds_more_ports_than_it_has(incident) -> None:
    names = ("sample", "two_exhausted", "slow_backend_keepalive", "sample_three_units", "capacity_quarter")
    for name in (*names, "short_burst_6min", "saturated_recovers_under_load", "scale_out_ends_ramp"):
        for pool in incident(name).pools.values():
            assert pool.peak_held <= pool.capacity_per_unit + 1e-6, (name, pool.key)
            assert (pool.held <= pool.demand + 1e-6).all(), "failed connects hold nothing"


# --- timers: the SYN schedule and the connect budget --------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "retries", "give_up"),
    [
        (WINDOWS, (3_000, 9_000), 21_000),
        (LINUX, (1_000, 3_000, 7_000, 15_000, 31_000, 63_000), 127_000),
        (SynSchedule(0.5, 3), (500, 1_500, 3_500), 7_500),
    ],
)
def test_syn_schedules_double_and_give_up_after_the_last_wait(
    schedule: SynSchedule, retries: tuple[int, ...], give_up: int
) -> None:
    assert schedule.retry_ms == retries and schedule.give_up_ms == give_up
    assert schedule.syns == len(retries) + 1


def test_a_schedule_needs_a_retransmission_and_a_budget_past_the_last() -> None:
    with pytest.raises(KitError):
        SynSchedule(1.0, 0)
    with pytest.raises(KitError, match="last SYN retransmission"):
        replace(scenario("snat_only"), connect_timeout_spread_s=12.5)
    with pytest.raises(KitError):
        replace(scenario("snat_only"), syn_schedule=LINUX, connect_timeout_spread_s=64.5)


@pytest.mark.parametrize("syns", [3, 7])
def test_every_syn_is_dropped_for_exactly_the_failing_share(syns: int) -> None:
    failing = np.array([0.05, 0.3, 0.6, 0.95])
    drops = ports.syn_drop_probabilities(failing, np.ones(4), np.full(4, 1.5), syns)
    assert drops.shape == (4, syns)
    np.testing.assert_allclose(drops.prod(axis=1), failing)
    near = ports.syn_drop_probabilities(np.zeros(1), np.ones(1), np.array([0.95]), syns)
    assert near[0, -1] == 0 and (near[0, :-1] > 0).all(), "below capacity the last SYN always gets through"


def test_a_linux_platform_fails_connects_at_127_seconds(incident) -> None:
    result = incident("timer_127s")
    rows = rows_of(result, "orders.contoso-backend.com:443")
    failed = connection_failures(rows)
    assert len(failed) > 500 and set(failed["LastErrorReason"]) == {"BackendConnectionFailure"}
    assert failed["LastErrorElapsed"].between(127_000, 127_200).all()
    answered = rows[rows["BackendResponseCode"].notna()]
    late = answered.loc[answered["BackendTime"] >= 1_000, "BackendTime"]
    delay = np.array(LINUX.retry_ms)
    nearest = delay[np.searchsorted(delay, late.to_numpy(), side="right") - 1]
    assert ((late - nearest) < 1_000).all(), "a late call waited for one of the SYN retransmissions"
    assert set(np.unique(nearest)) == set(delay), "every retransmission delay occurs"


def test_a_connect_budget_that_varies_spreads_the_failures(incident) -> None:
    result = incident("timer_spread_15_21")
    failed = connection_failures(rows_of(result, "orders.contoso-backend.com:443"))
    elapsed = failed["LastErrorElapsed"]
    assert len(failed) > 1000 and elapsed.between(15_000, 21_060).all()
    seconds = (elapsed // 1000).clip(upper=20).value_counts(normalize=True)
    assert set(seconds.index) == {15, 16, 17, 18, 19, 20}
    assert seconds.between(0.1, 0.25).all(), "uniform over the six seconds"
    assert result.scenario.connect_timeout_s == 21


# --- what running out of ports looks like -------------------------------------------------------


def test_snat_failures_wait_for_the_connect_timeout(incident) -> None:
    result = incident("snat_only")
    failed = connection_failures(rows_of(result, "orders.contoso-backend.com:443"))
    assert len(failed) > 1000
    assert set(failed["LastErrorReason"]) == {"BackendConnectionFailure"}
    assert set(failed["LastErrorMessage"]) == SNAT_MESSAGES
    elapsed = failed["LastErrorElapsed"]
    assert elapsed.between(CONNECT_MS, CONNECT_MS + 200).all(), "no 20 ms refusals: a dropped SYN waits ~21 s"
    assert (failed["ResponseCode"] == 500).all() and failed["BackendResponseCode"].isna().all()
    answered = rows_of(result, "orders.contoso-backend.com:443")
    answered = answered[answered["BackendResponseCode"].notna()]
    late = answered["BackendTime"] >= 3000
    assert late.sum() > 100, "calls whose SYN was retransmitted connect 3 or 9 s late"


def test_a_shorter_forward_timeout_logs_dropped_syns_as_timeout(incident) -> None:
    result = incident("forward_timeout_10s")
    failed = connection_failures(rows_of(result, "orders.contoso-backend.com:443"))
    assert len(failed) > 1000
    assert set(failed["LastErrorReason"]) == {"Timeout"}
    assert failed["LastErrorElapsed"].between(10_000, 10_200).all()
    assert failed["BackendResponseCode"].isna().all() and (failed["ResponseCode"] == 500).all()


def test_clients_that_give_up_first_are_client_connection_failures(incident) -> None:
    result = incident("holdout_clients_give_up")
    failed = connection_failures(rows_of(result, "orders.northwind.com:443"))
    client = failed[failed["LastErrorReason"] == "ClientConnectionFailure"]
    assert len(client) > 50 and set(client["ApimSubscriptionId"]) == {"mobile-app-prod"}
    assert client["LastErrorElapsed"].between(15_000, 15_200).all() and (client["ResponseCode"] == 0).all()
    others = failed[failed["LastErrorReason"] == "BackendConnectionFailure"]
    assert others["LastErrorElapsed"].between(CONNECT_MS, CONNECT_MS + 200).all()
    assert "mobile-app-prod" not in set(others["ApimSubscriptionId"])


def test_pooled_calls_still_succeed_while_ports_run_out(incident) -> None:
    result = incident("slow_backend_keepalive")
    truth = result.truth["pricing.contoso.com:443"]
    rows = rows_of(result, "pricing.contoso.com:443")
    during = rows[(rows["TimeGenerated"] >= truth.onset) & (rows["TimeGenerated"] < truth.recovery)]
    share = len(connection_failures(during)) / len(during)
    assert 0.02 < share < 0.5, "most calls ride an open pooled connection"


# --- look-alikes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("refuses_under_load", "catalog.fabrikam.net:443"),
        ("holdout_refused_higher_load", "quotes.contoso-insurance.com:443"),
    ],
)
def test_refusing_backend_fails_fast_with_few_ports(incident, name: str, host: str) -> None:
    result = incident(name)
    truth = result.truth[host]
    failed = connection_failures(rows_of(result, host))
    assert len(failed) > 1000
    assert failed["LastErrorElapsed"].max() < 1000, "refused or reset in milliseconds"
    assert set(failed["LastErrorMessage"]) == {REFUSED, RESET}
    assert truth.peak_demand < 0.1 * truth.per_minute["capacity"].iloc[0]
    assert truth.cause == "backend_unreachable"
    rate = truth.per_minute["backend_requests"]
    knee = result.scenario.destinations[0].overload_rpm
    failing = minute_of(failed).value_counts().reindex(rate.index, fill_value=0)
    assert (failing[rate < 0.9 * knee] == 0).all() and (failing[rate > 1.2 * knee] > 0).all(), (
        "failures follow the load"
    )


def test_unreachable_kinds_fail_at_any_load(incident) -> None:
    result = incident("unreachable_kinds")
    blackholed = connection_failures(rows_of(result, "search.cloudapp.azure.com:443"))
    unresolved = connection_failures(rows_of(result, "shipping.fabrikam.net:443"))
    assert blackholed["LastErrorElapsed"].between(CONNECT_MS, CONNECT_MS + 200).all()
    assert unresolved["LastErrorElapsed"].max() < 1000
    for key, failed in (("search.cloudapp.azure.com:443", blackholed), ("shipping.fabrikam.net:443", unresolved)):
        truth = result.truth[key]
        assert truth.peak_demand < 0.05 * truth.per_minute["capacity"].iloc[0]
        inside = rows_of(result, key)
        inside = inside[(inside["TimeGenerated"] >= truth.onset) & (inside["TimeGenerated"] < truth.recovery)]
        assert len(failed) / len(inside) > 0.95


def test_side_call_failures_belong_to_another_destination(incident) -> None:
    result = incident("side_call_failures")
    rows = rows_of(result, "payments.contoso.com:443")
    side = rows[rows["LastErrorSource"] == "send-request"]
    assert len(side) == result.facts.side_call_failures["login.fabrikam-idp.com:443"] > 500
    assert (side["LastErrorSection"] == "inbound").all() and side["BackendTime"].isna().all()
    assert (side["LastErrorReason"] == "BackendConnectionFailure").all()
    assert connection_failures(rows).empty
    assert result.truth["payments.contoso.com:443"].cause == "healthy"


def test_idle_cut_near_240_seconds_is_a_slow_backend(incident) -> None:
    result = incident("idle_cut")
    failed = connection_failures(rows_of(result, "reports.contoso.com:443"))
    assert len(failed) > 10
    assert failed["LastErrorElapsed"].between(240_000, 241_000).all()
    assert set(failed["LastErrorMessage"]) == {TRANSPORT_CLOSED}
    assert result.truth["reports.contoso.com:443"].cause == "slow_backend"


# --- logging settings and exports ---------------------------------------------------------------


def test_sampling_keeps_every_error_and_a_share_of_successes(incident) -> None:
    result = incident("sampled_20_percent")
    full, kept = result.all_requests, result.logs
    failed = ~full["IsRequestSuccess"].astype(bool)
    assert (~kept["IsRequestSuccess"].astype(bool)).sum() == failed.sum()
    ratio = kept["IsRequestSuccess"].astype(bool).sum() / (~failed).sum()
    assert 0.19 < ratio < 0.21
    assert result.scenario.assumptions.log_sampling_percent == result.scenario.logging.sampling_percent == 20
    assert result.expected_verdict == "snat_exhaustion"


def test_error_verbosity_logs_no_success_and_cannot_tell(incident) -> None:
    result = incident("error_only_logging")
    assert not result.logs["IsRequestSuccess"].astype(bool).any()
    assert len(result.logs) == (~result.all_requests["IsRequestSuccess"].astype(bool)).sum()
    assert result.expected_verdict == "insufficient_data"
    assert any("verbosity" in m for m in result.facts.missing)
    assert {t.classification for t in result.truth.values()} == {"unknown"}
    assert result.truth["orders.contoso-backend.com:443"].cause == "snat_exhaustion"


def test_projected_export_cannot_tell(incident) -> None:
    result = incident("three_columns_export")
    assert list(result.logs.columns) == ["TimeGenerated", "BackendUrl", "ResponseCode"]
    assert sorted(to_azure_diagnostics(result.logs).columns) == ["TimeGenerated", "backendUrl_s", "responseCode_d"]
    assert len(result.logs) == len(incident("sample").logs)
    assert result.facts.missing == ("column LastErrorReason", "column BackendTime")
    assert {t.classification for t in result.truth.values()} == {"unknown"}
    assert result.expected_verdict == "insufficient_data"
    document = json.loads(result.truth_json())
    assert document["missing"] == list(result.facts.missing) and document["expected_verdict"] == "insufficient_data"


# --- every scenario -----------------------------------------------------------------------------


def test_the_four_sets_are_disjoint() -> None:
    sets = (SCENARIOS, ESTATES, HOLDOUT, UNKNOWNS)
    assert sum(len(s) for s in sets) == len(ALL)
    assert 4 <= len(HOLDOUT) <= 6 and len(ESTATES) >= 10 and len(UNKNOWNS) >= 14
    assert all(scenario(n) is s for n, s in ALL.items())


@pytest.mark.parametrize("name", sorted(ALL))
def test_truth_is_internally_consistent(incident, name: str) -> None:
    result = incident(name)
    sc = result.scenario
    assert len(result.all_requests) < (300_000 if name == "sample_day" else 60_000 if name in UNKNOWNS else 70_000)
    regions = {r.name for r in sc.gateway_regions}
    assert set(result.all_requests["Region"]) <= regions
    start, end = pd.Timestamp(sc.start), pd.Timestamp(sc.start) + pd.Timedelta(minutes=sc.duration_minutes)
    for key, truth in result.truth.items():
        assert key == ((truth.region, truth.destination) if sc.multi_region else truth.destination)
        assert truth.cause in CLASSIFICATIONS and truth.cause != "unknown"
        assert truth.classification in (truth.cause, "unknown") and (truth.classification == "unknown") == bool(
            result.facts.missing
        )
        for onset, recovery in truth.episodes:
            assert start <= onset < (end if recovery is None else recovery) <= end and recovery != end
        assert all(a[1] is not None and a[1] < b[0] for a, b in zip(truth.episodes, truth.episodes[1:], strict=False))
        assert (truth.onset is None) == (not truth.episodes) and len(truth.observed) == len(truth.episodes)
        assert truth.cause not in ("snat_exhaustion", "backend_unreachable") or truth.episodes
        over = truth.per_minute["demand_attempted"] > truth.per_minute["capacity"]
        if truth.cause == "snat_exhaustion":
            assert any(result.pools[p].exhausted for p in truth.pools) and over.any()
        else:
            assert (truth.per_minute["failure_share"] < 0.01).all(), "only SNAT makes calls find no port"
        assert all(p.region == truth.region for p in truth.pools)
    assert result.expected_verdict in VERDICTS
    snat = any(t.classification == "snat_exhaustion" for t in result.truth.values())
    assert result.expected_verdict == (
        "insufficient_data" if result.facts.missing else "snat_exhaustion" if snat else "no_snat_evidence"
    )
    document = json.loads(result.truth_json())
    assert set(document["destinations"]) == {json_key(k) for k in result.truth}
    assert document["expected_verdict"] == result.expected_verdict


def test_holdout_truths_come_from_the_same_physics(incident) -> None:
    verdicts = {name: incident(name).expected_verdict for name in HOLDOUT}
    assert set(verdicts.values()) == {"snat_exhaustion", "no_snat_evidence"}
    front_door = incident("holdout_front_door_one_region")
    assert {t.cause for t in front_door.truth.values() if t.region == "East US"} == {"snat_exhaustion"}
    assert {t.cause for t in front_door.truth.values() if t.region == "West US 2"} == {"healthy"}
    assert all(t.per_minute["own_demand"].max() < 1024 for t in front_door.truth.values())


#: What physically happens in each estate and holdout scenario (cause per destination) and the
#: verdict a right diagnosis reaches from the logs it is handed.
EXPECTED = {
    "app_service_shared_ip": (
        {
            "orders-api.azurewebsites.net:443": "snat_exhaustion",
            "customers-api.azurewebsites.net:443": "snat_exhaustion",
            "catalog-api.azurewebsites.net:443": "snat_exhaustion",
            "shipping.fabrikam.net:443": "healthy",
        },
        "snat_exhaustion",
    ),
    "two_regions_one_exhausted": (
        {
            ("North Europe", "orders.contoso-backend.com:443"): "snat_exhaustion",
            ("West Europe", "orders.contoso-backend.com:443"): "healthy",
            ("North Europe", "inventory.azurewebsites.net:443"): "healthy",
            ("West Europe", "inventory.azurewebsites.net:443"): "healthy",
        },
        "snat_exhaustion",
    ),
    "slow_backend_keepalive": ({"pricing.contoso.com:443": "snat_exhaustion"}, "snat_exhaustion"),
    "forward_timeout_10s": (
        {"orders.contoso-backend.com:443": "snat_exhaustion", "inventory.azurewebsites.net:443": "healthy"},
        "snat_exhaustion",
    ),
    "error_only_logging": (
        {"orders.contoso-backend.com:443": "snat_exhaustion", "inventory.azurewebsites.net:443": "healthy"},
        "insufficient_data",
    ),
    "sampled_20_percent": (
        {"orders.contoso-backend.com:443": "snat_exhaustion", "inventory.azurewebsites.net:443": "healthy"},
        "snat_exhaustion",
    ),
    "three_columns_export": (
        {
            "orders.contoso-backend.com:443": "snat_exhaustion",
            "legacy-erp.fabrikam.net:8443": "slow_backend",
            "payments.contoso.com:443": "backend_errors",
            "search.cloudapp.azure.com:443": "backend_unreachable",
            "inventory.azurewebsites.net:443": "healthy",
            "shipping.fabrikam.net:443": "healthy",
        },
        "insufficient_data",
    ),
    "refuses_under_load": (
        {"catalog.fabrikam.net:443": "backend_unreachable", "inventory.azurewebsites.net:443": "healthy"},
        "no_snat_evidence",
    ),
    "sample_three_units": (
        {
            "orders.contoso-backend.com:443": "snat_exhaustion",
            "legacy-erp.fabrikam.net:8443": "slow_backend",
            "payments.contoso.com:443": "backend_errors",
            "search.cloudapp.azure.com:443": "backend_unreachable",
            "inventory.azurewebsites.net:443": "healthy",
            "shipping.fabrikam.net:443": "healthy",
        },
        "snat_exhaustion",
    ),
    "sample_day": (
        {"orders.contoso-backend.com:443": "snat_exhaustion", "inventory.azurewebsites.net:443": "healthy"},
        "snat_exhaustion",
    ),
    "unreachable_kinds": (
        {
            "search.cloudapp.azure.com:443": "backend_unreachable",
            "shipping.fabrikam.net:443": "backend_unreachable",
            "inventory.azurewebsites.net:443": "healthy",
        },
        "no_snat_evidence",
    ),
    "side_call_failures": (
        {"payments.contoso.com:443": "healthy", "inventory.azurewebsites.net:443": "healthy"},
        "no_snat_evidence",
    ),
    "idle_cut": (
        {"reports.contoso.com:443": "slow_backend", "inventory.azurewebsites.net:443": "healthy"},
        "no_snat_evidence",
    ),
    "holdout_front_door_one_region": (
        {
            ("East US", "shop-api.contoso-edge.azurefd.net:443"): "snat_exhaustion",
            ("East US", "media.contoso-edge.azurefd.net:443"): "snat_exhaustion",
            ("West US 2", "shop-api.contoso-edge.azurefd.net:443"): "healthy",
            ("West US 2", "media.contoso-edge.azurefd.net:443"): "healthy",
        },
        "snat_exhaustion",
    ),
    "holdout_slow_keepalive_15s": ({"rates.northwind-logistics.com:443": "snat_exhaustion"}, "snat_exhaustion"),
    "holdout_sampled_50_percent": (
        {
            "shipping.fabrikam.net:443": "snat_exhaustion",
            "inventory.azurewebsites.net:443": "healthy",
            "payments.contoso.com:443": "healthy",
        },
        "snat_exhaustion",
    ),
    "holdout_refused_higher_load": (
        {"quotes.contoso-insurance.com:443": "backend_unreachable", "shipping.fabrikam.net:443": "healthy"},
        "no_snat_evidence",
    ),
    "holdout_two_ips_spread": (
        {"api.contoso-global.com:443": "healthy", "inventory.azurewebsites.net:443": "healthy"},
        "no_snat_evidence",
    ),
    "holdout_clients_give_up": (
        {"orders.northwind.com:443": "snat_exhaustion", "shipping.fabrikam.net:443": "healthy"},
        "snat_exhaustion",
    ),
}


@pytest.mark.parametrize("name", sorted(set(ESTATES) | set(HOLDOUT)))
def test_estate_and_holdout_truths(incident, name: str) -> None:
    causes, verdict = EXPECTED[name]
    result = incident(name)
    assert {k: t.cause for k, t in result.truth.items()} == causes
    assert result.expected_verdict == verdict
    legacy = to_azure_diagnostics(result.logs)
    assert len(legacy) == len(result.logs)
    if "Region" in result.logs.columns:
        assert set(legacy["Region_s"]) == set(result.logs["Region"])


@pytest.mark.parametrize("name", ["two_regions_one_exhausted", "sampled_20_percent"])
def test_generation_is_deterministic(name: str) -> None:
    first, second = generate(scenario(name)), generate(scenario(name))
    pd.testing.assert_frame_equal(first.logs, second.logs)
    assert first.truth_json() == second.truth_json()
