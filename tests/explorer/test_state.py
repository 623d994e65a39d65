"""The explorer's state without its widgets: windows resolved and cached, analysis redone without querying."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.diagnosis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.explorer import scope
from analysis.explorer.state import CACHED_WINDOWS, MAX_WINDOW_STOPS, ExplorerState, window_stops
from analysis.investigation.run import recompute
from analysis.sources import open_source
from analysis.sources.base import Wrapping
from analysis.sources.local import open_local
from analysis.synthetic.exports import write_parquet

FIRST = pd.Timestamp("2025-02-25 08:30")  # the sample's first minute
END = pd.Timestamp("2025-02-25 10:30")  # just after its last minute
EXHAUSTED = "orders.contoso-backend.com:443"
HEALTHY = "payments.contoso.com:443"
NOW = pd.Timestamp("2025-03-01 12:34:56")


class CountingSource(Wrapping):
    """The real sample source, counting the queries that reach it."""

    def __init__(self) -> None:
        self.inner = open_source("sample")
        self.calls = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.inner.close()

    def run(self, kql: str) -> pd.DataFrame:
        self.calls += 1
        return self.inner.run(kql)


class WithoutTimeRange(CountingSource):
    """The sample as an Azure source sees it: no time range to tell."""

    def time_range(self) -> None:
        return None


@pytest.fixture
def source() -> CountingSource:
    return CountingSource()


def minutes(start: int, end: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A window by its minutes after the sample's first."""
    return FIRST + pd.Timedelta(minutes=start), FIRST + pd.Timedelta(minutes=end)


def test_the_stops_are_the_sources_whole_minutes_or_the_span(source):
    stops = ExplorerState(source).stops()
    assert (stops[0], stops[-1], len(stops)) == (FIRST, END, 121)
    spanned = ExplorerState(source, (pd.Timestamp("2025-02-25 10:00"), pd.Timestamp("2025-02-25 10:20"))).stops()
    assert [stop.strftime("%H:%M") for stop in spanned[::20]] == ["10:00", "10:20"]
    assert source.calls == 0


def test_a_long_span_gets_coarser_stops():
    stops = window_stops(FIRST, FIRST + pd.Timedelta(days=30))
    assert len(stops) <= MAX_WINDOW_STOPS
    assert stops[-1] == FIRST + pd.Timedelta(days=30, minutes=1)


def test_a_span_without_minutes_is_an_error(source, incident, tmp_path):
    with pytest.raises(KitError, match="is not before"):
        ExplorerState(source, (END, FIRST)).stops()
    empty = tmp_path / "empty.parquet"
    write_parquet(incident("no_incident").logs.iloc[0:0], empty)
    with pytest.raises(KitError, match="cannot tell its time range"):
        ExplorerState(open_local(empty)).stops()


def test_a_window_is_queried_once_while_it_is_recent(source):
    state = ExplorerState(source)
    first = minutes(0, 30)
    data = state.query(*first)
    queried = source.calls
    assert queried >= 3 and data.window == first and state.data is data
    assert state.query(*first) is data and source.calls == queried

    later = [minutes(10 * n, 10 * n + 30) for n in range(1, CACHED_WINDOWS + 1)]
    for window in later:
        state.query(*window)
    assert state.cached_windows == later  # the first, least recently used, was dropped
    before = source.calls
    assert state.query(*first).window == first and source.calls > before


def test_new_assumptions_recompute_without_querying(source):
    state = ExplorerState(source)
    data = state.query(FIRST, END)
    queried = source.calls
    found = state.recompute({"units": 3, "requests_per_connection": 1.5})
    assert source.calls == queried and state.investigation is found
    assert found.assumptions == Assumptions(units=3, requests_per_connection=1.5)
    assert found.findings == recompute(data, found.assumptions).findings
    assert state.recompute({}).exhausted_destinations == [EXHAUSTED]
    assert EXHAUSTED in state.destinations


def test_a_failed_step_leaves_nothing_stale(source):
    state = ExplorerState(source)
    with pytest.raises(KitError, match="no window has been queried"):
        state.recompute({})
    assert state.destinations == []
    state.query(FIRST, END)
    state.recompute({})
    with pytest.raises(KitError, match="'units' is out of range"):
        state.recompute({"units": 0})
    assert state.investigation is None and state.data is not None

    state.recompute({})
    with pytest.raises(KitError, match="is not before"):
        state.query(END, FIRST)
    assert state.data is None and state.investigation is None


