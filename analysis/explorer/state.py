"""What the explorer knows and computes, apart from its widgets, so it is tested without a UI.

Querying a source is the slow part (seconds on a local export, more on Azure);
the analysis after it is a set of pure functions over small frames. So the state
keeps the two halves of ``run.investigate`` apart: ``query`` runs the
queries only for a window not seen recently, ``recompute`` redoes the analysis
for new assumptions without touching the source. The range to choose windows from
(``use_range``), another source (``switch``), one destination in depth
(``drill``), the requests behind one of its minutes (``minute_rows``, with the KQL
to paste into the portal) and KQL typed by the user over the same source and window
(``adhoc``) are kept here too; ``scope`` holds the pure choices.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.diagnosis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.explorer import scope
from analysis.investigation.adhoc import adhoc_query, run_adhoc
from analysis.investigation.run import (
    DRIVER_COLUMNS,
    Investigation,
    QueryRun,
    WindowData,
    failing_spans,
    query_window,
    recompute,
    run_query,
    window_for,
)
from analysis.query import pack
from analysis.sources import open_source
from analysis.sources.base import Source
from analysis.times import user_window, utc_now

# A range slider with more stops than this is unusable; longer sources get coarser steps.
MAX_WINDOW_STOPS = 1500
# Windows already queried are kept, so going back to one does not query again.
CACHED_WINDOWS = 4

Window = tuple[pd.Timestamp, pd.Timestamp]
Span = tuple[pd.Timestamp | None, pd.Timestamp | None]
#: The packaged query behind "the requests of a minute".
ROWS_QUERY = "request_rows"


@dataclass(frozen=True)
class DrillDown:
    """One destination in depth over the current window: its errors, who called it, how long its calls took."""

    destination: str
    errors: pd.DataFrame = field(repr=False)
    """Its rows of the error breakdown query, by reason, error source and section."""
    drivers: pd.DataFrame = field(repr=False)
    """Load drivers per region (``DRIVER_COLUMNS``): while it failed when the window held them, else the window's."""
    drivers_scope: str
    latency: pd.DataFrame = field(repr=False)
    """The latency distribution query's buckets for this destination (``scope.latency_table``)."""
    fingerprint_keys: list[tuple[str, str]]
    """Its (region, destination) pairs in the failure fingerprint."""


