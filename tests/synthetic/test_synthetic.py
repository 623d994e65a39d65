"""The synthetic incident generator: determinism, schema fidelity, the port model, truth, exports."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import KitError
from analysis.query.schema import AZURE_DIAGNOSTICS, GATEWAY_LOGS, KUSTO_TO_PANDAS, kusto_types
from analysis.synthetic import Destination, Incident, Operation, generate, ports
from analysis.synthetic.__main__ import OUTPUT_FILES, main, write_sample
from analysis.synthetic.exports import PORTAL_COLUMNS, to_azure_diagnostics, write_parquet, write_portal_csv
from analysis.synthetic.library import SCENARIOS, scenario
from tests.paths import SAMPLE_DIR

ORDERS = "orders.contoso-backend.com:443"
EXPECTED = {
    "sample": {
        ORDERS: "snat_exhaustion",
        "legacy-erp.fabrikam.net:8443": "slow_backend",
        "payments.contoso.com:443": "backend_errors",
        "search.cloudapp.azure.com:443": "backend_unreachable",
        "inventory.azurewebsites.net:443": "healthy",
        "shipping.fabrikam.net:443": "healthy",
    },
    "snat_only": {ORDERS: "snat_exhaustion", "inventory.azurewebsites.net:443": "healthy"},
    "unreachable_only": {
        "search.cloudapp.azure.com:443": "backend_unreachable",
        "inventory.azurewebsites.net:443": "healthy",
    },
    "backend_errors_only": {"payments.contoso.com:443": "backend_errors", "inventory.azurewebsites.net:443": "healthy"},
    "slow_only": {"legacy-erp.fabrikam.net:8443": "slow_backend", "inventory.azurewebsites.net:443": "healthy"},
    "snat_beside_slow": {
        ORDERS: "snat_exhaustion",
        "legacy-erp.fabrikam.net:8443": "slow_backend",
        "inventory.azurewebsites.net:443": "healthy",
    },
    "two_exhausted": {
        ORDERS: "snat_exhaustion",
        "payments.contoso.com:443": "snat_exhaustion",
        "inventory.azurewebsites.net:443": "healthy",
    },
    "no_reuse_modest_volume": {
        "payments.contoso.com:443": "snat_exhaustion",
        "inventory.azurewebsites.net:443": "healthy",
    },
    "no_incident": {
        ORDERS: "healthy",
        "inventory.azurewebsites.net:443": "healthy",
        "shipping.fabrikam.net:443": "healthy",
    },
    "outage_during_burst": {
        "search.cloudapp.azure.com:443": "backend_unreachable",
        "inventory.azurewebsites.net:443": "healthy",
    },
    "noisy_with_gaps": {
        ORDERS: "snat_exhaustion",
        "inventory.azurewebsites.net:443": "healthy",
        "payments.contoso.com:443": "healthy",
    },
}
US_TIME = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}, \d{1,2}:\d{2}:\d{2}\.\d{3} (AM|PM)$")


@cache
def incident(name: str) -> Incident:
    return generate(scenario(name))


def destination_of(logs: pd.DataFrame) -> pd.Series:
    host_port = logs["BackendUrl"].str.extract(r"^(https?)://([^/:?]+)(?::(\d+))?")
    port = host_port[2].fillna(host_port[0].map({"https": "443", "http": "80"}))
    return host_port[1].str.lower() + ":" + port


def per_minute(logs: pd.DataFrame, key: str) -> pd.DataFrame:
    rows = logs[destination_of(logs) == key]
    minute = rows["TimeGenerated"].dt.floor("min")
    return pd.DataFrame(
        {
            "requests": rows.groupby(minute).size(),
            "connection_failures": (rows["LastErrorReason"] == "BackendConnectionFailure").groupby(minute).sum(),
            "timeouts": (rows["LastErrorReason"] == "Timeout").groupby(minute).sum(),
            "backend_p50": rows["BackendTime"].groupby(minute).median(),
            "backend_mean": rows["BackendTime"].groupby(minute).mean(),
        }
    )


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_rows_and_bytes(tmp_path: Path) -> None:
    first, second = generate(scenario("snat_only")), generate(scenario("snat_only"))
    pd.testing.assert_frame_equal(first.logs, second.logs)
    write_parquet(first.logs, tmp_path / "a.parquet")
    write_parquet(second.logs, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert first.truth_json() == second.truth_json()


def test_other_seed_other_rows() -> None:
    other = generate(replace(scenario("snat_only"), seed=99))
    assert not other.logs["CorrelationId"].equals(incident("snat_only").logs["CorrelationId"])


def test_command_writes_identical_bytes_twice(tmp_path: Path) -> None:
    assert main([str(tmp_path / "one")]) == 0
    assert main([str(tmp_path / "two")]) == 0
    for name in OUTPUT_FILES:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_committed_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    write_sample(tmp_path)
    committed = sorted(p.name for p in SAMPLE_DIR.iterdir())
    assert committed == sorted(OUTPUT_FILES), "data/sample holds exactly what 'make sample' writes"
    for name in OUTPUT_FILES:
        assert (SAMPLE_DIR / name).read_bytes() == (tmp_path / name).read_bytes(), f"data/sample/{name} is stale"


def test_sample_size_limit() -> None:
    total = sum((SAMPLE_DIR / name).stat().st_size for name in OUTPUT_FILES)
    assert total < 20 * 1024 * 1024
    assert 40_000 <= len(incident("sample").logs) <= 80_000


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sample", "noisy_with_gaps"])
def test_gateway_log_columns_and_dtypes_follow_schema(name: str) -> None:
    logs = incident(name).logs
    types = kusto_types(GATEWAY_LOGS)
    assert list(logs.columns) == list(types)
    for column, kind in types.items():
        assert str(logs[column].dtype) == KUSTO_TO_PANDAS[kind], column
        if kind in ("string", "dynamic"):
            assert not logs[column].isna().any(), f"{column}: text columns hold empty strings, not nulls"
    assert logs["TimeGenerated"].dt.tz is None
    assert logs["TimeGenerated"].is_monotonic_increasing


def test_gateway_log_values_look_real() -> None:
    logs = incident("sample").logs
    assert (logs["Category"] == "GatewayLogs").all() and (logs["Type"] == GATEWAY_LOGS).all()
    assert logs["Url"].str.startswith("https://contoso-apim.azure-api.net/").all()
    assert logs["BackendUrl"].str.contains("?", regex=False).any()
    assert logs["BackendUrl"].str.startswith("https://legacy-erp.fabrikam.net:8443/").any()
    assert logs["TimeGenerated"].dt.microsecond.nunique() > 1000
    assert logs["CorrelationId"].is_unique
    assert set(logs["Cache"]) == {"none", "miss", "hit"}
    assert (logs["IsRequestSuccess"] == logs["ResponseCode"].between(200, 399)).all()
    assert (logs["TotalTime"] >= logs["BackendTime"].fillna(0)).all()

    failed = logs[logs["LastErrorReason"] != ""]
    assert set(failed["LastErrorReason"]) == {"BackendConnectionFailure"}
    assert (failed["ResponseCode"] == 500).all() and failed["BackendResponseCode"].isna().all()
    assert (failed["LastErrorSource"] == "forward-request").all() and (failed["LastErrorSection"] == "backend").all()
    messages = set(failed.loc[failed["LastErrorReason"] == "BackendConnectionFailure", "LastErrorMessage"])
    assert messages == {
        "Unable to connect to the remote server",
        "Underlying transport connection was unexpectedly closed.",
        "A connection attempt failed because the connected party did not properly respond after a period of time, "
        "or established connection failed because connected host has failed to respond",
        "No connection could be made because the target machine actively refused it",
    }
    assert json.loads(failed["Errors"].iloc[0])[0]["reason"] == failed["LastErrorReason"].iloc[0]
    assert ((logs["LastErrorReason"] == "") == logs["LastErrorElapsed"].isna()).all()


# --- the port model ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1, max_size=40))
def test_trailing_demand_is_the_sum_of_the_last_four_minutes(connections: list[float]) -> None:
    demand = ports.trailing_demand(connections)
    naive = [sum(connections[max(0, i - 3) : i + 1]) for i in range(len(connections))]
    np.testing.assert_allclose(demand, naive, rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=40), st.integers(1, 4096))
def test_connects_fail_only_past_the_ports_and_never_hold_more(closed: list[int], capacity: int) -> None:
    model = ports.held_ports(np.zeros(len(closed)), closed, capacity)
    connecting = np.asarray(closed) > 0
    short = model.asked > capacity + 1e-9
    assert ((model.failing > 0) == (short & connecting)).all(), "a connect fails exactly when no port is free"
    assert (model.failing <= ports.MAX_FAILURE_SHARE).all()
    # Where the share was capped, the calls let through anyway hold ports past the capacity for a hold.
    capped = ports.trailing_demand(model.failing >= ports.MAX_FAILURE_SHARE) > 0
    assert (model.held[~capped] <= capacity + 1e-6).all(), "no more ports held than there are"
    assert (model.held <= ports.port_demand(np.zeros(len(closed)), closed) + 1e-6).all(), (
        "failed connects hold nothing: the ports held never exceed the attempted demand"
    )


@pytest.mark.parametrize("name", ["snat_only", "sample", "snat_beside_slow", "two_exhausted", "no_reuse_modest_volume"])
def test_snat_failures_start_only_after_demand_passes_capacity(name: str) -> None:
    result = incident(name)
    for key, truth in result.truth.items():
        if truth.classification != "snat_exhaustion":
            continue
        observed = per_minute(result.logs, key).join(truth.per_minute[["demand_attempted", "capacity"]], how="left")
        trouble = observed[(observed["connection_failures"] > 0) | (observed["timeouts"] > 0)]
        assert len(trouble) >= 10
        assert (trouble["demand_attempted"] > trouble["capacity"]).all(), trouble
        assert observed.loc[observed["demand_attempted"] <= observed["capacity"], "connection_failures"].sum() == 0


def test_snat_truth_onset_and_recovery() -> None:
    result = incident("sample")
    truth = result.truth[ORDERS]
    frame = truth.per_minute
    over = frame.index[frame["demand_attempted"] > frame["capacity"]]
    assert truth.onset == over[0]
    burst = scenario("sample").destinations[0].bursts[0]
    start = pd.Timestamp(scenario("sample").start)
    burst_end = start + pd.Timedelta(minutes=burst.end_minute)
    assert start + pd.Timedelta(minutes=burst.start_minute) < truth.onset < burst_end
    assert burst_end <= truth.recovery <= burst_end + pd.Timedelta(minutes=4)
    observed = per_minute(result.logs, ORDERS)
    failing = observed.index[observed["connection_failures"] > 0]
    assert failing[0] == truth.onset
    assert failing[-1] == truth.recovery - pd.Timedelta(minutes=1)


def test_latency_rises_before_connection_failures() -> None:
    result = incident("sample")
    observed = per_minute(result.logs, ORDERS)
    onset = result.truth[ORDERS].onset
    baseline = observed.loc[: onset - pd.Timedelta(minutes=5)]
    before = observed.loc[onset - pd.Timedelta(minutes=1)]
    assert before["connection_failures"] == 0
    assert before["backend_mean"] > 1.3 * baseline["backend_mean"].median(), (
        "SYN retransmissions delay calls before any fails"
    )
    assert observed.loc[onset:, "backend_p50"].iloc[:10].min() > 5 * baseline["backend_p50"].median()


def test_burst_is_driven_by_few_keys() -> None:
    result = incident("sample")
    truth = result.truth[ORDERS]
    rows = result.logs[destination_of(result.logs) == ORDERS]
    during = rows[(rows["TimeGenerated"] >= truth.onset) & (rows["TimeGenerated"] < truth.recovery)]
    top_two = during["ApimSubscriptionId"].value_counts(normalize=True).iloc[:2].sum()
    assert top_two > 0.7
    assert during["CallerIpAddress"].value_counts(normalize=True).iloc[:2].sum() > 0.7


# --- truth and look-alikes ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_library_scenarios_have_the_intended_truth(name: str) -> None:
    result = incident(name)
    assert {k: t.classification for k, t in result.truth.items()} == EXPECTED[name]
    assert len(result.logs) < 60_000 or name == "sample"
    for truth in result.truth.values():
        failing = truth.classification in ("snat_exhaustion", "backend_unreachable")
        assert (truth.onset is not None) == failing
        assert (truth.incident_start is not None) == (truth.classification != "healthy")


def test_outage_during_burst_is_not_snat() -> None:
    result = incident("outage_during_burst")
    key = "search.cloudapp.azure.com:443"
    truth = result.truth[key]
    assert truth.peak_demand < 0.1 * truth.per_minute["capacity"].iloc[0]
    observed = per_minute(result.logs, key)
    inside = (observed.index >= truth.onset) & (observed.index < truth.recovery)
    share = observed["connection_failures"] / observed["requests"]
    assert (share[inside] > 0.9).all()
    assert (observed.loc[~inside, "connection_failures"] == 0).all()
    assert truth.recovery - truth.onset == pd.Timedelta(minutes=6)


def test_slow_backend_answers_slowly_without_connection_errors() -> None:
    result = incident("slow_only")
    key = "legacy-erp.fabrikam.net:8443"
    rows = result.logs[destination_of(result.logs) == key]
    assert (rows["LastErrorReason"] == "").all()
    truth = result.truth[key]
    inside = rows[(rows["TimeGenerated"] >= truth.incident_start) & (rows["TimeGenerated"] < truth.incident_end)]
    assert inside["BackendTime"].median() > 3000
    assert rows.loc[~rows.index.isin(inside.index), "BackendTime"].median() < 500


def test_application_errors_come_from_the_backend() -> None:
    result = incident("backend_errors_only")
    rows = result.logs[destination_of(result.logs) == "payments.contoso.com:443"]
    errors = rows[rows["ResponseCode"] >= 500]
    assert len(errors) > 100
    assert (errors["BackendResponseCode"] == errors["ResponseCode"]).all()
    assert set(errors["BackendResponseCode"]) == {500, 503}
    assert (errors["LastErrorReason"] == "").all()


def test_noisy_scenario_drops_minutes_and_sprinkles_failures() -> None:
    result = incident("noisy_with_gaps")
    sc = scenario("noisy_with_gaps")
    offsets = ((result.logs["TimeGenerated"] - pd.Timestamp(sc.start)) // pd.Timedelta(minutes=1)).unique()
    assert set(sc.noise.dropped_minutes).isdisjoint(offsets)
    assert len(offsets) == sc.duration_minutes - len(sc.noise.dropped_minutes)
    for key in ("inventory.azurewebsites.net:443", "payments.contoso.com:443"):
        failures = per_minute(result.logs, key)["connection_failures"]
        assert 0 < failures.sum() < 40 and failures.max() <= 3


def test_truth_json_uses_utc_z_times() -> None:
    document = json.loads(incident("sample").truth_json())
    orders = document["destinations"][ORDERS]
    assert orders["classification"] == "snat_exhaustion"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", orders["onset"])
    assert len(orders["per_minute"]["demand_attempted"]) == 120
    assert document["destinations"]["inventory.azurewebsites.net:443"]["onset"] is None


def test_private_backend_is_refused() -> None:
    op = Operation("a", "a", "get", "GET", "/x")
    with pytest.raises(KitError):
        Destination("http://10.20.0.7:8080", (op,), 10.0)
    with pytest.raises(KitError):
        scenario("no_such_scenario")


# --- exports -----------------------------------------------------------------------------------


def test_portal_csv_uses_us_locale_time_column(tmp_path: Path) -> None:
    logs = incident("unreachable_only").logs
    path = tmp_path / "export.csv"
    write_portal_csv(logs, path, PORTAL_COLUMNS)
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert text.columns[0] == "TimeGenerated [UTC]" and "TimeGenerated" not in text.columns
    assert text["TimeGenerated [UTC]"].str.match(US_TIME).all()
    parsed = pd.to_datetime(text["TimeGenerated [UTC]"], format="%m/%d/%Y, %I:%M:%S.%f %p")
    assert (parsed.to_numpy() == logs["TimeGenerated"].dt.floor("ms").to_numpy()).all()
    assert set(text["IsRequestSuccess"]) == {"true", "false"}
    failed = text[text["LastErrorReason"] != ""]
    assert (failed["BackendResponseCode"] == "").all()
    assert json.loads(failed["Errors"].iloc[0])[0]["source"] == "forward-request"


def test_sample_portal_export_has_the_same_rows(sample_portal_export: Path) -> None:
    head = sample_portal_export.read_bytes()[:4096].decode("utf-8").split("\r\n", 2)
    assert head[0].startswith("TimeGenerated [UTC],")
    assert US_TIME.match(head[1].split('"')[1])
    rows = pd.read_csv(sample_portal_export, usecols=["ResponseCode"])
    assert len(rows) == len(pd.read_parquet(SAMPLE_DIR / "gateway_logs.parquet", columns=["ResponseCode"]))


def test_legacy_frame_has_azure_diagnostics_columns_and_types() -> None:
    logs = incident("snat_only").logs
    legacy = to_azure_diagnostics(logs)
    types = kusto_types(AZURE_DIAGNOSTICS)
    assert list(legacy.columns) == list(types)
    for column, kind in types.items():
        assert str(legacy[column].dtype) == KUSTO_TO_PANDAS[kind], column
    assert (legacy["Category"] == "GatewayLogs").all()
    assert (legacy["ResourceProvider"] == "MICROSOFT.APIMANAGEMENT").all()
    assert legacy["responseCode_d"].dtype == np.float64
    assert (legacy["DurationMs"] == logs["TotalTime"]).all()
    assert (legacy["backendUrl_s"] == logs["BackendUrl"]).all()
    assert legacy["backendResponseCode_d"].isna().sum() == logs["BackendResponseCode"].isna().sum()
    assert (legacy["lastError_reason_s"] == logs["LastErrorReason"]).all()
    assert legacy["isRequestSuccess_b"].equals(logs["IsRequestSuccess"].rename("isRequestSuccess_b"))


def test_parquet_round_trip_keeps_dtypes(tmp_path: Path) -> None:
    legacy = to_azure_diagnostics(incident("slow_only").logs)
    write_parquet(legacy, tmp_path / "legacy.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "legacy.parquet"), legacy)
