"""A local stand-in for the Azure query services, for tests: HTTPS on 127.0.0.1, real wire formats.

The real SDK clients (azure-monitor-query, azure-monitor-querymetrics, azure-kusto-data)
talk to a small server that replays the files in tests/fixtures/azure/ (or answers
through a function) and records what it was sent. TLS is real: azure-core refuses to
send a bearer token over plain HTTP, so the server uses a certificate made for
127.0.0.1 at test time, trusted through ``REQUESTS_CA_BUNDLE`` (the SDKs send through
``requests``). Nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import parse_qs

import pandas as pd
import pytest
from azure.core.credentials import AccessToken
from azure.identity import CredentialUnavailableError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from analysis.sources.loganalytics import LogAnalyticsSource

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "azure"
WORKSPACE = "0f3c8a52-6b1d-4e27-9a4f-2c5d7e9b1a60"
LA_PATH = f"/v1/workspaces/{WORKSPACE}/query"
KUSTO_QUERY = "/v2/rest/query"
KUSTO_METADATA = "/v1/rest/auth/metadata"
SERVER_LIFETIME = 30.0
#: What a handler may answer: status and JSON body, optionally with extra headers.
Answer = tuple[int, bytes] | tuple[int, bytes, dict[str, str]]


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
    query: dict[str, list[str]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body)


@dataclass
class Replay:
    """Routes ``(method, path) -> fixture file``; records every request; stops itself after ``lifetime`` s.

    ``respond``, when given, answers a request that has no route: ``Seen -> (status, JSON bytes[, headers])``.
    """

    routes: dict[tuple[str, str], str]
    cert: Path
    key: Path
    lifetime: float = SERVER_LIFETIME
    seen: list[Seen] = field(default_factory=list)
    respond: Callable[[Seen], Answer] | None = None

    def __post_init__(self) -> None:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a stuck client cannot hold the server

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                headers_seen = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, path, headers_seen, body, parse_qs(query))
                replay.seen.append(seen)
                name = replay.routes.get((self.command, path))
                headers: dict[str, str] = {}
                if name is None and replay.respond is not None:
                    status, payload, *more = replay.respond(seen)
                    headers = more[0] if more else {}
                elif name is None:
                    status, payload = 404, b'{"error":{"code":"NotFound","message":"no recorded response"}}'
                else:
                    status, payload = make_fixtures.STATUS.get(name, 200), (FIXTURES / name).read_bytes()
                self.send_response(status)
                for header, value in headers.items():
                    self.send_header(header, value)
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
        respond: Callable[[Seen], Answer] | None = None,
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


def la_source(replay: Replay, credential=None, **kwargs) -> LogAnalyticsSource:
    """A workspace source pointed at the replay server, signed in with a fake token, no retries unless asked."""
    options = {"retry_total": 0} | kwargs.pop("client_options", {})
    return LogAnalyticsSource(
        WORKSPACE,
        credential=credential or FakeCredential(),
        endpoint=replay.url,
        client_options=options,
        **kwargs,
    )


KUSTO_TYPES = {
    "datetime64[us]": "datetime",
    "int64": "long",
    "Int64": "long",
    "int32": "int",
    "Int32": "int",
    "float64": "real",
    "bool": "bool",
    "boolean": "bool",
}
_WINDOW = re.compile(r"^let (start|end) = datetime\(([^)]+)\);$", re.M)


def window_of(kql: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window a rendered query asks for, read from its ``let start/end`` lines."""
    found = dict(_WINDOW.findall(kql))
    return pd.Timestamp(found["start"]).tz_localize(None), pd.Timestamp(found["end"]).tz_localize(None)


def _wire(value):
    if pd.isna(value):
        return None
    return value.isoformat() + "Z" if isinstance(value, pd.Timestamp) else value


def log_analytics_tables(frame: pd.DataFrame) -> dict:
    """A frame as the query API's ``{"tables": [...]}`` body."""
    columns = [{"name": name, "type": KUSTO_TYPES.get(str(dtype), "string")} for name, dtype in frame.dtypes.items()]
    rows = [
        [
            None if pd.isna(value) else value.isoformat() + "Z" if isinstance(value, pd.Timestamp) else value
            for value in row
        ]
        for row in frame.astype(object).itertuples(index=False)
    ]
    return {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]}


