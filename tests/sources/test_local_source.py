"""The local source: duckdb-kql over exports, checked against an independent pandas computation."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.query import pack
from analysis.sources import open_source
from analysis.sources.local import open_local
from analysis.synthetic.exports import write_portal_csv
from tests.oracles import nearest_rank
from tests.paths import SAMPLE_DIR


def pandas_health(logs: pd.DataFrame) -> pd.DataFrame:
    """destination_health computed with pandas alone, from the raw rows."""
    frame = logs[logs["BackendUrl"].fillna("") != ""].copy()
    parts = frame["BackendUrl"].str.extract(
        r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/:?#]+)(?::(?P<port>\d+))?"
    )
    default = np.where(parts["scheme"].str.lower().isin(["http", "ws"]), "80", "443")
    frame["destination"] = parts["host"].str.lower() + ":" + parts["port"].fillna(pd.Series(default, index=frame.index))
    frame["minute"] = frame["TimeGenerated"].dt.floor("min")
    reason = frame["LastErrorReason"].fillna("")
    own = frame["LastErrorSource"].fillna("").isin(["", "forward-request", "request-forwarder"])
    unanswered = frame["BackendResponseCode"].isna() & reason.isin(["Timeout", "ClientConnectionFailure"])
    frame["failed"] = (frame["ResponseCode"] >= 500) | (own & ((reason == "BackendConnectionFailure") | unanswered))
    grouped = frame.groupby(["minute", "destination"])
    result = pd.DataFrame(
        {
            "requests": grouped.size(),
            "http_5xx": grouped["ResponseCode"].apply(lambda s: int((s >= 500).sum())),
            "failed_requests": grouped["failed"].sum(),
            "connection_failures": grouped["LastErrorReason"].apply(
                lambda s: int((s == "BackendConnectionFailure").sum())
            ),
            "timeouts": grouped["LastErrorReason"].apply(lambda s: int((s == "Timeout").sum())),
            "backend_p95_ms": grouped["BackendTime"].apply(lambda s: nearest_rank(s, 95)),
        }
    )
    return result.reset_index()


def health_of(source) -> pd.DataFrame:
    first, last = source.time_range()
    window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
    return source.run(pack.load("destination_health").render(window, source.mode))


def test_destination_health_matches_pandas_on_the_sample():
    logs = pd.read_parquet(SAMPLE_DIR / "gateway_logs.parquet")
    expected = pandas_health(logs).sort_values(["minute", "destination"]).reset_index(drop=True)
    got = health_of(open_source("sample")).sort_values(["minute", "destination"]).reset_index(drop=True)
    assert len(got) == len(expected)
    assert (got["destination"] == expected["destination"]).all()
    for column in ("requests", "http_5xx", "failed_requests", "connection_failures", "timeouts"):
        assert got[column].astype("int64").tolist() == expected[column].astype("int64").tolist(), column
    # Kusto estimates percentiles (T-Digest), so on Azure the same text agrees to about 1 %; the local
    # engine is exact (nearest rank), which is what is held to here, with that tolerance.
    relative = (got["backend_p95_ms"].astype(float) - expected["backend_p95_ms"]).abs() / expected[
        "backend_p95_ms"
    ].clip(lower=1)
    assert (relative <= 0.01).all()


def test_both_logging_modes_give_the_same_health(scenario_export):
    resource = health_of(open_local(scenario_export("snat_only", "resource")))
    legacy = health_of(open_local(scenario_export("snat_only", "azurediagnostics")))
    assert open_local(scenario_export("snat_only", "azurediagnostics")).mode == "azurediagnostics"
    pd.testing.assert_frame_equal(resource, legacy, check_dtype=False)


def test_portal_csv_export_reads_like_parquet(tmp_path, incident):
    logs = incident("snat_only").logs
    csv = tmp_path / "export.csv"
    write_portal_csv(
        logs,
        csv,
        [
            "TimeGenerated",
            "BackendUrl",
            "ResponseCode",
            "BackendResponseCode",
            "BackendTime",
            "TotalTime",
            "LastErrorReason",
            "LastErrorSource",
            "LastErrorElapsed",
            "Method",
            "Cache",
            "Region",
        ],
    )
    text = csv.read_text(encoding="utf-8").splitlines()
    assert text[0].startswith("TimeGenerated [UTC],")
    source = open_local(csv)
    assert source.mode == "resource"
    parquet = tmp_path / "export.parquet"
    logs.to_parquet(parquet)
    pd.testing.assert_frame_equal(health_of(source), health_of(open_local(parquet)), check_dtype=False)


def test_json_lines_export(tmp_path, incident):
    logs = incident("no_incident").logs.head(500)[["TimeGenerated", "BackendUrl", "ResponseCode", "BackendTime"]]
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(
            json.dumps({**row, "TimeGenerated": row["TimeGenerated"].isoformat() + "Z"}) + "\n"
            for row in logs.astype(object).to_dict("records")
        ),
        encoding="utf-8",
    )
    health = health_of(open_local(path))
    assert int(health["requests"].sum()) == 500


def test_missing_optional_columns_are_empty_not_errors(tmp_path):
    path = tmp_path / "projected.csv"
    path.write_text(
        "TimeGenerated [UTC],BackendUrl,ResponseCode\n"
        '"2/25/2025, 9:19:25.391 AM",https://API.contoso.com/a,500\n'
        '"2/25/2025, 9:19:26 PM",http://api.contoso.com:8080/a,200\n'
        '"2/25/2025, 9:19:27 PM",ws://chat.contoso.com/socket,101\n'
        '"2/25/2025, 9:19:28 PM",wss://chat.contoso.com/socket,101\n',
        encoding="utf-8",
    )
    health = health_of(open_local(path))
    assert sorted(health["destination"]) == [
        "api.contoso.com:443",
        "api.contoso.com:8080",
        "chat.contoso.com:443",
        "chat.contoso.com:80",
    ]
    assert int(health["connection_failures"].sum()) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.parquet", None, "no such file"),
        ("notes.txt", "hello", "unknown file type .txt"),
        ("fake.parquet", "TimeGenerated,BackendUrl\n1,2\n", "not a readable Parquet file"),
        ("cols.csv", "When,Where\n1,2\n", "missing TimeGenerated, BackendUrl, ResponseCode"),
        (
            "legacy.csv",
            "TimeGenerated,backendUrl_s,Category\n2025-01-01T00:00:00Z,https://a/,GatewayLogs\n",
            "missing responseCode_d",
        ),
        (
            "times.csv",
            "TimeGenerated [UTC],BackendUrl,ResponseCode\n25.02.2025 09:19,https://a/,200\n",
            "column 'TimeGenerated \\[UTC\\]': cannot read '25.02.2025 09:19' as a time",
        ),
        (
            "numbers.csv",
            "TimeGenerated,BackendUrl,ResponseCode\n2025-02-25T09:00:00Z,https://a/,OK\n",
            "column 'ResponseCode': cannot read 'OK' as a number",
        ),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(KitError, match=message):
        open_local(path)


def test_unknown_source_kind():
    with pytest.raises(KitError, match="unknown source 'ftp:x'"):
        open_source("ftp:x")


def test_unsupported_kql_says_how_to_write_it(scenario_export):
    source = open_local(scenario_export("no_incident"))
    with pytest.raises(KitError, match="percentiles\\(\\): write one percentile"):
        source.run("ApiManagementGatewayLogs | summarize percentiles(BackendTime, 50, 95)")
    with pytest.raises(KitError, match="make-series"):
        source.run("ApiManagementGatewayLogs | make-series c = count() on TimeGenerated step 1m")


def test_legacy_fields_spilled_into_additional_fields_are_read(tmp_path, incident):
    """A workspace past 500 AzureDiagnostics columns writes new fields into AdditionalFields."""
    from analysis.synthetic.exports import to_azure_diagnostics

    legacy = to_azure_diagnostics(incident("snat_only").logs)
    spilled_names = [
        "lastError_reason_s",
        "lastError_source_s",
        "lastError_section_s",
        "lastError_message_s",
        "backendTime_d",
    ]
    spilled = legacy.drop(columns=spilled_names)
    spilled["AdditionalFields"] = [
        json.dumps({k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v)) and v != ""})
        for row in legacy[spilled_names].astype(object).to_dict("records")
    ]
    whole, moved = tmp_path / "whole.parquet", tmp_path / "spilled.parquet"
    legacy.to_parquet(whole)
    spilled.to_parquet(moved)
    expected = health_of(open_local(whole))
    assert expected["connection_failures"].sum() > 0
    pd.testing.assert_frame_equal(health_of(open_local(moved)), expected, check_dtype=False)


def test_close_releases_the_connection_and_the_private_folder():
    source = open_source("sample").inner  # behind the credential scrubbing
    assert source.staging is not None and source.staging.is_dir()
    source.close()
    assert not source.staging.exists()
    with pytest.raises(duckdb.ConnectionException):
        source.connection.execute("SELECT 1")


def test_the_destinations_of_a_window_are_resolved_once_for_all_its_queries(scenario_export):
    """The prelude's GatewayDestinations is evaluated once per window and reused, with the same answers."""
    source = open_local(scenario_export("snat_only"))
    first, last = source.time_range()
    window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
    inventory = source.run(pack.load("destination_inventory").render(window))
    health = source.run(pack.load("destination_health").render(window))
    assert len(source._windows) == 1
    later = {"start": window["start"] + pd.Timedelta(minutes=30), "end": window["end"]}
    source.run(pack.load("destination_health").render(later))
    assert len(source._windows) == 2
    # The same text run whole, the destinations computed inside the query, gives the same frame.
    whole = source._execute(pack.load("destination_health").render(window)).df()
    pd.testing.assert_frame_equal(whole, health)
    assert sorted(inventory["destination"]) == sorted(health["destination"].unique())
    source.close()