def test_closing_releases_the_source_and_forgets_the_windows(source):
    state = ExplorerState(source)
    state.query(FIRST, END)
    state.close()
    assert source.closed
    assert state.data is None and state.cached_windows == []


@pytest.mark.parametrize(("name", "start"), [("last 1 h", "09:30"), ("last 6 h", "08:30"), ("last 24 h", "08:30")])
def test_a_preset_spans_the_slider_up_to_the_sources_last_minute(source, name, start):
    state = ExplorerState(source, now=lambda: NOW)
    window = state.use_range(name)
    assert window == (pd.Timestamp(f"2025-02-25 {start}"), END)
    assert (state.stops()[0], state.stops()[-1]) == window
    assert source.calls == 0  # choosing a range queries nothing; the slider's window does


def test_a_preset_of_a_source_without_a_time_range_ends_now():
    state = ExplorerState(WithoutTimeRange(), now=lambda: NOW)
    with pytest.raises(KitError, match="give start and end"):
        state.stops()
    assert state.use_range("last 6 h") == (pd.Timestamp("2025-03-01 06:34"), pd.Timestamp("2025-03-01 12:34"))
    assert len(state.stops()) == 6 * 60 + 1


def test_a_custom_range_is_validated_and_a_bad_one_changes_nothing(source):
    state = ExplorerState(source)
    window = state.use_range(scope.CUSTOM, "2025-02-25T09:00Z", "2025-02-25T11:00+01:00")
    assert window == (pd.Timestamp("2025-02-25 09:00"), pd.Timestamp("2025-02-25 10:00"))
    for start, end, match in (
        ("yesterday", "2025-02-25T10:00Z", "start: expected an ISO 8601 time"),
        ("2025-02-25T10:00Z", "", "needs both start and end"),
        ("2025-02-25T10:00Z", "2025-02-25T09:00Z", "is not before"),
        ("2025-01-01T00:00Z", "2025-03-01T00:00Z", "over the limit of 31 days"),
    ):
        with pytest.raises(KitError, match=match):
            state.use_range(scope.CUSTOM, start, end)
        assert state.stops()[0] == window[0] and state.stops()[-1] == window[1]
    assert state.use_range(scope.GIVEN) == (FIRST, END)
    with pytest.raises(KitError, match="unknown time range"):
        state.use_range("last week")


def test_switching_opens_the_new_source_closes_the_old_and_forgets_its_windows(source, scenario_export):
    state = ExplorerState(source, (FIRST, FIRST + pd.Timedelta(minutes=30)))
    state.query(FIRST, END)
    state.drill(EXHAUSTED)
    opened = state.switch(f"file:{scenario_export('no_incident')}")
    assert source.closed and state.source is opened
    assert state.data is None and state.investigation is None and state.cached_windows == []
    assert state.span == (None, None)  # the new source's own range, not the old one's
    first, end = state.stops()[0], state.stops()[-1]
    state.query(first, end)
    assert HEALTHY not in state.destinations  # the new export's destinations, not the sample's
    assert state.recompute({}).verdict.verdict.value == "no_snat_evidence"


def test_a_source_that_cannot_be_opened_leaves_the_one_in_use(source):
    state = ExplorerState(source)
    data = state.query(FIRST, END)
    with pytest.raises(KitError, match="no such file"):
        state.switch("file:/no/such/export.csv")
    with pytest.raises(KitError, match="unknown source"):
        state.switch("ftp://example")
    assert state.source is source and not source.closed and state.data is data


def test_switching_to_a_source_without_a_time_range_keeps_the_window_in_use(source, monkeypatch):
    state = ExplorerState(source)
    state.query(*minutes(0, 30))
    monkeypatch.setattr("analysis.explorer.state.open_source", lambda spec, mode: WithoutTimeRange())
    state.switch("loganalytics:00000000-0000-0000-0000-000000000000")
    assert state.span == minutes(0, 30) and state.stops()[0] == FIRST


def test_regions_and_destinations_are_the_windows(source):
    state = ExplorerState(source)
    assert state.regions == []
    state.query(FIRST, END)
    assert state.regions == ["West Europe"] and EXHAUSTED in state.destinations and HEALTHY in state.destinations


