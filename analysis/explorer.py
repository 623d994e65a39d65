"""The interactive explorer for an on-call engineer: pick a window, adjust assumptions, see the answer move.

Querying a source is the slow part (seconds on a local export, more on Azure);
the analysis after it is a set of pure functions over small frames. So the
explorer uses the two halves of ``investigation.investigate`` separately:
``query_window`` runs again only when the window changes, ``recompute`` on every
assumption change.

The widgets only wire the two together. Nothing here waits for input, so a
notebook that shows the explorer also runs to completion in batch (papermill).
Every ``KitError`` (bad window, units 0, unreadable file) becomes one line in the
UI instead of a traceback.
"""

from __future__ import annotations

import html
import io
import math
from collections import OrderedDict
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd

from analysis import narrative, plots
from analysis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.investigation import Investigation, WindowData, query_window, recompute
from analysis.sources import Source, open_source
from analysis.times import optional_time

ALL_DESTINATIONS = "all destinations"
# A range slider with more stops than this is unusable; longer sources get coarser steps.
MAX_WINDOW_STOPS = 1500
# Windows already queried are kept, so going back to one does not query again.
CACHED_WINDOWS = 4
def window_stops(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Whole minutes from the source's first to just after its last row, at most ``MAX_WINDOW_STOPS``.

    >>> [t.strftime("%H:%M") for t in window_stops(pd.Timestamp("2025-01-01 10:00:30"), pd.Timestamp("2025-01-01 10:02:10"))]
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


def _stop_label(stop: pd.Timestamp, several_days: bool) -> str:
    return stop.strftime("%m-%d %H:%M" if several_days else "%H:%M")


def _message(text: str) -> str:
    return f'<span style="color:#b00020">{html.escape(text)}</span>' if text else ""


def _table_html(frame: pd.DataFrame, formats: dict[str, Any] | None = None) -> str:
    """An HTML table without index; cell text is escaped (destinations come from the logs)."""
    return frame.to_html(index=False, na_rep="-", formatters=formats, border=0, classes="apim-snat-table")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


class Explorer(widgets.VBox):
    """The explorer's widgets and the state behind them.

    Assumption widgets call ``refresh_analysis`` (no query); the window slider calls
    ``refresh_window`` (queries, unless the window was seen recently); the
    destination dropdown redraws only the chart.
    """

    def __init__(
        self,
        source: Source | None,
        error: str = "",
        span: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None),
    ) -> None:
        """``span`` bounds the window slider; a missing bound comes from the source's time range."""
        self.source = source
        self.span = span
        self.data: WindowData | None = None
        self.investigation: Investigation | None = None
        self._cache: OrderedDict[tuple[pd.Timestamp, pd.Timestamp], WindowData] = OrderedDict()
        self._quiet = False

        defaults = Assumptions()
        self.window = widgets.SelectionRangeSlider(
            options=[("-", None)], description="window (UTC)", continuous_update=False,
            layout=widgets.Layout(width="95%"), style={"description_width": "initial"},
        )
        self.snat_ports = widgets.IntText(value=defaults.snat_ports, description="SNAT ports / unit",
                                          style={"description_width": "initial"}, layout=widgets.Layout(width="200px"))
        self.units = widgets.IntText(value=defaults.units, description="units (during the incident)",
                                     style={"description_width": "initial"}, layout=widgets.Layout(width="220px"))
        self.requests_per_connection = widgets.FloatText(
            value=defaults.requests_per_connection, description="requests / connection",
            style={"description_width": "initial"}, layout=widgets.Layout(width="220px"),
        )
        self.destination = widgets.Dropdown(options=[ALL_DESTINATIONS], value=ALL_DESTINATIONS, description="chart",
                                            layout=widgets.Layout(width="420px"))
        self.message = widgets.HTML(value="")
        self.verdict = widgets.HTML(value="")
        self.destinations = widgets.HTML(value="")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.what_if = widgets.HTML(value="")
        self.mitigations = widgets.HTML(value="")

        super().__init__(children=[
            self.window,
            widgets.HBox([self.snat_ports, self.units, self.requests_per_connection]),
            self.message,
            self.verdict,
            widgets.HTML("<h4>Destinations</h4>"), self.destinations,
            widgets.HTML("<h4>Over time</h4>"), self.destination, self.chart,
            widgets.HTML("<h4>What if</h4>"), self.what_if,
            widgets.HTML("<h4>What to do</h4>"), self.mitigations,
        ])
        if source is None:
            self.message.value = _message(error)
            return
        if not self._set_window_stops():
            return
        for control in (self.snat_ports, self.units, self.requests_per_connection):
            control.observe(lambda _change: self.refresh_analysis(), names="value")
        self.window.observe(lambda _change: self.refresh_window(), names="value")
        self.destination.observe(self._destination_chosen, names="value")
        self.refresh_window()

    # -- state changes ---------------------------------------------------------

    def _set_window_stops(self) -> bool:
        """Fill the window slider with the span's minutes; False (and a message) when there are none."""
        first, end = self.span
        if self.source is None:
            return False
        try:
            if first is None or end is None:
                found = self.source.time_range()
                if found is None:
                    raise KitError("the source cannot tell its time range (an empty file, or an Azure source): set start and end")
                first = first if first is not None else found[0]
                end = end if end is not None else found[1].floor("min") + pd.Timedelta(minutes=1)
            if not first < end:
                raise KitError(f"start {first.isoformat()} is not before end {end.isoformat()}")
        except KitError as err:
            self.message.value = _message(str(err))
            return False
        # The last stop is ``end`` itself when it is a whole minute (the window's end is exclusive).
        stops = window_stops(first, end - pd.Timedelta(microseconds=1))
        several_days = stops[0].normalize() != stops[-1].normalize()
        self.window.options = [(_stop_label(s, several_days), s) for s in stops]
        self.window.index = (0, len(stops) - 1)
        return True

    def assumptions(self) -> Assumptions:
        """The assumptions in the widgets; a ``KitError`` names the one out of range."""
        return Assumptions(
            snat_ports=int(self.snat_ports.value),
            units=int(self.units.value),
            requests_per_connection=float(self.requests_per_connection.value),
        )

    def refresh_window(self) -> None:
        """Query the chosen window (or reuse it from the cache), then redo the analysis."""
        start, end = self.window.value
        if self.source is None:
            return
        try:
            key = (start, end)
            if key not in self._cache:
                self._cache[key] = query_window(self.source, start, end)
                while len(self._cache) > CACHED_WINDOWS:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            self.data = self._cache[key]
        except KitError as err:
            self.data = None
            self._show_error(str(err))
            return
        self._set_destination_choices(sorted(self.data.health["destination"].unique()))
        self.refresh_analysis()

    def refresh_analysis(self) -> None:
        """Recompute for the assumptions in the widgets; never queries the source."""
        if self.data is None:
            return
        try:
            self.investigation = recompute(self.data, self.assumptions())
        except KitError as err:
            self._show_error(str(err))
            return
        self.message.value = ""
        self._show(self.investigation)

    def refresh_chart(self) -> None:
        """Redraw the over-time chart for the chosen destination(s)."""
        found = self.investigation
        if found is None:
            self.chart.value = b""
            return
        demand = found.demand
        if self.destination.value != ALL_DESTINATIONS:
            demand = demand[demand["destination"] == self.destination.value]
        highlight = found.exhausted_destinations
        self.chart.value = _png(plots.destinations_over_time(demand, found.assumptions.snat_capacity, highlight))

    # -- display -----------------------------------------------------------------

    def _destination_chosen(self, _change: dict[str, Any]) -> None:
        if not self._quiet:
            self.refresh_chart()

    def _set_destination_choices(self, names: list[str]) -> None:
        """New destinations for a new window; keep the chosen one when it is still there."""
        chosen = self.destination.value
        self._quiet = True
        try:
            self.destination.options = [ALL_DESTINATIONS, *names]
            self.destination.value = chosen if chosen in names else ALL_DESTINATIONS
        finally:
            self._quiet = False

    def _show_error(self, text: str) -> None:
        """One line in red; the outputs are emptied so no stale figure passes for a current one."""
        self.investigation = None
        self.message.value = _message(text.splitlines()[0] if text else "error")
        for output in (self.verdict, self.destinations, self.what_if, self.mitigations):
            output.value = ""
        self.chart.value = b""

    def _show(self, found: Investigation) -> None:
        findings = found.findings
        a = found.assumptions
        start, end = found.window
        minutes = int((end - start) / pd.Timedelta(minutes=1))
        self.verdict.value = (
            f"<b>{html.escape(narrative.HEADLINES[found.verdict.verdict])}</b>: {html.escape(found.verdict.reason)}.<br>"
            f"Assumed capacity <b>{a.snat_capacity:,}</b> ports per destination ({a.snat_ports:,} x {a.units} unit(s)), "
            f"{a.requests_per_connection:g} request(s) per connection. "
            f"Window {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC ({minutes} min), "
            f"queried in {self.data.duration_s if self.data else 0.0:.1f} s."
        )
        self.destinations.value = _table_html(narrative.destination_table(findings))
        if len(found.what_if):
            self.what_if.value = _table_html(found.what_if, {
                "peak_utilisation": "{:.0%}".format,
                "requests_per_connection": "{:g}".format,
                "capacity": "{:,}".format,
            })
        else:
            self.what_if.value = "Nothing to replay: no destination was exhausted."
        self.mitigations.value = (
            "<ol>" + "".join(f"<li><b>{html.escape(m.title)}</b>: {html.escape(m.reason)}.</li>" for m in found.mitigations) + "</ol>"
            if found.mitigations else "No SNAT mitigation applies: no destination was classified as SNAT exhaustion."
        )
        self.refresh_chart()


def explorer(source: str = "sample", mode: str | None = None, start: str | None = None, end: str | None = None) -> Explorer:
    """The explorer for ``sample``, ``file:PATH`` or an Azure source; a bad source or time shows its one-line error.

    ``start`` and ``end`` (ISO 8601 UTC, empty for the source's own range) bound the
    window slider; Azure sources need both, as they cannot tell their time range.
    """
    try:
        span = (optional_time("start", start), optional_time("end", end))
        opened = open_source(source, mode or None)
    except KitError as err:
        return Explorer(None, str(err))
    return Explorer(opened, span=span)
