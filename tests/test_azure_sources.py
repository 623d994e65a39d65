"""The Azure sources against recorded responses served over HTTPS on 127.0.0.1.

The real SDK clients (azure-monitor-query, azure-kusto-data) talk to a small local
server that replays the files in tests/fixtures/azure/ and records what it was sent.
TLS is real: azure-core refuses to send a bearer token over plain HTTP, so the
server uses a certificate made for 127.0.0.1 at test time, trusted through
``REQUESTS_CA_BUNDLE`` (both SDKs send through ``requests``). Nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from ipaddress import IPv4Address
from pathlib import Path

import pandas as pd
import pytest
from azure.core.credentials import AccessToken
from azure.identity import CredentialUnavailableError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from analysis import queries
from analysis.errors import KitError
from analysis.sources import open_source
from analysis.sources.azure import frame_from_rows
from analysis.sources.kusto import KustoSource
from analysis.sources.loganalytics import LogAnalyticsSource

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "azure"
WORKSPACE = "0f3c8a52-6b1d-4e27-9a4f-2c5d7e9b1a60"
LA_PATH = f"/v1/workspaces/{WORKSPACE}/query"
KUSTO_QUERY = "/v2/rest/query"
KUSTO_METADATA = "/v1/rest/auth/metadata"
SERVER_LIFETIME = 30.0


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_fixtures = _load_generator()


# --- a bounded HTTPS server that replays fixtures -------------------------------------------


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Replay:
    """Routes ``(method, path) -> fixture file``; records every request; stops itself after ``lifetime`` s.

    ``respond``, when given, answers a request that has no route: ``Seen -> (status, JSON bytes)``.
    """

    routes: dict[tuple[str, str], str]
    cert: Path
    key: Path
    lifetime: float = SERVER_LIFETIME
    seen: list[Seen] = field(default_factory=list)
    respond: Callable[[Seen], tuple[int, bytes]] | None = None

    def __post_init__(self) -> None:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a stuck client cannot hold the server

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                seen = Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
                replay.seen.append(seen)
                name = replay.routes.get((self.command, path))
                if name is None and replay.respond is not None:
                    status, payload = replay.respond(seen)
                elif name is None:
                    status, payload = 404, b'{"error":{"code":"NotFound","message":"no recorded response"}}'
                else:
                    status, payload = make_fixtures.STATUS.get(name, 200), (FIXTURES / name).read_bytes()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.timer = threading.Timer(self.lifetime, self.stop)
        self.timer.daemon = True
        self.stopped = threading.Event()

    def start(self) -> Replay:
        self.thread.start()
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.cancel()
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self.stopped.set()

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for one hour around now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def serve(certificate, monkeypatch):
    """Start a replay server for some routes; trust its certificate; stop it after the test."""
    started: list[Replay] = []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def start(
        routes: dict[tuple[str, str], str],
        lifetime: float = SERVER_LIFETIME,
        respond: Callable[[Seen], tuple[int, bytes]] | None = None,
    ) -> Replay:
        replay = Replay(routes, *certificate, lifetime=lifetime, respond=respond).start()
        started.append(replay)
        return replay

    yield start
    for replay in started:
        replay.stop()


class FakeCredential:
    """A token credential that hands out a fixed token and records the scopes asked for.

    ``get_token`` is enough: azure-core uses ``get_token_info`` only when it exists, and
    azure-kusto-data calls ``get_token`` directly (and ``close`` when its client closes).
    """

    token = "fake-token-for-tests"

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    def close(self) -> None:
        self.closed = True


class NoSignIn(FakeCredential):
    """What DefaultAzureCredential does on a machine where nobody signed in."""

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        raise CredentialUnavailableError(
            message="DefaultAzureCredential failed to retrieve a token from the included credentials."
            "\nAttempted credentials: ..."
        )


def health_kql(mode: str = "resource") -> str:
    window = {"start": pd.Timestamp("2025-02-25T09:00"), "end": pd.Timestamp("2025-02-25T10:00")}
    return queries.load("destination_health").render(window, mode)


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


def la_source(replay: Replay, credential=None, **kwargs) -> LogAnalyticsSource:
    return LogAnalyticsSource(
        WORKSPACE,
        credential=credential or FakeCredential(),
        endpoint=replay.url,
        client_options={"retry_total": 0},
        **kwargs,
    )


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

    def default_credential() -> FakeCredential:
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
    source = open_source(f"loganalytics:{WORKSPACE.upper()}")
    assert isinstance(source, LogAnalyticsSource)
    assert source.workspace_id == WORKSPACE and source.mode == "resource" and source.time_range() is None
    assert source.description == f"Log Analytics workspace {WORKSPACE[:8]}… (ApiManagementGatewayLogs)"
    legacy = open_source("kusto:https://mycluster.westeurope.kusto.windows.net/logs", "azurediagnostics")
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

KUSTO_TYPES = {"datetime64[us]": "datetime", "int64": "long", "Int64": "long", "float64": "real", "bool": "bool"}


def answer_like_log_analytics(local) -> Callable[[Seen], tuple[int, bytes]]:
    """A workspace stand-in: runs the posted KQL on a local export and answers in the query API's JSON."""

    def respond(seen: Seen) -> tuple[int, bytes]:
        frame = local.run(seen.json()["query"])
        columns = [
            {"name": name, "type": KUSTO_TYPES.get(str(dtype), "string")} for name, dtype in frame.dtypes.items()
        ]
        rows = [
            [
                None if pd.isna(value) else value.isoformat() + "Z" if isinstance(value, pd.Timestamp) else value
                for value in row
            ]
            for row in frame.astype(object).itertuples(index=False)
        ]
        return 200, json.dumps(
            {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]}, default=int
        ).encode()

    return respond


def test_an_investigation_through_log_analytics_finds_what_the_local_file_shows(serve):
    """Same rows, same findings: the SDK path, the type mapping and the analysis agree end to end."""
    from analysis.assets import SAMPLE_LOGS, sample_dir
    from analysis.investigation import investigate
    from analysis.sources.local import open_local

    local = open_local(sample_dir() / SAMPLE_LOGS)
    replay = serve({}, respond=answer_like_log_analytics(local))
    window = local.time_range()
    start, end = window[0].floor("min"), window[1].floor("min") + pd.Timedelta(minutes=1)
    remote = investigate(la_source(replay), start, end).findings
    expected = investigate(local, start, end).findings
    assert len(replay.requests_to(LA_PATH)) == len(remote["queries"]) + 1  # one load_drivers run is not reported
    # Only the local source reads rows one by one, so only it has a data-quality record.
    assert remote.pop("data_quality") is None and expected.pop("data_quality")["rows"] == 52500
    for document in (remote, expected):
        document.pop("source")
        for query in document.pop("queries"):
            assert query["rows"] > 0
    assert remote == expected
    assert remote["verdict"] == "snat_exhaustion"