def answer_like_log_analytics(local, max_rows: int | None = None, max_minutes: int | None = None):
    """A workspace stand-in: runs the posted KQL on a local export and answers in the query API's JSON.

    Like the service, it cuts a result of more than ``max_rows`` rows (a partial result:
    the first rows and a ``PartialError``), and stops a query whose window is longer than
    ``max_minutes`` (HTTP 504, as at the server timeout).
    """

    def respond(seen: Seen) -> Answer:
        kql = seen.json()["query"]
        if max_minutes is not None:
            start, end = window_of(kql)
            if end - start > pd.Timedelta(minutes=max_minutes):
                return 504, json.dumps({"error": {"code": "GatewayTimeout", "message": "Gateway timeout"}}).encode()
        frame = local.run(kql)
        body = log_analytics_tables(frame if max_rows is None else frame.head(max_rows))
        if max_rows is not None and len(frame) > max_rows:
            body["error"] = make_fixtures.loganalytics_partial()["error"]
        return 200, json.dumps(body, default=int).encode()

    return respond


METRICS_PATH = "/subscriptions/{subscription}/metrics:getBatch"


def metrics_batch(resource_id: str, counts: pd.DataFrame, start: str, end: str) -> dict:
    """The metrics batch API's answer for APIM's ``Requests``, one series per region and error reason.

    ``counts`` has ``minute``, ``location``, ``last_error_reason`` and ``requests``.
    """
    series = []
    for (location, reason), rows in counts.groupby(["location", "last_error_reason"], sort=True):
        series.append(
            {
                "metadatavalues": [
                    {"name": {"value": "location", "localizedValue": "Location"}, "value": location},
                    {"name": {"value": "lasterrorreason", "localizedValue": "Last Error Reason"}, "value": reason},
                ],
                "data": [
                    {"timeStamp": minute.isoformat() + "Z", "total": float(total)}
                    for minute, total in zip(rows["minute"], rows["requests"], strict=True)
                ],
            }
        )
    return {
        "values": [
            {
                "starttime": start,
                "endtime": end,
                "interval": "PT1M",
                "namespace": "Microsoft.ApiManagement/service",
                "resourceregion": "westeurope",
                "resourceid": resource_id,
                "value": [
                    {
                        "id": f"{resource_id}/providers/Microsoft.Insights/metrics/Requests",
                        "type": "Microsoft.Insights/metrics",
                        "name": {"value": "Requests", "localizedValue": "Requests"},
                        "displayDescription": "Gateway requests",
                        "unit": "Count",
                        "timeseries": series,
                        "errorCode": "Success",
                    }
                ],
            }
        ]
    }


def metric_counts(logs: pd.DataFrame) -> pd.DataFrame:
    """What the platform would count for these gateway rows: requests per minute, region and error reason."""
    frame = pd.DataFrame(
        {
            "minute": pd.to_datetime(logs["TimeGenerated"]).dt.floor("min").astype("datetime64[us]"),
            "location": logs["Region"].astype(str),
            "last_error_reason": logs["LastErrorReason"].astype(str).replace("", "None"),
        }
    )
    return (
        frame.groupby(["minute", "location", "last_error_reason"], as_index=False)
        .size()
        .rename(columns={"size": "requests"})
    )


def answer_like_metrics(resource_id: str, logs: pd.DataFrame):
    """A metrics stand-in: the Requests metric of ``logs`` (all of them: the platform does not sample)."""
    counts = metric_counts(logs)

    def respond(seen: Seen) -> Answer:
        return 200, json.dumps(
            metrics_batch(resource_id, counts, "2025-02-25T08:30:00Z", "2025-02-25T10:30:00Z")
        ).encode()

    return respond


def answer_like_kusto(local, max_rows: int | None = None):
    """A cluster stand-in: runs the posted KQL on a local export and answers in the v2 REST frames.

    Like the service with ``deferpartialqueryfailures``, a result of more than ``max_rows``
    rows comes back cut, with the limit's error in QueryCompletionInformation.
    """

    def respond(seen: Seen) -> Answer:
        frame = local.run(seen.json()["csl"])
        cut = max_rows is not None and len(frame) > max_rows
        table = log_analytics_tables(frame.head(max_rows) if cut else frame)["tables"][0]
        frames = make_fixtures.kusto_frames(table["rows"], make_fixtures.TRUNCATED if cut else None)
        primary = next(f for f in frames if f.get("TableKind") == "PrimaryResult")
        primary["Columns"] = [{"ColumnName": c["name"], "ColumnType": c["type"]} for c in table["columns"]]
        return 200, json.dumps(frames, default=int).encode()

    return respond