def window_stops(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Whole minutes from ``first`` to just after ``last``, at most ``MAX_WINDOW_STOPS``.

    >>> [t.strftime("%H:%M") for t in window_stops(pd.Timestamp("2025-01-01 10:00:30"),
    ...                                            pd.Timestamp("2025-01-01 10:02:10"))]
    ['10:00', '10:01', '10:02', '10:03']
    """
    start = first.floor("min")
    end = last.floor("min") + pd.Timedelta(minutes=1)
    minutes = int((end - start) / pd.Timedelta(minutes=1))
    step = max(1, math.ceil(minutes / (MAX_WINDOW_STOPS - 1)))
    stops = list(pd.date_range(start, end, freq=f"{step}min"))
    if stops[-1] != end:
        stops.append(end)
    return stops


class ExplorerState:
    """The source, the windows queried recently, and the current data and investigation.

    After a failed step the current data (or investigation) is None, so nothing
    stale can be shown as if it were current.
    """

    def __init__(self, source: Source, span: Span = (None, None), now: Callable[[], pd.Timestamp] = utc_now) -> None:
        """``span`` bounds the windows to choose from; a missing bound comes from the source's time range.

        ``now`` is the clock the presets of a source without a time range (Azure) end at.
        """
        self.source = source
        self.given = self.span = span
        self.data: WindowData | None = None
        self.investigation: Investigation | None = None
        self._now = now
        self._cache: OrderedDict[Window, WindowData] = OrderedDict()
        self._drills: dict[tuple[Window, str], DrillDown] = {}
        self._rows: dict[tuple[str, pd.Timestamp, bool], QueryRun] = {}

    def use_range(self, name: str, start: str = "", end: str = "") -> Window:
        """Choose the windows from a range of ``explorer_scope.RANGES``; the window it spans is returned.

        ``start`` and ``end`` (ISO 8601 UTC) are read for the custom range only; a bad time, a start
        after the end or an unknown range is a ``KitError`` and the range in use stays as it was.
        """
        if name == scope.GIVEN:
            span = self.given
        elif name == scope.CUSTOM:
            span = user_window(start, end, now=self._now().floor("min"))
            if None in span:
                raise KitError("a custom range needs both start and end (ISO 8601 UTC, e.g. 2025-02-25T09:00Z)")
        else:
            span = scope.preset_window(name, self.source.time_range(), self._now())
        window = window_for(self.source, *span)
        self.span = window if name != scope.GIVEN else span
        return window

    def switch(self, spec: str, mode: str | None = None) -> Source:
        """Open another source and close the one in use; on a ``KitError`` the one in use stays open.

        The windows queried so far belong to the old source and are forgotten. The range becomes the new
        source's own, or (for a source that cannot tell it, such as Azure) the window in use.
        """
        opened = open_source(spec, mode or None)
        kept = self.data.window if self.data is not None else self.span
        self.close()
        self.source = opened
        self.given = self.span = (None, None) if opened.time_range() is not None else kept
        return opened

    def stops(self) -> list[pd.Timestamp]:
        """The minutes a window may start or end at; a ``KitError`` when the span has none."""
        first, end = window_for(self.source, *self.span)
        # The last stop is ``end`` itself when it is a whole minute (the window's end is exclusive).
        return window_stops(first, end - pd.Timedelta(microseconds=1))

    def query(self, start: pd.Timestamp, end: pd.Timestamp) -> WindowData:
        """The data of a window: queried, or taken from the recent windows; a ``KitError`` for a bad one."""
        key = (start, end)
        try:
            if key not in self._cache:
                self._cache[key] = query_window(self.source, start, end)
                while len(self._cache) > CACHED_WINDOWS:
                    self._cache.popitem(last=False)
        except KitError:
            self.data = self.investigation = None
            raise
        self._cache.move_to_end(key)
        self.data = self._cache[key]
        return self.data

    def close(self) -> None:
        """Release the source (a DuckDB connection, Azure HTTP sessions); only ``switch`` may follow."""
        self._cache.clear()
        self._drills.clear()
        self._rows.clear()
        self.data = self.investigation = None
        self.source.close()

    @property
    def cached_windows(self) -> list[Window]:
        """The windows that would not be queried again, the least recently used first."""
        return list(self._cache)

    def recompute(self, settings: Mapping[str, Any]) -> Investigation:
        """The current window's investigation under ``settings`` (assumption fields); never queries.

        A ``KitError`` names a setting out of range, or says no window has been queried.
        """
        try:
            if self.data is None:
                raise KitError("no window has been queried yet")
            self.investigation = recompute(self.data, Assumptions(**settings))
        except KitError:
            self.investigation = None
            raise
        return self.investigation

    @property
    def destinations(self) -> list[str]:
        """The destinations of the current window, sorted; none before a window was queried."""
        return [] if self.data is None else sorted(self.data.health["destination"].unique())

    @property
    def regions(self) -> list[str]:
        """The gateway regions of the current window, sorted (``""`` when the logs name none)."""
        return [] if self.data is None else scope.regions_of(self.data.health)

    def drill(self, destination: str) -> DrillDown:
        """One destination of the current window in depth; its two queries run once per window.

        The error breakdown and the fingerprint come from the window's data. The latency distribution is
        queried for the destination; the load drivers are those the window held (while it failed), else
        queried over the window.
        """
        if self.data is None:
            raise KitError("no window has been queried yet")
        if destination not in self.destinations:
            raise KitError(f"no destination {destination!r} in this window")
        key = (self.data.window, destination)
        if key not in self._drills:
            self._drills[key] = self._drill(self.data, destination)
        return self._drills[key]

    def _drill(self, data: WindowData, destination: str) -> DrillDown:
        start, end = data.window
        scoped = {"start": start, "end": end, "destination": destination}
        latency = run_query(self.source, "latency_distribution", scoped)
        held = data.drivers[data.drivers["destination"] == destination]
        if len(held):
            spans = failing_spans(data.health)
            scope_text = "while it failed: " + "; ".join(
                f"{scope.region_label(region)} {spans[(region, destination)][0]:%H:%M}-"
                f"{spans[(region, destination)][1]:%H:%M} UTC"
                for region in sorted(held["region"].unique())
            )
            drivers = held.reset_index(drop=True)
        else:
            run = run_query(self.source, "load_drivers", scoped)
            drivers = run.result.assign(region="", destination=destination)[DRIVER_COLUMNS]
            scope_text = "over the window, all regions together"
        return DrillDown(
            destination=destination,
            errors=scope.error_breakdown(data.errors, destination),
            drivers=drivers,
            drivers_scope=scope_text,
            latency=scope.latency_table(latency.result),
            fingerprint_keys=scope.fingerprint_keys(data.fingerprint, destination),
        )

    def minute_rows(self, destination: str, minute: pd.Timestamp, failed_only: bool = False) -> QueryRun:
        """The requests behind one minute of a destination (``request_rows``: newest first, capped), queried once;
        the run's ``kql`` is the text to paste into the Log Analytics portal, as ``apim-snat queries show`` prints it.
        """
        key = (destination, minute.floor("min"), failed_only)
        if key not in self._rows:
            self._rows[key] = run_query(self.source, ROWS_QUERY, minute_values(*key))
        return self._rows[key]

    def rows_kql(self, destination: str, minute: pd.Timestamp, failed_only: bool = False) -> str:
        """``minute_rows``' KQL for the source's logging mode, without running it."""
        values = minute_values(destination, minute.floor("min"), failed_only)
        return pack.load(ROWS_QUERY).render(values, self.source.mode)

    def adhoc(self, text: str, params: Mapping[str, str] | None = None) -> pd.DataFrame:
        """KQL typed by the user, over the current window of the same source, as ``apim-snat query`` runs it:
        ``start``, ``end`` and ``GatewayRequests`` are there; the local engine reads nothing but the export."""
        if self.data is None:
            raise KitError("no window has been queried yet")
        return run_adhoc(self.source, adhoc_query(text), self.data.window, params)


def minute_values(destination: str, minute: pd.Timestamp, failed_only: bool) -> dict[str, Any]:
    """The parameters of ``request_rows`` for one minute of one destination (all its regions).

    >>> minute_values("a:443", pd.Timestamp("2025-02-25 09:40"), True)["end"]
    Timestamp('2025-02-25 09:41:00')
    """
    return {
        "start": minute,
        "end": minute + pd.Timedelta(minutes=1),
        "destination": destination,
        "failed_only": failed_only,
    }
