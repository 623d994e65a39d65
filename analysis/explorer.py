"""The interactive explorer for an on-call engineer: pick a window, adjust assumptions, see the answer move.

This module only wires widgets: ``explorer_state`` queries and recomputes (a
window is queried again only when it changes, the analysis on every assumption
change), ``explorer_views`` turns the results into HTML and PNG.

Nothing here waits for input, so a notebook that shows the explorer also runs to
completion in batch (papermill). Every ``KitError`` (bad window, units 0,
unreadable file) becomes one line in the UI instead of a traceback.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd

from analysis import explorer_views as views
from analysis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.explorer_state import ExplorerState
from analysis.investigation import Investigation, WindowData
from analysis.sources import Source, open_source
from analysis.times import optional_time

ALL_DESTINATIONS = "all destinations"


def _text(kind: type[widgets.Widget], value: float, description: str, width: str) -> Any:
    return kind(
        value=value, description=description, style={"description_width": "initial"}, layout=widgets.Layout(width=width)
    )


class Explorer(widgets.VBox):
    """The explorer's widgets, over an ``ExplorerState``.

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
        self.state = ExplorerState(source, span) if source is not None else None
        self._quiet = False

        defaults = Assumptions()
        self.window = widgets.SelectionRangeSlider(
            options=[("-", None)],
            description="window (UTC)",
            continuous_update=False,
            layout=widgets.Layout(width="95%"),
            style={"description_width": "initial"},
        )
        self.snat_ports = _text(widgets.IntText, defaults.snat_ports, "SNAT ports / unit", "200px")
        self.units = _text(widgets.IntText, defaults.units, "units (during the incident)", "220px")
        self.requests_per_connection = _text(
            widgets.FloatText, defaults.requests_per_connection, "requests / connection", "220px"
        )
        self.destination = widgets.Dropdown(
            options=[ALL_DESTINATIONS],
            value=ALL_DESTINATIONS,
            description="chart",
            layout=widgets.Layout(width="420px"),
        )
        self.message = widgets.HTML(value="")
        self.verdict = widgets.HTML(value="")
        self.destinations = widgets.HTML(value="")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.what_if = widgets.HTML(value="")
        self.mitigations = widgets.HTML(value="")

        super().__init__(
            children=[
                self.window,
                widgets.HBox([self.snat_ports, self.units, self.requests_per_connection]),
                self.message,
                self.verdict,
                widgets.HTML("<h4>Destinations</h4>"),
                self.destinations,
                widgets.HTML("<h4>Over time</h4>"),
                self.destination,
                self.chart,
                widgets.HTML("<h4>What if</h4>"),
                self.what_if,
                widgets.HTML("<h4>What to do</h4>"),
                self.mitigations,
            ]
        )
        if self.state is None:
            self.message.value = views.message_html(error)
            return
        try:
            stops = self.state.stops()
        except KitError as err:
            self.message.value = views.message_html(str(err))
            return
        self.window.options = views.stop_labels(stops)
        self.window.index = (0, len(stops) - 1)
        for control in (self.snat_ports, self.units, self.requests_per_connection):
            control.observe(lambda _change: self.refresh_analysis(), names="value")
        self.window.observe(lambda _change: self.refresh_window(), names="value")
        self.destination.observe(self._destination_chosen, names="value")
        self.refresh_window()

    @property
    def source(self) -> Source | None:
        return None if self.state is None else self.state.source

    @property
    def data(self) -> WindowData | None:
        """The chosen window's query results."""
        return None if self.state is None else self.state.data

    @property
    def investigation(self) -> Investigation | None:
        """What is shown: the chosen window under the assumptions in the widgets."""
        return None if self.state is None else self.state.investigation

    def settings(self) -> dict[str, Any]:
        """The assumption values in the widgets."""
        return {
            "snat_ports": int(self.snat_ports.value),
            "units": int(self.units.value),
            "requests_per_connection": float(self.requests_per_connection.value),
        }

    def close(self) -> None:
        """Close the widgets and release the source behind them."""
        if self.state is not None:
            self.state.close()
            self.state = None
        super().close()

    def refresh_window(self) -> None:
        """Query the chosen window (or reuse it from the cache), then redo the analysis."""
        if self.state is None:
            return
        start, end = self.window.value
        try:
            self.state.query(start, end)
        except KitError as err:
            self._show_error(str(err))
            return
        self._set_destination_choices(self.state.destinations)
        self.refresh_analysis()

    def refresh_analysis(self) -> None:
        """Recompute for the assumptions in the widgets; never queries the source."""
        if self.state is None or self.state.data is None:
            return
        try:
            found = self.state.recompute(self.settings())
        except KitError as err:
            self._show_error(str(err))
            return
        self.message.value = ""
        self._show(found, self.state.data.duration_s)

    def refresh_chart(self) -> None:
        """Redraw the over-time chart for the chosen destination(s)."""
        found = self.investigation
        if found is None:
            self.chart.value = b""
            return
        chosen = self.destination.value
        self.chart.value = views.chart_png(found, None if chosen == ALL_DESTINATIONS else chosen)

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
        self.message.value = views.message_html(text.splitlines()[0] if text else "error")
        for output in (self.verdict, self.destinations, self.what_if, self.mitigations):
            output.value = ""
        self.chart.value = b""

    def _show(self, found: Investigation, queried_s: float) -> None:
        self.verdict.value = views.verdict_html(found, queried_s)
        self.destinations.value = views.destinations_html(found)
        self.what_if.value = views.what_if_html(found.what_if)
        self.mitigations.value = views.mitigations_html(found.mitigations)
        self.refresh_chart()


def explorer(
    source: str = "sample", mode: str | None = None, start: str | None = None, end: str | None = None
) -> Explorer:
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
