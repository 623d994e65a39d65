"""The local engine's rewrites of duckdb-kql's SQL: each applies where the packaged queries need it, and
gives exactly the answer of the plain translation, on the test exports and on generated frames."""

from __future__ import annotations

import duckdb_kql
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.query import pack
from analysis.query.modes import Mode
from analysis.query.schema import kusto_types
from analysis.sources import destinations, local
from analysis.sources.local import open_local
from analysis.sources.portability import resolve_column_ifexists
from analysis.sources.rewrites import REWRITES, bucketed_bins, merged_percentiles, rewritten
from analysis.synthetic.exports import to_app_insights, to_azure_diagnostics, write_app_insights, write_parquet

WINDOW = {"start": pd.Timestamp("2025-02-25 08:30"), "end": pd.Timestamp("2025-02-25 10:30")}
GATEWAY_MODES = (Mode.RESOURCE, Mode.AZURE_DIAGNOSTICS)


def translated(name: str, mode: str) -> str:
    """A packaged query as duckdb-kql translates it for ``mode``'s tables."""
    schema = {table: list(kusto_types(table)) for table in Mode(mode).tables}
    text = resolve_column_ifexists(pack.load(name).render(WINDOW, mode), {c for t in schema.values() for c in t})
    return duckdb_kql.to_sql(text, schema=schema)


@pytest.mark.parametrize("mode", tuple(Mode))
def test_each_rewrite_applies_to_the_health_query_of_every_mode(mode):
    """The health query's six percentiles and its minute bins are what the rewrites are for."""
    plain = translated("destination_health", mode)
    assert plain.count("quantile_disc(") == 6 and "to_timestamp(floor(epoch(" in plain
    merged = merged_percentiles(plain)
    assert merged.count('quantile_disc("BackendTime", [') == 3 and merged.count('quantile_disc("TotalTime", [') == 3
    bucketed = bucketed_bins(plain)
    assert "to_timestamp(floor(epoch(" not in bucketed and "time_bucket(INTERVAL '60s'" in bucketed


def test_rewrites_leave_what_they_do_not_recognise_as_it_was():
    one = duckdb_kql.to_sql("T | summarize p = percentile(x, 95), q = percentile(y, 50) by k")
    assert merged_percentiles(one) == one  # one percentile per column: nothing to share
    fine = duckdb_kql.to_sql("T | summarize count() by bin(t, 100ms), bin(u, 1.5s)")
    assert bucketed_bins(fine) == fine  # sub-second sizes: the double arithmetic is not exact there
    quoted = "SELECT 'quantile_disc(x, 0.5), quantile_disc(x, 0.9)' AS \"to_timestamp(floor(epoch(\""
    assert rewritten(quoted) == quoted
    numeric = duckdb_kql.to_sql("T | summarize count() by bin(x, 10)")
    assert rewritten(numeric) == numeric


# ---------------------------------------------------------------------------------------------
# The same answers as the plain translation
# ---------------------------------------------------------------------------------------------


def plain_and_rewritten(source: local.LocalSource, kql: str, monkeypatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The query's result through the rewrites, and through the plain translation on a fresh window."""
    fast = source.run(kql)
    with monkeypatch.context() as patched:
        patched.setattr(local, "rewritten", lambda sql: sql)
        patched.setattr(destinations, "known_authorities", lambda sql, authorities: sql)
        while source._windows:
            source._forget(next(iter(source._windows)))
        plain = source.run(kql)
    return fast, plain


@pytest.mark.parametrize("name", ["sample", "snat_beside_slow", "side_call_failures"])
@pytest.mark.parametrize("mode", GATEWAY_MODES)
def test_the_packaged_queries_answer_as_the_plain_translation(incident, tmp_path, monkeypatch, name, mode):
    logs = incident(name).logs
    path = tmp_path / "export.parquet"
    write_parquet(logs if mode == Mode.RESOURCE else to_azure_diagnostics(logs), path)
    source = open_local(path)
    first, last = source.time_range()
    window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
    try:
        busiest = source.run(pack.load("destination_inventory").render(window, mode))["destination"].iloc[0]
        for query in ("destination_health", "destination_inventory", "latency_distribution", "failure_fingerprint"):
            values = {**window, "destination": busiest} if query == "latency_distribution" else window
            fast, plain = plain_and_rewritten(source, pack.load(query).render(values, mode), monkeypatch)
            assert len(plain) > 0
            pd.testing.assert_frame_equal(fast, plain)
    finally:
        source.close()


def test_the_application_insights_health_answers_as_the_plain_translation(tmp_path, incident, monkeypatch):
    sample = incident("sample")
    write_app_insights(to_app_insights(sample.all_requests, sample.scenario.service, 25.0, seed=3), tmp_path)
    source = open_local(tmp_path)
    try:
        fast, plain = plain_and_rewritten(
            source, pack.load("destination_health").render(WINDOW, source.mode), monkeypatch
        )
        pd.testing.assert_frame_equal(fast, plain)
    finally:
        source.close()


# Times from 1900 to 2200 to the microsecond, many of them a microsecond either side of a minute.
EPOCH = pd.Timestamp("1970-01-01")
MINUTE_US = 60_000_000
microseconds = st.one_of(
    st.integers(-2_208_988_800_000_000, 7_258_118_400_000_000),
    st.integers(-36_000_000, 121_000_000).map(lambda m: m * MINUTE_US // 100_000 + 29_000_000 * MINUTE_US),
    st.integers(29_000_000, 29_001_000).flatmap(lambda m: st.sampled_from([m * MINUTE_US - 1, m * MINUTE_US])),
)
durations = st.one_of(st.none(), st.integers(0, 300_000))
rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), microseconds, durations, durations),
    min_size=1,
    max_size=60,
)
SIZES = ("1s", "1m", "90s", "1h", "1d", "7d")


