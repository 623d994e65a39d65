"""What the explorer knows and computes, apart from its widgets, so it is tested without a UI.

Querying a source is the slow part (seconds on a local export, more on Azure);
the analysis after it is a set of pure functions over small frames. So the state
keeps the two halves of ``investigation.investigate`` apart: ``query`` runs the
queries only for a window not seen recently, ``recompute`` redoes the analysis
for new assumptions without touching the source.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.investigation import Investigation, WindowData, query_window, recompute, window_for
from analysis.sources import Source

# A range slider with more stops than this is unusable; longer sources get coarser steps.
MAX_WINDOW_STOPS = 1500
# Windows already queried are kept, so going back to one does not query again.
CACHED_WINDOWS = 4

Window = tuple[pd.Timestamp, pd.Timestamp]


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

    def __init__(self, source: Source, span: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)) -> None:
        """``span`` bounds the windows to choose from; a missing bound comes from the source's time range."""
        self.source = source
        self.span = span
        self.data: WindowData | None = None
        self.investigation: Investigation | None = None
        self._cache: OrderedDict[Window, WindowData] = OrderedDict()

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
        """Release the source (a DuckDB connection, Azure HTTP sessions); the state is not used after this."""
        self._cache.clear()
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
