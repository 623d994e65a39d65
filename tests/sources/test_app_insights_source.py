"""A local Application Insights export: one file per table in any format and either spelling, joined on the
operation id and weighted by ItemCount, checked against a computation in pandas on the same tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.query import pack
from analysis.sources.local import open_local
from analysis.synthetic import generate
from analysis.synthetic.exports import to_app_insights, write_app_insights, write_parquet
from analysis.synthetic.library import scenario
from tests.oracles import nearest_rank

CLASSIC_FILES = ("requests", "dependencies", "exceptions")


@pytest.fixture(scope="module")
def incident():
    return generate(scenario("snat_only"))


@pytest.fixture(scope="module")
def sampled(incident) -> dict[str, pd.DataFrame]:
    """The incident's Application Insights tables at 25 % sampling (failed requests kept whole)."""
    return to_app_insights(incident.all_requests, incident.scenario.service, 25.0, seed=incident.scenario.seed)


@pytest.fixture(scope="module")
def parquet(sampled, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("parquet")
    write_app_insights(sampled, folder)
    return folder


def health(path: Path | str, mode: str | None = None) -> pd.DataFrame:
    source = open_local(path, mode)
    try:
        first, last = source.time_range()
        span = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
        return source.run(pack.load("destination_health").render(span, source.mode))
    finally:
        source.close()


def oracle(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per minute, region and destination: requests and failed connects as sums of ItemCount, and the backend
    p95 of the requests each row stands for, in pandas from the three tables."""
    requests = tables["AppRequests"]
    properties = requests["Properties"].map(json.loads)
    requests = requests.assign(
        region=properties.map(lambda p: p["Region"]), minute=requests["TimeGenerated"].dt.floor("min")
    )
    calls = tables["AppDependencies"].sort_values("TimeGenerated").drop_duplicates("OperationId")
    failures = tables["AppExceptions"].sort_values("TimeGenerated").drop_duplicates("OperationId")
    rows = requests.merge(calls, on="OperationId", suffixes=("", "_call")).merge(
        failures[["OperationId", "ExceptionType"]], on="OperationId", how="left"
    )
    host = rows["Data"].str.extract(r"^https?://([^/:]+)")[0]
    port = rows["Data"].str.extract(r"^https?://[^/:]+:(\d+)")[0].fillna("443")
    rows["destination"] = host + ":" + port
    answered = pd.to_numeric(rows["ResultCode_call"], errors="coerce").fillna(0) > 0
    unanswered = ~rows["Success_call"].fillna(True).astype(bool) & ~answered
    reason = rows["ExceptionType"].fillna("").str.extract(r"^(\w+) at ")[0]
    connection = reason.eq("BackendConnectionFailure").fillna(False).to_numpy(dtype=bool)
    rows["failed_connect"] = connection | (reason.isna().to_numpy() & unanswered.to_numpy(dtype=bool))
    out = []
    for (minute, region, destination), group in rows.groupby(["minute", "region", "destination"]):
        weight = group["ItemCount"].to_numpy()
        out.append(
            {
                "minute": minute,
                "region": region,
                "destination": destination,
                "requests": int(weight.sum()),
                "connection_failures": int(weight[group["failed_connect"].to_numpy()].sum()),
                "backend_p95_ms": nearest_rank(pd.Series(np.repeat(group["DurationMs_call"].to_numpy(), weight)), 95),
            }
        )
    return pd.DataFrame(out)


def test_the_health_of_a_sampled_export_is_weighted_by_item_count(parquet, sampled):
    got = health(parquet).set_index(["minute", "region", "destination"]).sort_index()
    expected = oracle(sampled).set_index(["minute", "region", "destination"]).sort_index()
    assert got.index.equals(expected.index)
    for column in ("requests", "connection_failures"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert np.allclose(got["backend_p95_ms"].astype(float), expected["backend_p95_ms"], atol=1)


def test_the_weights_stand_for_the_requests_the_gateway_served(parquet, sampled, incident):
    weighted = health(parquet)["requests"].sum()
    served = incident.all_requests["BackendTime"].notna().sum()
    assert len(sampled["AppRequests"]) < 0.5 * served
    assert abs(weighted - served) < 0.03 * served


@pytest.mark.parametrize(("kind", "classic"), [("csv", False), ("csv", True), ("jsonl", True), ("parquet", True)])
def test_every_format_and_spelling_reads_like_parquet(parquet, sampled, tmp_path, kind, classic):
    write_app_insights(sampled, tmp_path, kind, classic)
    pd.testing.assert_frame_equal(health(tmp_path), health(parquet), check_dtype=False)


def test_files_that_do_not_name_their_table_are_told_by_their_columns(parquet, sampled, tmp_path):
    written = write_app_insights(sampled, tmp_path, "csv", classic_names=True)
    for number, path in enumerate(written):
        path.rename(tmp_path / f"query_data ({number}).csv")
    source = open_local(tmp_path)
    assert source.mode == "appinsights"
    source.close()
    pd.testing.assert_frame_equal(health(tmp_path), health(parquet), check_dtype=False)


def test_another_applications_telemetry_in_the_same_resource_is_left_out(parquet, sampled, tmp_path):
    """A backend that logs to the same resource shares the operation ids, but is not API Management."""
    own = (
        sampled["AppRequests"]
        .head(500)
        .assign(Properties='{"Service Type":"App Service"}', Name="GET /api/orders", ResultCode="500")
    )
    tables = {**sampled, "AppRequests": pd.concat([sampled["AppRequests"], own], ignore_index=True)}
    write_app_insights(tables, tmp_path)
    pd.testing.assert_frame_equal(health(tmp_path), health(parquet), check_dtype=False)


def test_without_exceptions_a_failed_call_with_no_answer_is_a_failed_connect(parquet, sampled, tmp_path):
    write_app_insights({k: v for k, v in sampled.items() if k != "AppExceptions"}, tmp_path)
    source = open_local(tmp_path)
    assert "AppExceptions.ExceptionType" in source.absent_columns
    source.close()
    got, full = health(tmp_path), health(parquet)
    assert got["connection_failures"].sum() == full["connection_failures"].sum() > 0
    assert got["timeouts"].sum() == 0


def test_the_exception_names_the_failure_and_where_it_happened(tmp_path):
    start = pd.Timestamp("2025-03-04T14:00:00")
    properties = json.dumps({"Service Type": "API Management", "Region": "West Europe", "API Name": "orders"})

    def request(operation: str, result: str) -> dict:
        return {"TimeGenerated": start, "OperationId": operation, "ResultCode": result, "DurationMs": 10.0}

    def call(operation: str, result: str, ok: bool) -> dict:
        return {
            "TimeGenerated": start,
            "OperationId": operation,
            "Data": "https://orders.contoso.com/x",
            "ResultCode": result,
            "DurationMs": 9.0,
            "Success": ok,
        }

    frames = {
        "AppRequests": pd.DataFrame(
            [request(op, code) for op, code in (("a", "500"), ("b", "500"), ("c", "500"), ("d", "200"))]
        ).assign(ItemCount=1, Properties=properties),
        "AppDependencies": pd.DataFrame(
            [call("a", "", False), call("b", "", False), call("c", "", False), call("d", "200", True)]
        ),
        "AppExceptions": pd.DataFrame(
            [
                {"TimeGenerated": start, "OperationId": "a", "ExceptionType": "Timeout at forward-request"},
                {
                    "TimeGenerated": start,
                    "OperationId": "b",
                    "ExceptionType": "BackendConnectionFailure at send-request",
                },
            ]
        ),
    }
    for name, frame in frames.items():
        write_parquet(frame, tmp_path / f"{name}.parquet")
    (row,) = health(tmp_path).to_dict("records")
    assert row["destination"] == "orders.contoso.com:443" and row["region"] == "West Europe"
    assert (row["requests"], row["timeouts"], row["side_call_failures"], row["connection_failures"]) == (4, 1, 1, 1)


@pytest.mark.parametrize(
    ("drop", "said"),
    [
        ("AppDependencies", "needs the requests and their dependencies; no file of AppDependencies"),
        ("AppRequests", "no file of AppRequests"),
    ],
)
def test_an_export_without_requests_or_calls_is_one_line(sampled, tmp_path, drop, said):
    write_app_insights({k: v for k, v in sampled.items() if k != drop}, tmp_path)
    with pytest.raises(KitError, match=said):
        open_local(tmp_path)


def test_a_table_without_the_operation_id_is_one_line(sampled, tmp_path):
    tables = {**sampled, "AppDependencies": sampled["AppDependencies"].drop(columns=["OperationId"])}
    write_app_insights(tables, tmp_path)
    with pytest.raises(KitError, match="AppDependencies rows without OperationId cannot be read"):
        open_local(tmp_path)


def test_a_mode_the_files_do_not_hold_is_one_line(parquet, incident, tmp_path):
    with pytest.raises(KitError, match="holds Application Insights tables, not ApiManagementGatewayLogs rows"):
        open_local(parquet, "resource")
    write_parquet(incident.logs, tmp_path / "gateway.parquet")
    with pytest.raises(KitError, match="holds ApiManagementGatewayLogs rows, not AppRequests"):
        open_local(tmp_path / "gateway.parquet", "appinsights")
    source = open_local(parquet, "appinsights-classic")
    assert source.mode == "appinsights"
    source.close()


def test_the_joined_rows_of_a_window_are_made_once_for_all_its_queries(parquet):
    """Joining the three tables and repeating each row is done once per window (the latest few kept), with
    the answers of the query run whole."""
    from analysis.sources import local

    source = open_local(parquet)
    first, last = source.time_range()
    window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
    health = source.run(pack.load("destination_health").render(window, source.mode))
    source.run(pack.load("error_breakdown").render(window, source.mode))
    assert len(source._windows) == 1
    whole = source._execute(pack.load("destination_health").render(window, source.mode)).df()
    pd.testing.assert_frame_equal(whole, health)
    for minutes in range(1, local.KEPT_WINDOWS + 2):
        later = {"start": window["start"] + pd.Timedelta(minutes=minutes), "end": window["end"]}
        source.run(pack.load("sampling").render(later, source.mode))
    assert len(source._windows) == local.KEPT_WINDOWS
    again = source.run(pack.load("destination_health").render(window, source.mode))
    pd.testing.assert_frame_equal(again, health)
    source.close()


def test_gateway_logs_named_like_a_table_are_still_gateway_logs(incident, tmp_path):
    write_parquet(incident.logs, tmp_path / "failed-requests.parquet")
    source = open_local(tmp_path / "failed-requests.parquet")
    assert source.mode == "resource"
    source.close()
