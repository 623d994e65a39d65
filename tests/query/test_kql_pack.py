"""The packaged KQL queries: valid Kusto in both logging modes, safe against hostile values,
right numbers on the local engine (checked against pandas from the raw rows), aggregated output."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import duckdb_kql
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.query import pack
from analysis.query.literals import kql_literal
from analysis.query.modes import Mode
from analysis.sources.base import Request
from analysis.sources.local import open_local
from analysis.synthetic.exports import to_app_insights, to_azure_diagnostics, write_app_insights, write_parquet
from tests import kusto_language as kl
from tests.oracles import nearest_rank

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

WINDOW = {"start": pd.Timestamp("2025-02-25 08:30"), "end": pd.Timestamp("2025-02-25 10:30")}
MODES = tuple(Mode)
PACK = {query.name: query for query in pack.packaged()}
GATEWAY_COLUMNS = (
    "TimeGenerated",
    "BackendUrl",
    "Method",
    "ResponseCode",
    "BackendResponseCode",
    "BackendTime",
    "TotalTime",
    "LastErrorReason",
    "LastErrorSource",
    "LastErrorSection",
    "LastErrorMessage",
    "ApiId",
    "OperationId",
    "ApimSubscriptionId",
    "CallerIpAddress",
    "Cache",
    "Scheme",
    "Host",
    "Port",
    "Destination",
    "ItemCount",
)
# Values that would change the query if they were pasted in rather than quoted.
HOSTILE = (
    '"; print injected = 1; //',
    'x" or 1 == 1 or "',
    'a"\n| project injected = 1\n//',
    "\\",
    'orders.contoso-backend.com:443" | take 0 //',
    "';\n```\n|;//\u2028漢字🚀",
)
LATENCY_EDGES = np.array([0, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000])
DRIVER_KEYS = {
    "api": "ApiId",
    "operation": "OperationId",
    "subscription": "ApimSubscriptionId",
    "caller_ip": "CallerIpAddress",
}
CONNECTION_FAILURE = "BackendConnectionFailure"


def rendered(name: str, mode: str, **values) -> str:
    """A packaged query as runnable text: the sample window, other parameters at their defaults."""
    return PACK[name].render({**WINDOW, **values}, mode)


def misspell_first_column(name: str, mode: str) -> tuple[str, str, int]:
    """The rendered query with the first normalised column its body names misspelled (not one in
    the mode's prelude), the misspelled name, and where the body starts."""
    text = rendered(name, mode)
    body_at = text.index(PACK[name].body)
    match = re.compile(r"\b(" + "|".join(GATEWAY_COLUMNS) + r")\b").search(text, body_at)
    wrong = match.group(1) + "x"
    return text[: match.start()] + wrong + text[match.end() :], wrong, body_at


def statement_count(text: str) -> int:
    """How many ``;``-separated statements a KQL parser reads in the text."""
    parsed = duckdb_kql.parse(text)
    assert parsed.ok, parsed.diagnostics
    return len(parsed.tree.query().statement())


def naively_quoted(value: str) -> str:
    """load_drivers with ``destination`` pasted between quotes instead of escaped: what not to do."""
    return rendered("load_drivers", "resource").replace('let destination = "";', f'let destination = "{value}";')


def window_of(incident, name: str) -> dict[str, pd.Timestamp]:
    """The scenario's whole time range as query parameters."""
    scenario = incident(name).scenario
    start = pd.Timestamp(scenario.start)
    return {"start": start, "end": start + pd.Timedelta(minutes=scenario.duration_minutes)}


def run_local(scenario_export, incident, name: str, mode: str, query: str, **values) -> pd.DataFrame:
    """A packaged query run on a scenario export in ``mode`` by the local engine."""
    source = open_local(scenario_export(name, mode))
    assert source.mode == mode
    return source.run(PACK[query].render({**window_of(incident, name), **values}, mode))


def _destination(url: str) -> tuple[str, str, str, str]:
    """Scheme, host, port and host:port of a backend URL, with the scheme's default port."""
    if not url:
        return "", "", "", ""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = str(parts.port) if parts.port is not None else ("80" if scheme in ("http", "ws") else "443")
    return scheme, host, port, (f"{host}:{port}" if host else "")


def requests_of(logs: pd.DataFrame, window: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """The raw rows of the window with empty strings for missing text and the backend destination."""
    frame = logs[(logs["TimeGenerated"] >= window["start"]) & (logs["TimeGenerated"] < window["end"])].copy()
    for column in (
        "BackendUrl",
        "Method",
        "LastErrorReason",
        "LastErrorSource",
        "LastErrorSection",
        "LastErrorMessage",
        "ApiId",
        "OperationId",
        "ApimSubscriptionId",
        "CallerIpAddress",
        "ProductId",
    ):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    parts = pd.DataFrame(
        [_destination(url) for url in frame["BackendUrl"]],
        index=frame.index,
        columns=["Scheme", "Host", "Port", "Destination"],
    )
    return frame.join(parts)


def scoped(requests: pd.DataFrame, destination: str = "") -> pd.DataFrame:
    """Rows with a destination, restricted to one when given."""
    keep = requests["Destination"] != ""
    if destination:
        keep &= requests["Destination"] == destination
    return requests[keep]


def failures(frame: pd.DataFrame) -> int:
    return int((frame["LastErrorReason"] == CONNECTION_FAILURE).sum())


def server_errors(frame: pd.DataFrame) -> int:
    return int((frame["ResponseCode"] >= 500).sum())


def expected_inventory(requests: pd.DataFrame) -> pd.DataFrame:
    rows = scoped(requests)
    total, total_errors = len(rows), server_errors(rows)
    out = []
    for (destination, scheme, host, port), group in rows.groupby(["Destination", "Scheme", "Host", "Port"]):
        out.append(
            {
                "destination": destination,
                "scheme": scheme,
                "host": host,
                "port": port,
                "requests": len(group),
                "http_5xx": server_errors(group),
                "connection_failures": failures(group),
                "backend_p95_ms": nearest_rank(group["BackendTime"].astype("float64"), 95),
                "first_seen": group["TimeGenerated"].min(),
                "last_seen": group["TimeGenerated"].max(),
                "request_share": len(group) / total,
                "error_share": server_errors(group) / total_errors if total_errors else 0.0,
            }
        )
    return pd.DataFrame(out)


def expected_errors(requests: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple, set[str]]]:
    """Error groups without the sample message, and every message of each group."""
    rows = requests[requests["LastErrorReason"] != ""]
    keys = ["Destination", "LastErrorReason", "LastErrorSource", "LastErrorSection"]
    out, messages = [], {}
    for key, group in rows.groupby(keys):
        out.append(
            {
                "destination": key[0],
                "reason": key[1],
                "source": key[2],
                "section": key[3],
                "errors": len(group),
                "first_seen": group["TimeGenerated"].min(),
                "last_seen": group["TimeGenerated"].max(),
            }
        )
        messages[key] = set(group["LastErrorMessage"])
    return pd.DataFrame(out), messages


def expected_drivers(requests: pd.DataFrame, destination: str = "", min_share: float = 0.01) -> pd.DataFrame:
    rows = scoped(requests, destination)
    out = []
    for kind, column in DRIVER_KEYS.items():
        for key, group in rows.groupby(column):
            share = len(group) / len(rows)
            if share >= min_share:
                out.append(
                    {
                        "key_kind": kind,
                        "key": key,
                        "requests": len(group),
                        "share": share,
                        "connection_failures": failures(group),
                    }
                )
    return pd.DataFrame(out)


def expected_latency(requests: pd.DataFrame, destination: str = "") -> pd.DataFrame:
    rows = scoped(requests, destination)
    rows = rows[rows["BackendTime"].notna()]
    backend = rows["BackendTime"].astype("int64").to_numpy()
    bucket = LATENCY_EDGES[np.maximum(np.searchsorted(LATENCY_EDGES, backend, side="right") - 1, 0)]
    out = []
    for edge in sorted(set(bucket.tolist())):
        group = rows[bucket == edge]
        out.append(
            {
                "bucket_ms": edge,
                "requests": len(group),
                "connection_failures": failures(group),
                "timeouts": int((group["LastErrorReason"] == "Timeout").sum()),
                "http_5xx": server_errors(group),
            }
        )
    return pd.DataFrame(out)


def expected_fingerprint(requests: pd.DataFrame) -> pd.DataFrame:
    """Failed and late successful calls per region, destination, reason, source, answered or not and whole
    second elapsed (capped at 300)."""
    rows = scoped(requests)
    failed = rows["LastErrorReason"].isin(["BackendConnectionFailure", "Timeout", "ClientConnectionFailure"])
    late = rows["ResponseCode"].between(200, 399) & (rows["BackendTime"].astype("Float64") >= 1000)
    rows = rows[failed | late.fillna(False)].copy()
    elapsed = rows["LastErrorElapsed"].astype("Float64").fillna(rows["BackendTime"].astype("Float64"))
    rows["elapsed_s"] = (elapsed // 1000).clip(upper=300)
    rows["answered"] = rows["BackendResponseCode"].notna()
    keys = ["Region", "Destination", "LastErrorReason", "LastErrorSource", "answered", "elapsed_s"]
    counted = rows.groupby(keys, dropna=False).size().reset_index(name="requests")
    names = ["region", "destination", "reason", "source", "answered", "elapsed_s"]
    return counted.rename(columns=dict(zip(keys, names, strict=True)))[[*names, "requests"]]


CALL_KEYS = {
    "api": "ApiId",
    "operation": "OperationId",
    "product": "ProductId",
    "subscription": "ApimSubscriptionId",
    "caller_range": "CallerRange",
}


def failed_calls(rows: pd.DataFrame) -> pd.Series:
    """Failed requests as destination_health counts them: HTTP 5xx, or an own call that did not connect or got
    no answer."""
    own = rows["LastErrorSource"].isin(["", "forward-request", "request-forwarder"])
    answered = rows["BackendResponseCode"].notna()
    unanswered = ~answered & rows["LastErrorReason"].isin(["Timeout", "ClientConnectionFailure"])
    connect = own & ((rows["LastErrorReason"] == CONNECTION_FAILURE) | unanswered)
    return (rows["ResponseCode"].astype("Float64") >= 500).fillna(False) | connect


def caller_range(ip: str) -> str:
    """An IPv4 address's /24, any other caller as it is."""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(parts[:3]) + ".0/24"
    return ip


def expected_calls(requests: pd.DataFrame, destination: str = "", region: str = "", min_share: float = 0.01):
    """Per minute, in all and per kept key: requests, failed requests and the answered calls' p95."""
    rows = scoped(requests, destination)
    if region:
        rows = rows[rows["Region"] == region]
    rows = rows.assign(
        failed=failed_calls(rows),
        CallerRange=rows["CallerIpAddress"].map(caller_range),
        minute=rows["TimeGenerated"].dt.floor("min"),
        answered_time=rows["BackendTime"].astype("Float64").where(rows["BackendResponseCode"].notna()),
    )
    calls, failures = len(rows), int(rows["failed"].sum())
    out = []
    keyed = [("all", rows.assign(key=""))] + [(k, rows.assign(key=rows[c])) for k, c in CALL_KEYS.items()]
    for kind, frame in keyed:
        totals = frame.groupby("key")["failed"].agg(["size", "sum"])
        busy = totals["size"] >= min_share * calls
        hurt = (totals["sum"] >= min_share * failures) & (failures > 0)
        kept = totals[(kind == "all") | busy | hurt].index
        for (minute, key), group in frame[frame["key"].isin(kept)].groupby(["minute", "key"]):
            out.append(
                {
                    "minute": minute,
                    "key_kind": kind,
                    "key": key,
                    "requests": len(group),
                    "failed_requests": int(group["failed"].sum()),
                    "answered_p95_ms": nearest_rank(group["answered_time"], 95),
                }
            )
    return pd.DataFrame(out)


def expected_instances(requests: pd.DataFrame) -> pd.DataFrame:
    """Requests and first and last time per instance name and region."""
    rows = requests.assign(instance=requests["_ResourceId"].str.rsplit("/", n=1).str[-1].str.lower())
    grouped = rows.groupby(["instance", "Region"])["TimeGenerated"].agg(["size", "min", "max"]).reset_index()
    return grouped.set_axis(["instance", "region", "requests", "first_seen", "last_seen"], axis=1)


def assert_same_rows(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Same columns in the same order; same rows whatever their order; counts exact, floats to 1e-12."""
    assert list(got.columns) == list(expected.columns)
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-12, atol=0)


def exhausted(incident, name: str) -> str:
    """The first destination the scenario drove into SNAT exhaustion."""
    return sorted(k for k, t in incident(name).truth.items() if t.classification == "snat_exhaustion")[0]


# ---------------------------------------------------------------------------------------------
# Microsoft's Kusto language service: valid text, same shape in both modes, no injection
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validated() -> dict[str, kl.ValidationResult]:
    """Every packaged query in both modes, a misspelled variant of each, and load_drivers with
    hostile destinations: all bound in one run of the language service."""
    texts = {}
    for name in PACK:
        for mode in MODES:
            texts[f"clean/{name}/{mode}"] = rendered(name, mode)
            texts[f"misspelled/{name}/{mode}"] = misspell_first_column(name, mode)[0]
    for index, value in enumerate(HOSTILE):
        for mode in MODES:
            texts[f"hostile/{index}/{mode}"] = rendered("load_drivers", mode, destination=value)
    texts["naive"] = naively_quoted(HOSTILE[0])
    return kl.validate(texts, kl.kit_tables())


def test_every_query_renders_with_only_the_window_given():
    """Every parameter other than the window has a declared default."""
    for query in PACK.values():
        assert {p.name for p in query.parameters if p.required} == {"start", "end"}, query.name


@pytest.mark.parametrize("name", sorted(PACK))
@pytest.mark.parametrize("mode", MODES)
def test_packaged_query_binds_without_errors(validated, name, mode):
    """The language service finds no error in the rendered query and reports a tabular result."""
    result = validated[f"clean/{name}/{mode}"]
    assert result.errors == (), "\n".join(map(str, result.errors))
    assert result.columns


@pytest.mark.parametrize("name", sorted(PACK))
def test_both_modes_give_the_same_columns_and_types(validated, name):
    """The legacy and the resource-specific table normalise to the same result shape."""
    assert validated[f"clean/{name}/azurediagnostics"].columns == validated[f"clean/{name}/resource"].columns


@pytest.mark.parametrize("name", sorted(PACK))
@pytest.mark.parametrize("mode", MODES)
def test_a_misspelled_column_in_the_body_is_an_error_naming_it(validated, name, mode):
    """The check can fail: one wrong column name in the body is reported, at its place."""
    text, wrong, body_at = misspell_first_column(name, mode)
    named = [e for e in validated[f"misspelled/{name}/{mode}"].errors if e.snippet == wrong]
    assert named, validated[f"misspelled/{name}/{mode}"].errors
    assert wrong in named[0].message
    assert text[named[0].start : named[0].end] == wrong and named[0].start > body_at


def test_hostile_destination_leaves_load_drivers_unchanged(validated):
    """A hostile ``destination`` binds as one value: no error, the same output columns."""
    for index in range(len(HOSTILE)):
        for mode in MODES:
            result = validated[f"hostile/{index}/{mode}"]
            assert result.errors == (), (HOSTILE[index], [str(e) for e in result.errors])
            assert result.columns == validated[f"clean/load_drivers/{mode}"].columns, HOSTILE[index]


@pytest.mark.parametrize("mode", MODES)
def test_hostile_destination_adds_no_statement(mode):
    """The rendered text keeps its statements whatever the value (the service reports only the last
    statement's columns, so an injected statement in the middle would not show there)."""
    clean = statement_count(rendered("load_drivers", mode))
    for value in HOSTILE:
        assert statement_count(rendered("load_drivers", mode, destination=value)) == clean, value


def test_statement_count_catches_naive_quoting(validated):
    """The check can fail: pasting the value between quotes adds a statement that neither an error
    nor the output columns reveal."""
    assert validated["naive"].errors == ()
    assert validated["naive"].columns == validated["clean/load_drivers/resource"].columns
    assert statement_count(naively_quoted(HOSTILE[0])) == statement_count(rendered("load_drivers", "resource")) + 1


def test_hostile_destination_matches_nothing_offline(scenario_export, incident):
    """Run locally, a hostile value is compared as text: no row matches it, the shape is kept."""
    clean = run_local(scenario_export, incident, "sample", "resource", "load_drivers")
    for value in HOSTILE:
        got = run_local(scenario_export, incident, "sample", "resource", "load_drivers", destination=value)
        assert got.empty and list(got.columns) == list(clean.columns), value


# Backend URLs carrying user information: a token as the user name, a password holding "@".
USERINFO_URLS = (
    "https://TOKEN-0123456789abcdef@orders.contoso.com/api/orders",
    "https://svc:p@ss@word@orders.contoso.com:443/api/orders",
    "http://user:secret@10.0.0.5:8080/health",
    "https://orders.contoso.com/api/orders",
)


@pytest.mark.parametrize("mode", MODES)
def test_user_information_never_becomes_part_of_a_destination(incident, tmp_path, mode):
    """Dropped before the URL is parsed, up to the last "@": one destination per host and port, as urlsplit."""
    called = incident("sample").all_requests.dropna(subset=["BackendTime"])  # forwarded: a dependency each
    logs = called.head(len(USERINFO_URLS)).assign(BackendUrl=list(USERINFO_URLS))
    path = tmp_path / "userinfo.parquet"
    if Mode(mode).app_insights:  # the dependencies' Data carries the URL as the gateway called it
        path = tmp_path / "userinfo"
        write_app_insights(to_app_insights(logs), path, classic_names=mode == Mode.APP_INSIGHTS_CLASSIC)
    else:
        write_parquet(logs if mode == Mode.RESOURCE else to_azure_diagnostics(logs), path)
    source = open_local(path)  # classic names are read into the workspace tables: the mode is detected
    try:
        query = PACK["destination_inventory"]
        got = source.run_request(Request(query, query.bind(WINDOW), source.mode))
    finally:
        source.close()
    expected = {_destination(url)[3] for url in USERINFO_URLS}
    assert expected == {"orders.contoso.com:443", "10.0.0.5:8080"}
    assert set(got["destination"]) == expected and set(got["host"]) == {"orders.contoso.com", "10.0.0.5"}


# Text built from the characters that matter to a KQL lexer, mixed with any other code point.
SPECIAL = st.sampled_from(
    [
        '"',
        "'",
        "\\",
        "\n",
        "\r\n",
        "\t",
        "|",
        ";",
        "//",
        "/*",
        "```",
        "@",
        "h'",
        "{",
        "}",
        "\x00",
        "\u2028",
        "é",
        "漢字",
        "🚀",
    ]
)
TEXT = st.lists(st.one_of(SPECIAL, st.characters(exclude_categories=("Cs",))), max_size=20).map("".join)


@settings(max_examples=6, deadline=None)
@given(st.lists(TEXT, min_size=30, max_size=30))
def test_any_string_literal_binds_as_one_string_column(texts):
    """``print v = <literal>`` binds with no error to exactly one string column ``v``."""
    results = kl.validate({str(i): f"print v = {kql_literal(t, 'string')}" for i, t in enumerate(texts)}, {})
    for index, text in enumerate(texts):
        result = results[str(index)]
        assert result.errors == (), (text, [str(e) for e in result.errors])
        assert result.columns == (("v", "string"),), text


# ---------------------------------------------------------------------------------------------
# Same numbers offline: the local engine against pandas on the raw rows
# ---------------------------------------------------------------------------------------------

CASES = [
    ("sample", "resource"),
    ("sample", "azurediagnostics"),
    ("two_exhausted", "resource"),
    ("noisy_with_gaps", "resource"),
]


@pytest.fixture(scope="module")
def raw(incident):
    """The raw rows of a scenario's window, with destinations, by scenario name (computed once)."""
    cache: dict[str, pd.DataFrame] = {}

    def get(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = requests_of(incident(name).logs, window_of(incident, name))
        return cache[name]

    return get


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_destination_inventory_matches_pandas(scenario_export, incident, raw, name, mode):
    """Counts, shares, nearest-rank p95 and first/last seen per destination."""
    got = run_local(scenario_export, incident, name, mode, "destination_inventory")
    expected = expected_inventory(raw(name))
    assert_same_rows(got, expected, ["destination"])
    assert got["request_share"].sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_error_breakdown_matches_pandas(scenario_export, incident, raw, name, mode):
    """Counts and first/last seen per error group; the sample message is one of the group's."""
    got = run_local(scenario_export, incident, name, mode, "error_breakdown")
    expected, messages = expected_errors(raw(name))
    assert list(got.columns) == [*expected.columns, "sample_message"]
    assert_same_rows(got.drop(columns="sample_message"), expected, ["destination", "reason", "source", "section"])
    for row in got.itertuples():
        assert row.sample_message in messages[(row.destination, row.reason, row.source, row.section)]


@pytest.mark.parametrize(("name", "mode"), CASES)
@pytest.mark.parametrize("scope", ["all", "exhausted"])
def test_load_drivers_matches_pandas(scenario_export, incident, raw, name, mode, scope):
    """Requests, shares and connection failures per key, for all destinations or one."""
    destination = exhausted(incident, name) if scope == "exhausted" else ""
    got = run_local(scenario_export, incident, name, mode, "load_drivers", destination=destination)
    expected = expected_drivers(raw(name), destination)
    assert not expected.empty
    assert_same_rows(got, expected, ["key_kind", "key"])


@pytest.mark.parametrize(("name", "mode"), CASES)
@pytest.mark.parametrize("scope", ["all", "exhausted"])
def test_latency_distribution_matches_pandas(scenario_export, incident, raw, name, mode, scope):
    """Requests and outcomes per BackendTime bucket, for all destinations or one."""
    destination = exhausted(incident, name) if scope == "exhausted" else ""
    got = run_local(scenario_export, incident, name, mode, "latency_distribution", destination=destination)
    expected = expected_latency(raw(name), destination)
    assert_same_rows(got, expected, ["bucket_ms"])
    assert got["bucket_ms"].tolist() == sorted(got["bucket_ms"])


@pytest.mark.parametrize(
    ("name", "mode"), [*CASES, ("forward_timeout_10s", "resource"), ("idle_cut", "azurediagnostics")]
)
def test_failure_fingerprint_matches_pandas(scenario_export, incident, raw, name, mode):
    """Failed and late calls per region, destination, reason, source, backend answer and second elapsed."""
    got = run_local(scenario_export, incident, name, mode, "failure_fingerprint")
    expected = expected_fingerprint(raw(name))
    assert not expected.empty
    assert_same_rows(got.drop(columns="sample_message"), expected, list(expected.columns[:-1]))


@pytest.mark.parametrize(("name", "mode"), CASES)
@pytest.mark.parametrize("scope", ["all", "exhausted"])
def test_calls_by_key_matches_pandas(scenario_export, incident, raw, name, mode, scope):
    """Per minute, in all and per kept API, operation, product, subscription and caller range: requests, failed
    requests counted as destination_health counts them, and the answered calls' p95."""
    destination = exhausted(incident, name) if scope == "exhausted" else ""
    got = run_local(scenario_export, incident, name, mode, "calls_by_key", destination=destination)
    got = got.astype({"answered_p95_ms": "float64"})  # a minute without an answered call has none
    expected = expected_calls(raw(name), destination)
    assert set(expected["key_kind"]) == {"all", *CALL_KEYS} and expected["failed_requests"].sum() > 0
    assert_same_rows(got, expected, ["minute", "key_kind", "key"])


def test_calls_by_key_adds_up_to_the_health_querys_failed_requests(scenario_export, incident):
    """The "all" rows of a destination are destination_health's requests and failed requests, minute by minute,
    and a kind's kept keys never count more than all of them."""
    destination = exhausted(incident, "sample")
    calls = run_local(scenario_export, incident, "sample", "resource", "calls_by_key", destination=destination)
    health = run_local(scenario_export, incident, "sample", "resource", "destination_health")
    health = health[health["destination"] == destination].set_index("minute")
    every = calls[calls["key_kind"] == "all"].set_index("minute")
    assert every["requests"].to_dict() == health["requests"].to_dict()
    assert every["failed_requests"].to_dict() == health["failed_requests"].to_dict()
    per_kind = calls[calls["key_kind"] != "all"].groupby(["minute", "key_kind"])[["requests", "failed_requests"]].sum()
    joined = per_kind.reset_index().merge(every[["requests", "failed_requests"]], on="minute", suffixes=("", "_all"))
    assert (joined["requests"] <= joined["requests_all"]).all()
    assert (joined["failed_requests"] <= joined["failed_requests_all"]).all()


def test_calls_by_key_reads_one_region_and_keeps_only_keys_with_a_share(scenario_export, incident, raw):
    destination = exhausted(incident, "sample")
    shown = run_local(
        scenario_export, incident, "sample", "resource", "calls_by_key", destination=destination, min_share=0.3
    )
    assert set(shown["key_kind"]) >= {"all", "api"}
    shown = shown.astype({"answered_p95_ms": "float64"})
    expected = expected_calls(raw("sample"), destination, min_share=0.3)
    assert_same_rows(shown, expected, ["minute", "key_kind", "key"])
    elsewhere = run_local(
        scenario_export, incident, "sample", "resource", "calls_by_key", destination=destination, region="Nowhere"
    )
    assert elsewhere.empty and list(elsewhere.columns) == list(shown.columns)


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_instances_match_pandas(scenario_export, incident, raw, name, mode):
    """The instance named by the last part of the resource id, per region, with its requests and times."""
    got = run_local(scenario_export, incident, name, mode, "instances")
    expected = expected_instances(raw(name))
    assert_same_rows(got, expected, ["instance", "region"])
    assert got["instance"].str.len().min() > 0 and "/" not in "".join(got["instance"])


ROW_COLUMNS = [
    "TimeGenerated", "CorrelationId", "Region", "Destination", "ApiId", "OperationId", "ApimSubscriptionId",
    "CallerIpAddress", "Method", "ResponseCode", "BackendResponseCode", "TotalTime", "BackendTime",
    "LastErrorReason", "LastErrorSource", "LastErrorSection", "LastErrorElapsed", "LastErrorMessage", "BackendUrl",
]  # fmt: skip
ROW_CAP = 200


@pytest.mark.parametrize(("name", "mode"), CASES)
@pytest.mark.parametrize("failed_only", [False, True])
def test_request_rows_are_the_newest_of_the_minute_capped(scenario_export, incident, raw, name, mode, failed_only):
    """The rows behind the exhausted destination's worst minute: its newest, capped, with the columns to pivot
    on; failed_only keeps the errors and HTTP 5xx only. The destination matches whatever its case."""
    destination = exhausted(incident, name)
    rows = scoped(raw(name), destination)
    minutes = rows["TimeGenerated"].dt.floor("min")
    bad = rows["LastErrorReason"] == CONNECTION_FAILURE
    minute = minutes[bad].value_counts().index[0]
    got = run_local(
        scenario_export, incident, name, mode, "request_rows",
        start=minute, end=minute + pd.Timedelta(minutes=1), destination=destination.upper(), failed_only=failed_only,
    )  # fmt: skip
    expected = rows[minutes == minute]
    if failed_only:
        expected = expected[(expected["LastErrorReason"] != "") | (expected["ResponseCode"] >= 500)]
    expected = expected.sort_values(["TimeGenerated", "CorrelationId"], ascending=[False, True]).head(ROW_CAP)
    assert list(got.columns) == ROW_COLUMNS and len(got) == len(expected) > 0
    assert got["CorrelationId"].tolist() == expected["CorrelationId"].tolist(), "newest first"
    for column in ("ApiId", "OperationId", "ApimSubscriptionId", "LastErrorReason", "BackendUrl"):
        assert got[column].fillna("").tolist() == expected[column].tolist(), column
    assert (got["ResponseCode"].to_numpy() == expected["ResponseCode"].to_numpy()).all()


def test_request_rows_never_return_more_than_the_cap(scenario_export, incident):
    got = run_local(scenario_export, incident, "sample", "resource", "request_rows")
    assert len(got) == ROW_CAP and got["TimeGenerated"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "query",
    [
        "destination_inventory",
        "error_breakdown",
        "load_drivers",
        "latency_distribution",
        "failure_fingerprint",
        "request_rows",
        "calls_by_key",
        "instances",
    ],
)
def test_both_logging_modes_give_equal_frames(scenario_export, incident, query):
    """The same requests logged in either mode give the same result (the sample message aside,
    which is any message of its group)."""
    values = {"destination": exhausted(incident, "sample")} if query in ("load_drivers", "calls_by_key") else {}
    resource = run_local(scenario_export, incident, "sample", "resource", query, **values)
    legacy = run_local(scenario_export, incident, "sample", "azurediagnostics", query, **values)
    if query in ("error_breakdown", "failure_fingerprint"):
        resource, legacy = resource.drop(columns="sample_message"), legacy.drop(columns="sample_message")
    pd.testing.assert_frame_equal(resource, legacy, check_dtype=False)


# ---------------------------------------------------------------------------------------------
# Aggregation bounds: the queries return summaries, never raw rows
# ---------------------------------------------------------------------------------------------

BOUNDS = {
    "destination_health": ["minute", "region", "destination"],
    "failure_fingerprint": ["region", "destination", "reason", "source", "answered", "elapsed_s"],
    "destination_inventory": ["destination"],
    "error_breakdown": ["destination", "reason", "source", "section"],
    "load_drivers": ["key_kind", "key"],
    "latency_distribution": ["bucket_ms"],
    "logged_requests": ["minute"],
    "request_rows": ["CorrelationId"],
    "calls_by_key": ["minute", "key_kind", "key"],
    "instances": ["instance", "region"],
    "sampling": ["item_count"],
}


def test_bounds_cover_every_packaged_query():
    assert set(BOUNDS) == set(PACK)


@pytest.mark.parametrize("query", sorted(BOUNDS))
def test_query_returns_at_most_one_row_per_key(scenario_export, incident, raw, query):
    """On the sample window each result key appears once, and rows stay far below the raw count."""
    got = run_local(scenario_export, incident, "sample", "resource", query)
    requests = raw("sample")
    destinations = scoped(requests)["Destination"].nunique()
    regions = scoped(requests)["Region"].nunique()
    errors = requests[requests["LastErrorReason"] != ""]
    error_kinds = len(errors.drop_duplicates(["LastErrorReason", "LastErrorSource", "LastErrorSection"]))
    minutes = int((WINDOW["end"] - WINDOW["start"]) / pd.Timedelta(minutes=1))
    assert not got.empty
    assert not got.duplicated(BOUNDS[query]).any()
    limit = {
        "destination_health": destinations * minutes * regions,
        # Per destination: three reasons or success, own or side call, answered or not, seconds 0 to 300.
        "failure_fingerprint": destinations * regions * 4 * 2 * 2 * 301,
        "destination_inventory": destinations,
        "error_breakdown": (destinations + 1) * error_kinds,  # + 1: errors raised before any backend
        "load_drivers": len(DRIVER_KEYS) * 100,  # shares of one kind sum to 1, each kept one is >= 1 %
        "latency_distribution": len(LATENCY_EDGES),
        "logged_requests": minutes,
        "request_rows": ROW_CAP,  # raw rows, but capped whatever the window
        # Per minute: all, and per kind the keys with 1 % of the calls or of the failed calls.
        "calls_by_key": minutes * (1 + len(CALL_KEYS) * 200),
        "instances": regions,
        "sampling": 1,  # a gateway log row is one request
    }[query]
    assert len(got) <= limit
    # Keys per minute, not rows: a window's minutes times its kept keys, run over one destination's trouble.
    assert len(got) * (10 if query == "calls_by_key" else 50) < len(requests)
    if query == "destination_health":
        assert got["minute"].between(WINDOW["start"], WINDOW["end"], inclusive="left").all()
        assert (got["minute"] == got["minute"].dt.floor("min")).all()