def test_a_drill_down_queries_once_per_window_and_destination(source):
    state = ExplorerState(source)
    with pytest.raises(KitError, match="no window has been queried"):
        state.drill(EXHAUSTED)
    state.query(FIRST, END)
    before = source.calls
    failing = state.drill(EXHAUSTED)
    assert source.calls == before + 1  # the latency distribution; its load drivers came with the window
    assert failing.drivers_scope.startswith("while it failed: West Europe 09:")
    assert set(failing.drivers["destination"]) == {EXHAUSTED}
    assert failing.errors["reason"].iloc[0] == "BackendConnectionFailure"
    assert failing.latency["connection_failures"].sum() > 0
    assert failing.fingerprint_keys == [("West Europe", EXHAUSTED)]

    healthy = state.drill(HEALTHY)
    assert source.calls == before + 3  # latency distribution and load drivers over the window
    assert healthy.drivers_scope == "over the window, all regions together" and len(healthy.drivers) > 0
    assert healthy.errors.empty and healthy.fingerprint_keys == []
    assert state.drill(EXHAUSTED) is failing and state.drill(HEALTHY) is healthy and source.calls == before + 3

    state.query(*minutes(0, 30))
    assert state.drill(HEALTHY) is not healthy and source.calls > before + 3
    with pytest.raises(KitError, match="no destination 'no.such.host:443' in this window"):
        state.drill("no.such.host:443")


# ---------------------------------------------------------------------------------------------
# The requests behind a minute, and KQL typed by the user
# ---------------------------------------------------------------------------------------------

MINUTE = pd.Timestamp("2025-02-25 09:41")


def test_a_minutes_requests_are_queried_once_with_the_kql_that_lists_them_in_the_portal(source):
    state = ExplorerState(source)
    assert state.rows_kql(EXHAUSTED, MINUTE + pd.Timedelta(seconds=20)) == state.rows_kql(EXHAUSTED, MINUTE)
    assert source.calls == 0, "the KQL alone runs nothing"
    run = state.minute_rows(EXHAUSTED, MINUTE + pd.Timedelta(seconds=20))
    assert source.calls == 1 and run.kql == state.rows_kql(EXHAUSTED, MINUTE)
    assert run.name == "request_rows" and run.parameters["destination"] == f'"{EXHAUSTED}"'
    assert (run.result["TimeGenerated"].dt.floor("min") == MINUTE).all() and run.result["CorrelationId"].is_unique
    assert state.minute_rows(EXHAUSTED, MINUTE) is run and source.calls == 1
    failed = state.minute_rows(EXHAUSTED, MINUTE, failed_only=True)
    assert source.calls == 2 and set(failed.result["CorrelationId"]) <= set(run.result["CorrelationId"])
    state.close()
    assert state._rows == {}


@pytest.mark.parametrize(
    ("kql", "said"),
    [
        ("['/etc/passwd'] | take 1", "reads only the export's table"),
        ("union GatewayRequests, ['/etc/hostname'] | count", "reads only the export's table"),
        (".show tables", "KQL syntax error"),
        ("GatewayRequests | where Foo == 1", "unknown column 'Foo'"),
        ("   ", "the KQL text is empty"),
    ],
)
def test_kql_typed_in_the_explorer_follows_the_rules_of_the_query_command(source, kql, said):
    state = ExplorerState(source)
    with pytest.raises(KitError, match="no window has been queried yet"):
        state.adhoc("GatewayRequests | count")
    state.query(*minutes(10, 20))
    with pytest.raises(KitError) as refusal:
        state.adhoc(kql)
    assert said in str(refusal.value) and "\n" not in str(refusal.value)


def test_kql_typed_in_the_explorer_reads_the_current_window(source):
    state = ExplorerState(source)
    state.query(*minutes(10, 20))
    counted = state.adhoc("GatewayRequests | summarize n = count(), latest = max(TimeGenerated)")
    assert counted["latest"][0] < FIRST + pd.Timedelta(minutes=20)
    whole = state.adhoc("GatewayRequests | count")
    state.query(FIRST, END)
    assert state.adhoc("GatewayRequests | count")["Count"][0] > whole["Count"][0] == counted["n"][0]
    declared = "declare query_parameters(start: datetime, end: datetime, n: long = 2);\nGatewayRequests | take 5"
    assert len(state.adhoc(declared)) == 5