@pytest.mark.parametrize("mode", ["resource", "azurediagnostics"])
def test_a_window_inside_one_already_made_is_its_rows_in_the_narrower_range(scenario_export, mode):
    """The load drivers' spans and the explorer's narrower windows filter the wider window's requests: no second
    reading of the export for their destinations, and the answers of a source that never saw the wider window."""
    path = scenario_export("snat_only", mode)
    source, fresh = open_local(path), open_local(path)
    first, last = source.time_range()
    window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
    span = {"start": window["start"] + pd.Timedelta(minutes=30), "end": window["start"] + pd.Timedelta(minutes=47)}
    source.run(pack.load("destination_health").render(window, mode))
    drivers = {**span, "destination": "orders.contoso-backend.com:443"}
    for name, values in (("destination_health", span), ("load_drivers", drivers), ("error_breakdown", span)):
        query = pack.load(name).render(values, mode)
        pd.testing.assert_frame_equal(source.run(query), fresh.run(query))
    (derived,) = [made for made in source._windows.values() if made.parent is not None]
    assert [kind for kind, _ in derived.made] == ["VIEW"] and len(source._windows) == 2
    wider = {"start": window["start"] - pd.Timedelta(minutes=5), "end": window["end"]}  # not inside: made anew
    source.run(pack.load("destination_health").render(wider, mode))
    assert len(source._windows) == 3 and sum(made.parent is None for made in source._windows.values()) == 2
    source.close()
    fresh.close()


def test_a_source_never_closed_leaves_no_private_folder(scenario_export):
    """Forgotten sources (a notebook cell run twice, a test) are cleaned up when collected."""
    source = open_local(scenario_export("snat_only"))
    folder = source.staging
    assert folder.is_dir()
    del source
    gc.collect()
    assert not folder.exists()


@pytest.mark.parametrize("name", ["holdout_clients_give_up", "forward_timeout_10s", "side_call_failures", "idle_cut"])
def test_failed_requests_count_each_failed_request_once(scenario_export, incident, name):
    """HTTP 5xx, failed connects, unanswered timeouts and client disconnects: a request in several is one failure."""
    expected = pandas_health(incident(name).logs).groupby("destination")["failed_requests"].sum()
    got = health_of(open_local(scenario_export(name))).groupby("destination")["failed_requests"].sum()
    assert got.astype("int64").to_dict() == expected.astype("int64").to_dict()
    assert (got > 0).any()
