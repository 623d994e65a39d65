"""The Azure sources against recorded responses served over HTTPS on 127.0.0.1 (tests/azure_server.py).

The real SDK clients build the requests and parse the responses; the server checks
what they sent. Nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import socket

import pandas as pd
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ServiceRequestError
from azure.identity import CredentialUnavailableError

from analysis.errors import KitError
from analysis.query import pack
from analysis.sources import open_source
from analysis.sources.azure import frame_from_rows
from analysis.sources.kusto import KustoSource
from analysis.sources.loganalytics import LogAnalyticsSource
from tests.azure_server import (
    FIXTURES,
    KUSTO_METADATA,
    KUSTO_QUERY,
    LA_PATH,
    WORKSPACE,
    FakeCredential,
    NoSignIn,
    Replay,
    answer_like_log_analytics,
    certificate,
    la_source,
    make_fixtures,
    serve,
)

__all__ = ["certificate", "serve"]  # fixtures used by name


def health_kql(mode: str = "resource") -> str:
    window = {"start": pd.Timestamp("2025-02-25T09:00"), "end": pd.Timestamp("2025-02-25T10:00")}
    return pack.load("destination_health").render(window, mode)


def assert_typed_health(frame: pd.DataFrame, rows: list[list]) -> None:
    names = [name for name, _ in make_fixtures.HEALTH_COLUMNS]
    assert list(frame.columns) == names
    assert len(frame) == len(rows)
    assert frame["minute"].dtype == "datetime64[us]"
    assert frame["minute"].dt.tz is None
    assert frame["destination"].dtype == "str"
    for column in ("requests", "connection_failures", "total_p95_ms"):
        assert frame[column].dtype == "int64", column
    nulls = any(row[names.index("backend_p95_ms")] is None for row in rows)
    assert frame["backend_p95_ms"].dtype == ("Int64" if nulls else "int64")
    assert frame["minute"].tolist() == [pd.Timestamp(r[0]).tz_localize(None) for r in rows]
    assert frame["destination"].tolist() == [r[1] for r in rows]
    assert frame["connection_failures"].tolist() == [r[names.index("connection_failures")] for r in rows]
    got_p95 = [None if pd.isna(v) else int(v) for v in frame["backend_p95_ms"]]
    assert got_p95 == [r[names.index("backend_p95_ms")] for r in rows]


# --- fixtures are reproducible ---------------------------------------------------------------


def test_fixture_files_match_their_generator():
    for name in make_fixtures.FIXTURES:
        assert (FIXTURES / name).read_text(encoding="utf-8") == make_fixtures.render(name), (
            f"{name} differs from make_fixtures.py; run python tests/fixtures/azure/make_fixtures.py"
        )


# --- Log Analytics ---------------------------------------------------------------------------


def test_loganalytics_health_round_trips_to_a_typed_frame(serve):
    replay = serve({("POST", LA_PATH): "loganalytics_health.json"})
    credential = FakeCredential()
    source = la_source(replay, credential)
    kql = health_kql()
    frame = source.run(kql)

    assert_typed_health(frame, make_fixtures.HEALTH_ROWS)
    assert source.warnings == [] and "warnings" not in frame.attrs
    (request,) = replay.requests_to(LA_PATH)
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {FakeCredential.token}"
    assert request.json()["query"] == kql
    assert request.json().get("timespan") is None  # the KQL filters the window itself
    assert request.headers["prefer"] == "wait=180"
    assert credential.scopes == [(f"{replay.url}/.default",)]  # audience follows the endpoint
    source.close()


def test_loganalytics_partial_result_is_returned_and_flagged(serve, caplog):
    replay = serve({("POST", LA_PATH): "loganalytics_partial.json"})
    source = la_source(replay, server_timeout=600)
    with caplog.at_level("WARNING", logger="analysis.sources.loganalytics"):
        frame = source.run(health_kql())

    assert_typed_health(frame, make_fixtures.HEALTH_ROWS[:2])
    assert len(source.warnings) == 1
    warning = source.warnings[0]
    assert "partial result" in warning and "E_QUERY_RESULT_SET_TOO_LARGE" in warning and "PartialError" in warning
    assert frame.attrs["warnings"] == [warning]
    assert warning in caplog.text
    assert replay.requests_to(LA_PATH)[0].headers["prefer"] == "wait=600"


def test_loganalytics_service_error_is_one_line_naming_workspace_and_code(serve):
    replay = serve({("POST", LA_PATH): "loganalytics_error.json"})
    with pytest.raises(KitError) as caught:
        la_source(replay).run(health_kql())
    message = str(caught.value)
    assert "\n" not in message
    assert WORKSPACE in message and "PathNotFoundError" in message and "The requested path does not exist" in message
    assert len(replay.requests_to(LA_PATH)) == 1


def test_loganalytics_sign_in_failure_says_az_login(serve):
    replay = serve({("POST", LA_PATH): "loganalytics_health.json"})
    with pytest.raises(KitError) as caught:
        la_source(replay, NoSignIn()).run(health_kql())
    message = str(caught.value)
    assert "\n" not in message and "az login" in message and WORKSPACE in message
    assert replay.seen == []  # no token, no request


def test_loganalytics_timeout_limits():
    assert LogAnalyticsSource(WORKSPACE, credential=FakeCredential()).server_timeout == 180
    for bad in (0, 601, "600"):
        with pytest.raises(KitError, match="between 1 and 600"):
            LogAnalyticsSource(WORKSPACE, credential=FakeCredential(), server_timeout=bad)


# --- Azure Data Explorer ---------------------------------------------------------------------


def kusto_routes(query_fixture: str) -> dict[tuple[str, str], str]:
    return {("GET", KUSTO_METADATA): "kusto_metadata.json", ("POST", KUSTO_QUERY): query_fixture}


def test_kusto_health_round_trips_to_a_typed_frame(serve):
    replay = serve(kusto_routes("kusto_health.json"))
    credential = FakeCredential()
    source = KustoSource(replay.url, "gatewaylogs", credential=credential)
    kql = health_kql()
    frame = source.run(kql)

    assert_typed_health(frame, make_fixtures.HEALTH_ROWS)
    assert source.warnings == []
    (request,) = replay.requests_to(KUSTO_QUERY)
    body = request.json()
    assert body["csl"] == kql and body["db"] == "gatewaylogs"
    options = json.loads(body["properties"])["Options"]
    assert options["servertimeout"] == "0:03:00" and options["deferpartialqueryfailures"] is True
    assert request.headers["authorization"] == f"Bearer {FakeCredential.token}"
    assert request.headers["x-ms-client-request-id"].startswith("apim-snat;")
    assert credential.scopes == [("https://kusto.kusto.windows.net/.default",)]  # from the cloud metadata
    source.close()
    assert credential.closed  # the SDK closes the credential with its client


def test_a_credential_made_by_the_source_is_released_by_close(serve, monkeypatch):
    made: list[FakeCredential] = []

    def default_credential(*args) -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    monkeypatch.setattr("analysis.sources.azure.default_credential", default_credential)
    la = LogAnalyticsSource(
        WORKSPACE,
        endpoint=serve({("POST", LA_PATH): "loganalytics_health.json"}).url,
        client_options={"retry_total": 0},
    )
    kusto = KustoSource(serve(kusto_routes("kusto_health.json")).url, "gatewaylogs")
    for source in (la, kusto):
        source.run(health_kql())
        source.run(health_kql())
        assert source.credential is made[-1]  # made once, at the first query
        source.close()
        assert source.credential is None and made[-1].closed
        source.close()  # closing twice is harmless
    assert len(made) == 2


def test_kusto_partial_result_is_returned_and_flagged(serve):
    replay = serve(kusto_routes("kusto_partial.json"))
    source = KustoSource(replay.url, "gatewaylogs", credential=FakeCredential())
    frame = source.run(health_kql())
    assert_typed_health(frame, make_fixtures.HEALTH_ROWS[:2])
    assert len(source.warnings) == 1 and "E_QUERY_RESULT_SET_TOO_LARGE" in source.warnings[0]
    assert frame.attrs["warnings"] == source.warnings


def test_kusto_service_error_is_one_line(serve):
    replay = serve(kusto_routes("kusto_error.json"))
    with pytest.raises(KitError) as caught:
        KustoSource(replay.url, "gatewaylogs", credential=FakeCredential()).run(health_kql())
    message = str(caught.value)
    assert "\n" not in message
    assert "gatewaylogs" in message and "General_BadRequest" in message and "Failed to resolve table" in message


def test_kusto_sign_in_failure_says_az_login(serve):
    replay = serve(kusto_routes("kusto_health.json"))
    with pytest.raises(KitError) as caught:
        KustoSource(replay.url, "gatewaylogs", credential=NoSignIn()).run(health_kql())
    message = str(caught.value)
    assert "\n" not in message and "az login" in message
    assert replay.requests_to(KUSTO_QUERY) == []


# --- specs -----------------------------------------------------------------------------------


def test_specs_open_azure_sources_without_contacting_them():
    source = open_source(f"loganalytics:{WORKSPACE.upper()}").inner  # behind the credential scrubbing
    assert isinstance(source, LogAnalyticsSource)
    assert source.workspace_id == WORKSPACE and source.mode == "resource" and source.time_range() is None
    assert source.description == f"Log Analytics workspace {WORKSPACE[:8]}… (ApiManagementGatewayLogs)"
    legacy = open_source("kusto:https://mycluster.westeurope.kusto.windows.net/logs", "azurediagnostics").inner
    assert isinstance(legacy, KustoSource)
    assert (legacy.cluster, legacy.database, legacy.mode) == (
        "https://mycluster.westeurope.kusto.windows.net",
        "logs",
        "azurediagnostics",
    )
    assert legacy.description == "Azure Data Explorer mycluster.westeurope.kusto.windows.net/logs (AzureDiagnostics)"
    assert legacy.time_range() is None


@pytest.mark.parametrize(
    "spec",
    [
        "loganalytics:",
        "loganalytics:my-workspace",
        "loganalytics:0f3c8a52-6b1d-4e27-9a4f-2c5d7e9b1a6",
        "loganalytics:/subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/z",
    ],
)
def test_bad_workspace_id_is_a_kit_error(spec):
    with pytest.raises(KitError, match="workspace id"):
        open_source(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "kusto:",
        "kusto:mycluster.kusto.windows.net/logs",
        "kusto:http://mycluster.kusto.windows.net/logs",
        "kusto:https://mycluster.kusto.windows.net",
        "kusto:https://mycluster.kusto.windows.net/",
        "kusto:https://mycluster.kusto.windows.net/logs/extra",
        "kusto:https://mycluster.kusto.windows.net/logs?x=1",
        "kusto:https://mycluster.kusto.windows.net/logs;Fed=True",
        "kusto:https://mycluster.kusto.windows.net:99999/logs",
    ],
)
def test_bad_cluster_spec_is_a_kit_error(spec):
    with pytest.raises(KitError, match="kusto:https://CLUSTER/DATABASE"):
        open_source(spec)


def test_unknown_mode_is_a_kit_error():
    with pytest.raises(KitError, match="logging mode"):
        open_source(f"loganalytics:{WORKSPACE}", "legacy")


# --- conversion and the server itself --------------------------------------------------------


def test_kusto_types_map_to_the_kits_dtypes():
    frame = frame_from_rows(
        ["t", "n", "i", "r", "s", "b", "nb", "ts", "d", "g"],
        ["datetime", "long", "int", "real", "string", "bool", "bool", "timespan", "dynamic", "guid"],
        [
            [
                "2025-02-25T09:19:25.3910000Z",
                1,
                None,
                "NaN",
                None,
                True,
                None,
                "1.02:03:04.5000000",
                {"a": 1},
                "0f3c8a52-6b1d-4e27-9a4f-2c5d7e9b1a60",
            ],
            [
                dt.datetime(2025, 2, 25, 10, 0, tzinfo=dt.UTC),
                2,
                7,
                1.5,
                "x",
                False,
                True,
                "-00:00:01",
                '{"b":2}',
                None,
            ],
        ],
    )
    assert str(frame["t"].dtype) == "datetime64[us]"
    assert frame["t"].tolist() == [pd.Timestamp("2025-02-25 09:19:25.391"), pd.Timestamp("2025-02-25 10:00")]
    assert frame["n"].dtype == "int64" and frame["i"].dtype == "Int64"
    assert frame["r"].dtype == "float64" and pd.isna(frame["r"][0]) and frame["r"][1] == 1.5
    assert frame["s"].dtype == "str" and frame["s"].tolist() == ["", "x"]
    assert frame["b"].dtype == "bool" and frame["nb"].dtype == "boolean"
    assert frame["ts"].tolist() == [pd.Timedelta(days=1, hours=2, minutes=3, seconds=4.5), pd.Timedelta(seconds=-1)]
    assert frame["d"].tolist() == ['{"a": 1}', '{"b":2}']
    empty = frame_from_rows(["t", "n"], ["datetime", "long"], [])
    assert list(empty.columns) == ["t", "n"] and len(empty) == 0
    with pytest.raises(KitError, match="column 't'"):
        frame_from_rows(["t"], ["datetime"], [["yesterday"]])


def test_replay_server_stops_itself(certificate):
    replay = Replay({}, *certificate, lifetime=0.3).start()
    assert replay.stopped.wait(timeout=5)
    replay.thread.join(timeout=5)
    assert not replay.thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", replay.port), timeout=1).close()


# --- the whole investigation through the real Log Analytics client ------------------------


def test_an_investigation_through_log_analytics_finds_what_the_local_file_shows(serve):
    """Same rows, same findings: the SDK path, the type mapping and the analysis agree end to end."""
    from analysis.assets import SAMPLE_LOGS, sample_dir
    from analysis.investigation.run import investigate
    from analysis.sources.local import open_local

    local = open_local(sample_dir() / SAMPLE_LOGS)
    replay = serve({}, respond=answer_like_log_analytics(local))
    window = local.time_range()
    start, end = window[0].floor("min"), window[1].floor("min") + pd.Timedelta(minutes=1)
    remote = investigate(la_source(replay), start, end).findings
    expected = investigate(local, start, end).findings
    assert len(replay.requests_to(LA_PATH)) == len(remote["queries"]) + 1  # one load_drivers run is not reported
    # Only the local source reads rows one by one, so only it has a data-quality record.
    assert remote.pop("data_quality") is None and expected.pop("data_quality")["rows"] == len(
        local.run("ApiManagementGatewayLogs")
    )
    for document in (remote, expected):
        document.pop("source")
        for query in document.pop("queries"):
            assert query["rows"] > 0
    assert remote == expected
    assert remote["verdict"] == "snat_exhaustion"


# --- throttling, refusals, timeouts, bad answers: each one line ------------------------------


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def in_turn(*answers):
    """A handler giving each answer once, in order, then the last one again."""
    given = []

    def respond(seen):
        given.append(seen)
        return answers[min(len(given), len(answers)) - 1]

    return respond


def test_loganalytics_429_is_retried_after_the_time_the_service_asks_for(serve):
    health = (FIXTURES / "loganalytics_health.json").read_bytes()
    throttled = (429, error_body("ThrottledError", "Too many requests"), {"Retry-After": "2"})
    replay = serve({}, respond=in_turn(throttled, (200, health)))
    frame = la_source(replay, client_options={"retry_total": 3}).run(health_kql())
    assert_typed_health(frame, make_fixtures.HEALTH_ROWS)
    first, second = replay.requests_to(LA_PATH)
    assert second.at - first.at >= 1.9  # Retry-After: 2 honoured, not the 1 s backoff
    assert second.json()["query"] == first.json()["query"]


def test_kusto_429_is_retried_after_the_time_the_service_asks_for(serve):
    frames = (FIXTURES / "kusto_health.json").read_bytes()
    throttled = (429, error_body("TooManyRequests", "throttled"), {"Retry-After": "2"})
    replay = serve({("GET", KUSTO_METADATA): "kusto_metadata.json"}, respond=in_turn(throttled, (200, frames)))
    frame = KustoSource(replay.url, "gatewaylogs", credential=FakeCredential()).run(health_kql())
    assert_typed_health(frame, make_fixtures.HEALTH_ROWS)
    first, second = replay.requests_to(KUSTO_QUERY)
    assert second.at - first.at >= 1.9


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, error_body("InvalidTokenError", "The provided authentication is not valid"), "refused the sign-in (401"),
        (403, error_body("InsufficientAccessError", "insufficient access"), "Log Analytics Reader role"),
        (429, error_body("ThrottledError", "Too many requests"), "still throttled (429)"),
        (200, b"<html>proxy login page</html>", "HTTP 200"),
        (
            200,
            b'{"tables": [{"name": "PrimaryResult", "columns": [{"name": "minute", "type": "datetime"}], '
            b'"rows": [["yesterday"]]}]}',
            "column 'minute'",
        ),
    ],
    ids=["401", "403", "429-without-retry-after", "not-json", "bad-value"],
)
def test_loganalytics_failures_are_one_line_naming_the_workspace(serve, status, body, expected):
    replay = serve({}, respond=lambda seen: (status, body))
    with pytest.raises(KitError) as caught:
        la_source(replay).run(health_kql())
    message = str(caught.value)
    assert "\n" not in message and expected in message
    assert WORKSPACE in message or "minute" in message


def test_loganalytics_server_timeout_is_not_sent_again_whole(serve):
    replay = serve({}, respond=lambda seen: (504, error_body("GatewayTimeout", "Gateway timeout")))
    with pytest.raises(KitError, match="outran its server timeout of 30 s") as caught:
        la_source(replay, server_timeout=30, client_options={"retry_total": 3}).run(health_kql())
    assert "\n" not in str(caught.value)
    assert len(replay.requests_to(LA_PATH)) == 1
    assert replay.requests_to(LA_PATH)[0].headers["prefer"] == "wait=30"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, b"", "refused the sign-in (401)"),
        (
            403,
            json.dumps(
                make_fixtures.kusto_error() | {"error": make_fixtures.kusto_error()["error"] | {"code": "Forbidden"}}
            ).encode(),
            "Forbidden",
        ),
        (504, b"", "outran its server timeout"),
        (200, b'[{"FrameType": "DataSetHeader"', "gatewaylogs"),
    ],
    ids=["401", "403", "server-timeout", "truncated-json"],
)
def test_kusto_failures_are_one_line(serve, status, body, expected):
    replay = serve({("GET", KUSTO_METADATA): "kusto_metadata.json"}, respond=lambda seen: (status, body))
    with pytest.raises(KitError) as caught:
        KustoSource(replay.url, "gatewaylogs", credential=FakeCredential()).run(health_kql())
    message = str(caught.value)
    assert "\n" not in message and expected in message


# --- where the query goes: a resource, several workspaces, the text itself --------------------

RESOURCE = (
    "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/resourceGroups/rg-apim/providers/"
    "Microsoft.ApiManagement/service/contoso-apim"
)
OTHER_WORKSPACE = "7d41e2b9-5c3a-4f86-b0e1-92a7c5d3f4e8"


def test_resource_scoped_logs_are_asked_of_the_resource(serve):
    replay = serve({("POST", f"/v1{RESOURCE}/query"): "loganalytics_health.json"})
    source = LogAnalyticsSource(
        resource_id=RESOURCE, credential=FakeCredential(), endpoint=replay.url, client_options={"retry_total": 0}
    )
    frame = source.run(health_kql())
    assert_typed_health(frame, make_fixtures.HEALTH_ROWS)
    assert [seen.path for seen in replay.seen] == [f"/v1{RESOURCE}/query"]
    assert source.description == "Log Analytics logs of contoso-apim (ApiManagementGatewayLogs)"


def test_several_workspaces_are_one_query_over_all(serve):
    replay = serve({("POST", LA_PATH): "loganalytics_health.json"})
    source = open_source([f"loganalytics:{WORKSPACE}", f"loganalytics:{OTHER_WORKSPACE.upper()}"]).inner
    source.endpoint, source.credential, source.client_options = replay.url, FakeCredential(), {"retry_total": 0}
    source.run(health_kql())
    (seen,) = replay.requests_to(LA_PATH)
    assert seen.json()["workspaces"] == [OTHER_WORKSPACE]
    assert source.description.endswith("and 1 more workspace (ApiManagementGatewayLogs)")


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["loganalytics-resource:/subscriptions/x/resourceGroups/y"], "not an Azure resource id"),
        ([f"loganalytics:{WORKSPACE}", "kusto:https://c.kusto.windows.net/db"], "unioned by Log Analytics"),
        ([f"loganalytics:{WORKSPACE}", "loganalytics:nope"], "not a workspace id"),
        ([f"loganalytics:{WORKSPACE}", f"loganalytics-resource:{RESOURCE}"], "only the first --source"),
    ],
)
def test_bad_resource_ids_and_unions_are_refused_before_any_request(specs, message):
    with pytest.raises(KitError, match=message):
        open_source(specs)


def test_the_kql_sent_is_what_queries_show_prints(serve, capsys):
    from analysis.cli import main
    from analysis.investigation.run import run_query

    replay = serve({("POST", LA_PATH): "loganalytics_health.json"})
    window = {"start": pd.Timestamp("2025-02-25T09:00"), "end": pd.Timestamp("2025-02-25T10:00")}
    run_query(la_source(replay), "destination_health", window)
    assert (
        main(
            [
                "queries",
                "show",
                "destination_health",
                "--param",
                "start=2025-02-25T09:00Z",
                "--param",
                "end=2025-02-25T10:00Z",
            ]
        )
        == 0
    )
    (seen,) = replay.requests_to(LA_PATH)
    assert seen.json()["query"] == capsys.readouterr().out


# --- no network: one line naming the endpoint and the cause, nothing from the SDK's logs ------


def test_an_endpoint_refusing_connections_is_one_line_and_quick(serve):
    import time

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    source = LogAnalyticsSource(WORKSPACE, credential=FakeCredential(), endpoint=f"https://127.0.0.1:{port}")
    began = time.monotonic()
    with pytest.raises(KitError) as caught:
        source.run(health_kql())
    assert time.monotonic() - began < 15
    assert str(caught.value) == (
        f"Log Analytics workspace {WORKSPACE}: cannot reach https://127.0.0.1:{port} (connection refused for 127.0.0.1)"
    )


def no_name_resolution(*args, **kwargs):
    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


def test_without_name_resolution_the_query_line_names_the_endpoint_and_the_cause(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", no_name_resolution)
    source = LogAnalyticsSource(WORKSPACE, credential=FakeCredential())
    with pytest.raises(KitError) as caught:
        source.run(health_kql())
    message = str(caught.value)
    assert "cannot reach https://api.loganalytics.io" in message and "name resolution" in message
    assert "\n" not in message


def test_without_name_resolution_sign_in_blames_the_network_not_the_credential(monkeypatch, capsys, tmp_path):
    from analysis.cli import main

    monkeypatch.setattr(socket, "getaddrinfo", no_name_resolution)
    monkeypatch.setenv("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
    monkeypatch.setenv("AZURE_CLIENT_ID", "2b9f1c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-a-real-secret")
    code = main(
        [
            "query",
            "--source",
            f"loganalytics:{WORKSPACE}",
            "--auth",
            "environment",
            "--kql",
            "GatewayRequests | count",
            "--start",
            "2025-02-25T09:00Z",
            "--end",
            "2025-02-25T10:00Z",
            "--cache",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    # azure-identity's own log lines are silenced: the kit's window line, then one error line.
    assert [line.split()[1] for line in err.splitlines()] == ["window", "error:"], err
    assert "name resolution" in err and "login.microsoftonline.com" in err and "AZURE_CLIENT_SECRET" not in err


class NoManagedIdentity(FakeCredential):
    """DefaultAzureCredential on a machine with network but no identity: the IMDS probe times out."""

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        try:
            raise ServiceRequestError(
                "HTTPConnectionPool(host='169.254.169.254', port=80): Max retries exceeded "
                "(Caused by ConnectTimeoutError('Connection to 169.254.169.254 timed out. (connect timeout=2)'))"
            )
        except ServiceRequestError as probe:
            raise CredentialUnavailableError(
                "ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint."
            ) from probe


def test_a_machine_without_an_identity_is_told_to_sign_in_not_to_check_the_network(serve):
    replay = serve({("POST", LA_PATH): "loganalytics_health.json"})
    with pytest.raises(KitError) as caught:
        la_source(replay, NoManagedIdentity()).run(health_kql())
    message = str(caught.value)
    assert "az login" in message and "network" not in message and "169.254" not in message


def test_a_429_without_retry_after_is_retried_with_backoff(serve):
    health = (FIXTURES / "loganalytics_health.json").read_bytes()
    replay = serve({}, respond=in_turn((429, error_body("ThrottledError", "Too many requests")), (200, health)))
    la_source(replay, client_options={"retry_total": 3, "retry_backoff_factor": 0.1}).run(health_kql())
    assert len(replay.requests_to(LA_PATH)) == 2
