"""The explorer's state without its widgets: windows resolved and cached, analysis redone without querying."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.explorer_state import CACHED_WINDOWS, MAX_WINDOW_STOPS, ExplorerState, window_stops
from analysis.investigation import recompute
from analysis.sources import open_source
from analysis.sources.local import open_local
from analysis.synthetic.exports import write_parquet

FIRST = pd.Timestamp("2025-02-25 08:30")  # the sample's first minute
END = pd.Timestamp("2025-02-25 10:30")  # just after its last minute
EXHAUSTED = "orders.contoso-backend.com:443"


class CountingSource:
    """The real sample source, counting the queries that reach it."""

    def __init__(self) -> None:
        self.inner = open_source("sample")
        self.mode, self.description = self.inner.mode, self.inner.description
        self.calls = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.inner.close()

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        return self.inner.time_range()

    def run(self, kql: str) -> pd.DataFrame:
        self.calls += 1
        return self.inner.run(kql)


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