@settings(max_examples=60, deadline=None)
@given(
    rows=rows,
    size=st.sampled_from(SIZES),
    percents=st.lists(st.sampled_from([1, 50, 90, 95, 99, 99.9]), min_size=2, max_size=4, unique=True),
)
def test_generated_frames_answer_as_the_plain_translation(rows, size, percents):
    frame = pd.DataFrame(rows, columns=["k", "us", "x", "y"])
    frame["t"] = EPOCH + pd.to_timedelta(frame.pop("us"), unit="us")
    frame = frame.astype({"x": "Int64", "y": "Int64"})
    aggregates = ", ".join(
        [f"p{i} = percentile(x, {p})" for i, p in enumerate(percents)] + [f"q = percentile(y, {percents[0]})"]
    )
    kql = f"T | summarize n = count(), {aggregates} by k, m = bin(t, {size}) | order by k asc, m asc"
    sql = duckdb_kql.to_sql(kql)
    assert rewritten(sql) != sql
    con = duckdb_kql.connect()
    try:
        con.register("T", frame)
        plain, fast = con.execute(sql).df(), con.execute(rewritten(sql)).df()
    finally:
        con.close()
    pd.testing.assert_frame_equal(fast, plain)


# URLs as the logs may hold them: any scheme, user information, port, path, query and fragment, or none of it.
PIECES = st.sampled_from(
    ["https", "http", "ws", "a:b", "", "://", "@", ":", "/", "?", "#", "host", "Host.", "8443", "ü", "\n"]
)
urls = st.one_of(
    st.lists(PIECES, max_size=8).map("".join),
    st.builds(
        "{}://{}{}{}{}".format,
        st.sampled_from(["https", "http", "HTTPS", "ws"]),
        st.sampled_from(["", "TOKEN@", "user:p@ss@"]),
        st.sampled_from(["orders.contoso.com", "10.0.0.5", "[2001:db8::1]", "a"]),
        st.sampled_from(["", ":8443", ":443", ":"]),
        st.lists(st.sampled_from(["/", "?", "#", "x", "/api", "?q=http://b/", "#f"]), max_size=4).map("".join),
    ),
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.one_of(st.none(), urls), min_size=1, max_size=40), share=st.floats(0, 1))
def test_known_authorities_find_what_the_expression_finds(rows, share):
    """Prefix tests over the window's authorities, the expression for any other: the same authority for any text."""
    con = duckdb_kql.connect()
    try:
        con.execute('CREATE TABLE T ("BackendUrl" VARCHAR)')
        con.executemany("INSERT INTO T VALUES (?)", [[row] for row in rows])
        select = f"SELECT {destinations.AUTHORITY_SQL} AS a FROM T"
        found = sorted({row[0] for row in con.execute(select).fetchall() if row[0] is not None})
        known = found[: round(len(found) * share)]  # some authorities unknown: the expression reads those
        faster = destinations.known_authorities(select, known)
        assert (faster != select) == any(known)
        assert con.execute(faster).fetchall() == con.execute(select).fetchall()
    finally:
        con.close()


def test_the_prelude_renders_the_authority_the_view_looks_for():
    """The authority is found by prefix tests only while duckdb-kql renders it as AUTHORITY_SQL."""
    assert destinations.AUTHORITY_SQL in translated("destination_health", Mode.RESOURCE)


def test_every_rewrite_is_tested_here():
    """A new rewrite is one more entry of REWRITES, and one more case above."""
    assert {rewrite.__name__ for rewrite in REWRITES} == {"merged_percentiles", "bucketed_bins"}
