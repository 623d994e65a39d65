"""The interactive explorer for an on-call engineer: pick a source and a range, adjust assumptions, see the answer move.

This module only wires widgets: ``state`` opens sources, queries and recomputes
(a window is queried again only when it changes, the analysis on every assumption
change), ``scope`` narrows to the chosen destinations, regions and one
destination in depth, ``views`` turns the results into HTML, PNG and the
zoomable time series, on which a click picks a destination and a minute: the requests
behind it are listed, with the KQL that lists them in the Log Analytics portal. A KQL
box (and ``Explorer.kql`` in a cell) runs the user's own KQL on the same source and window.

Nothing here waits for input, so a notebook that shows the explorer also runs to
completion in batch (papermill). Every ``KitError`` (bad window, units 0, unreadable
file, a start after the end) becomes one line in the UI instead of a traceback. A saved
notebook shows the verdict and the chart as a still picture where widgets cannot run.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import pandas as pd
from matplotlib.backend_bases import MouseEvent
from matplotlib.figure import Figure

from analysis.diagnosis.assumptions import Assumptions
from analysis.errors import KitError
from analysis.explorer import scope, views
from analysis.explorer.state import ExplorerState, Span
from analysis.investigation.run import Investigation, WindowData
from analysis.sources import open_source
from analysis.sources.base import Source
from analysis.times import iso, optional_time, user_window

#: The drill-down's choice when no destination is looked at in depth.
NO_DESTINATION = ""
SOURCE_HINT = "sample, file:PATH, cache:DIR, loganalytics:WORKSPACE_ID, kusto:https://CLUSTER/DATABASE"
WIDE = {"description_width": "initial"}
CHART_HINT = (
    "Zoom and pan with the toolbar; the time and value under the pointer show below the chart. With neither "
    "tool on, click a panel at a minute to list that destination's requests of the minute (further down)."
)
KQL_HINT = "GatewayRequests | summarize requests = count(), failed = countif(ResponseCode >= 500) by Destination"


def _text(kind: type[widgets.Widget], value: float, description: str, width: str) -> Any:
    return kind(value=value, description=description, style=WIDE, layout=widgets.Layout(width=width))


def _slider(kind: type[widgets.Widget], description: str, low: float, high: float, step: float) -> Any:
    return kind(
        min=low, max=high, step=step, description=description, continuous_update=False, style=WIDE,
        layout=widgets.Layout(width="420px"),
    )  # fmt: skip


def _heading(text: str) -> widgets.HTML:
    return widgets.HTML(f"<h4>{text}</h4>")


class Explorer(widgets.VBox):
    """The explorer's widgets, over an ``ExplorerState``.

    The source box opens another source; the range selector and the custom start/end
    set the span of the window slider; the slider queries (unless the window was seen
    recently); assumption boxes only recompute; the destination and region choices
    redraw the table and the chart; the drill-down shows one destination, and its
    what-if sliders redo only its what-if table.
    """

    def __init__(
        self,
        source: Source | None,
        error: str = "",
        span: Span = (None, None),
        spec: str = "sample",
        mode: str | None = None,
    ) -> None:
        """``span`` bounds the window slider; a missing bound comes from the source's time range.

        ``spec`` is the source's text for the source box; ``mode`` the logging mode every source is opened in.
        """
        self.state = ExplorerState(source, span) if source is not None else None
        self._span, self._mode = span, mode
        self._quiet = False

        defaults = Assumptions()
        self.source_box = widgets.Combobox(
            value=spec,
            options=["sample"],
            placeholder=SOURCE_HINT,
            description="source",
            ensure_option=False,
            continuous_update=False,
            layout=widgets.Layout(width="60%"),
        )
        self.range = widgets.Dropdown(options=scope.RANGES, value=scope.GIVEN, description="range")
        self.start_box = widgets.Text(description="start (UTC)", continuous_update=False, style=WIDE)
        self.end_box = widgets.Text(description="end (UTC)", continuous_update=False, style=WIDE)
        self.window = widgets.SelectionRangeSlider(
            options=[("-", None)],
            description="window (UTC)",
            continuous_update=False,
            layout=widgets.Layout(width="95%"),
            style=WIDE,
        )
        self.snat_ports = _text(widgets.IntText, defaults.snat_ports, "SNAT ports / unit", "200px")
        self.units = _text(widgets.IntText, defaults.units, "units (during the incident)", "220px")
        self.requests_per_connection = _text(
            widgets.FloatText, defaults.requests_per_connection, "requests / connection", "220px"
        )
        self.chosen_destinations = widgets.SelectMultiple(description="destinations", rows=6, style=WIDE)
        self.chosen_regions = widgets.SelectMultiple(description="regions", rows=6, style=WIDE)
        self.message = widgets.HTML(value="")
        self.verdict = widgets.HTML(value="")
        self.destinations = widgets.HTML(value="")
        self.chart = widgets.Box(layout=widgets.Layout(max_width="100%", overflow="auto"))
        self.chart_figure: Figure | None = None
        self._chart_keys: list[tuple[str, str]] = []
        self.what_if = widgets.HTML(value="")
        self.mitigations = widgets.HTML(value="")

        self.drill_destination = widgets.Dropdown(
            options=[("-", NO_DESTINATION)], description="destination", layout=widgets.Layout(width="520px")
        )
        self.errors = widgets.HTML(value="")
        self.drivers = widgets.HTML(value="")
        self.latency_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.latency = widgets.HTML(value="")
        self.fingerprint = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.what_if_units = _slider(widgets.IntSlider, "units", 1, 20, 1)
        self.what_if_ips = _slider(widgets.IntSlider, "backend IPs", 1, 16, 1)
        self.what_if_reuse = _slider(widgets.FloatSlider, "requests / connection", 1, 50, 0.5)
        self.what_if_ports = _slider(widgets.IntSlider, "SNAT ports / unit", 64, 8192, 64)
        self.drill_what_if = widgets.HTML(value="")
        self.bad_minute = widgets.Dropdown(options=[("-", None)], description="bad minutes", style=WIDE)
        self.minute_box = widgets.Text(
            description="minute (UTC)", placeholder="2025-02-25T09:40Z", continuous_update=False, style=WIDE
        )
        self.failed_only = widgets.Checkbox(value=False, description="failed requests only", indent=False)
        self.rows = widgets.HTML(value="")
        self.rows_kql = widgets.Textarea(
            value="", description="KQL", layout=widgets.Layout(width="95%", height="14em"), style=WIDE
        )
        self.kql_box = widgets.Textarea(
            value="", placeholder=KQL_HINT, description="KQL", layout=widgets.Layout(width="95%", height="6em")
        )
        self.kql_run = widgets.Button(description="Run", tooltip="run the KQL on this source and window")
        self.kql_result = widgets.HTML(value="")
        self.kql_frame: pd.DataFrame | None = None
        """The last result of the KQL box, whole."""

        super().__init__(
            children=[
                self.source_box,
                widgets.HBox([self.range, self.start_box, self.end_box]),
                self.window,
                widgets.HBox([self.snat_ports, self.units, self.requests_per_connection]),
                self.message,
                self.verdict,
                _heading("Destinations (choose none for all)"),
                widgets.HBox([self.chosen_destinations, self.chosen_regions]),
                self.destinations,
                _heading("Over time"),
                widgets.HTML(f"<small>{CHART_HINT}</small>"),
                self.chart,
                _heading("What if"),
                self.what_if,
                _heading("What to do"),
                self.mitigations,
                _heading("One destination in depth"),
                self.drill_destination,
                _heading("Errors by reason"),
                self.errors,
                _heading("Load drivers"),
                self.drivers,
                _heading("Latency distribution (backend time)"),
                self.latency_chart,
                self.latency,
                _heading("Failure fingerprint"),
                self.fingerprint,
                _heading("What if, for this destination"),
                widgets.HBox([self.what_if_units, self.what_if_ips]),
                widgets.HBox([self.what_if_reuse, self.what_if_ports]),
                self.drill_what_if,
                _heading("Requests behind a minute (of the destination above)"),
                widgets.HBox([self.bad_minute, self.minute_box, self.failed_only]),
                self.rows,
                widgets.HTML(
                    "<small>The same rows in the Log Analytics portal: copy this KQL and run it there.</small>"
                ),
                self.rows_kql,
                _heading("KQL over this source and window"),
                widgets.HTML(
                    "<small>start, end and GatewayRequests (either logging mode) are defined; "
                    "in a cell, <code>shown.kql(text)</code> returns the result as a DataFrame.</small>"
                ),
                self.kql_box,
                self.kql_run,
                self.kql_result,
            ]
        )
        self._observe()
        if self.state is None:
            self.message.value = views.message_html(error)
            return
        self.apply_range(scope.GIVEN)

    def _observe(self) -> None:
        """Every control calls its handler; none fires while the explorer sets controls itself."""
        handlers: list[tuple[widgets.Widget, Callable[[], None]]] = [
            (self.source_box, lambda: self.switch_source(self.source_box.value)),
            (self.range, lambda: self.apply_range(self.range.value)),
            (self.start_box, self._custom_edited),
            (self.end_box, self._custom_edited),
            (self.window, self.refresh_window),
            (self.snat_ports, self.refresh_analysis),
            (self.units, self.refresh_analysis),
            (self.requests_per_connection, self.refresh_analysis),
            (self.chosen_destinations, self.refresh_chosen),
            (self.chosen_regions, self.refresh_chosen),
            (self.drill_destination, self.refresh_drill),
            (self.what_if_units, self.refresh_drill_what_if),
            (self.what_if_ips, self.refresh_drill_what_if),
            (self.what_if_reuse, self.refresh_drill_what_if),
            (self.what_if_ports, self.refresh_drill_what_if),
            (self.bad_minute, self._bad_minute_chosen),
            (self.minute_box, self.refresh_rows),
            (self.failed_only, self.refresh_rows),
        ]
        for control, handler in handlers:
            control.observe(lambda _change, handler=handler: None if self._quiet else handler(), names="value")
        self.kql_run.on_click(lambda _button: self.run_kql_box())

    @contextmanager
    def _setting(self) -> Iterator[None]:
        """Set controls without their handlers running."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

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

    def what_if_choice(self) -> scope.WhatIfChoice:
        """The drill-down's what-if sliders."""
        return scope.WhatIfChoice(
            units=int(self.what_if_units.value),
            backend_ips=int(self.what_if_ips.value),
            requests_per_connection=float(self.what_if_reuse.value),
            snat_ports=int(self.what_if_ports.value),
        )

    def close(self) -> None:
        """Close the widgets and release the source behind them."""
        if self.state is not None:
            self.state.close()
            self.state = None
        super().close()

    def switch_source(self, spec: str) -> None:
        """Open another source in place of the one in use (kept when the new one cannot be opened)."""
        try:
            if self.state is None:
                self.state = ExplorerState(open_source(spec, self._mode or None), self._span)
            else:
                self.state.switch(spec, self._mode)
        except KitError as err:
            self._show_message(str(err))
            return
        self._clear()
        with self._setting():
            self.range.value = scope.GIVEN
        self.apply_range(scope.GIVEN)

    def apply_range(self, name: str) -> None:
        """Span the window slider over a range (a preset, the custom start and end, or the given window)."""
        if self.state is None:
            return
        try:
            start, end = self.state.use_range(name, self.start_box.value, self.end_box.value)
            stops = self.state.stops()
        except KitError as err:
            self._show_message(str(err))
            return
        with self._setting():
            self.start_box.value, self.end_box.value = iso(start) or "", iso(end) or ""
            self.window.options = views.stop_labels(stops)
            self.window.index = (0, len(stops) - 1)
        self.refresh_window()

    def _custom_edited(self) -> None:
        with self._setting():
            self.range.value = scope.CUSTOM
        self.apply_range(scope.CUSTOM)

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
        self._set_choices()
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
        self.verdict.value = views.verdict_html(found, self.state.data.duration_s)
        self.what_if.value = views.what_if_html(found.what_if)
        self.mitigations.value = views.mitigations_html(found.mitigations)
        self.refresh_chosen()
        self._seed_what_if(found.assumptions)
        self.refresh_drill()

    def refresh_chosen(self) -> None:
        """Redraw the destination table and the chart for the chosen destinations and regions."""
        found = self.investigation
        if found is None:
            return
        chosen = (self.chosen_destinations.value, self.chosen_regions.value)
        self.destinations.value = views.destinations_html(found, *chosen)
        self._show_chart(*views.chart(found, *chosen))

    def _show_chart(self, figure: Figure | None, keys: list[tuple[str, str]]) -> None:
        """Put ``figure`` (a panel row per key) in the chart's place, zoomable, a click picking a minute."""
        for old in self.chart.children:
            old.close()
        self.chart_figure, self._chart_keys = figure, keys
        if figure is None:
            self.chart.children = ()
            return
        canvas = views.interactive(figure)
        canvas.mpl_connect("button_press_event", self.clicked)
        self.chart.children = (canvas,)

    def clicked(self, event: MouseEvent) -> None:
        """A click on the chart: with no zoom or pan tool on, the minute under it on its panel's destination."""
        toolbar = event.canvas.toolbar
        if self.chart_figure is None or (toolbar is not None and toolbar.mode):
            return
        picked = views.minute_at(self.chart_figure, self._chart_keys, event.inaxes, event.xdata)
        if picked is not None:
            (_region, destination), minute = picked
            self.pick_minute(destination, minute)

    def pick_minute(self, destination: str, minute: pd.Timestamp) -> None:
        """Look at ``destination`` in depth and list its requests of ``minute``."""
        with self._setting():
            self.minute_box.value = iso(minute) or ""
        if self.drill_destination.value == destination:
            self.refresh_rows()
        else:
            self.drill_destination.value = destination  # its drill-down lists the rows of the minute too

    def refresh_drill(self) -> None:
        """Show the chosen destination in depth (querying its latency and drivers once per window)."""
        destination = self.drill_destination.value
        if self.state is None or self.investigation is None or destination == NO_DESTINATION:
            self._clear_drill()
            return
        try:
            drill = self.state.drill(destination)
        except KitError as err:
            self._clear_drill()
            self._show_message(str(err))
            return
        self.errors.value = views.errors_html(drill)
        self.drivers.value = views.drivers_html(drill)
        self.latency_chart.value = views.latency_png(drill)
        self.latency.value = views.latency_html(drill)
        self.fingerprint.value = views.fingerprint_png(self.investigation, drill)
        self.refresh_drill_what_if()
        with self._setting():
            bad = scope.bad_minutes(self.investigation.diagnosis.timeseries, destination)
            self.bad_minute.options = views.minute_options(bad)
            self.bad_minute.value = None
        self.refresh_rows()

    def _bad_minute_chosen(self) -> None:
        if self.bad_minute.value is not None:
            with self._setting():
                self.minute_box.value = iso(self.bad_minute.value) or ""
            self.refresh_rows()

    def refresh_rows(self) -> None:
        """The requests of the minute in the box, of the destination in depth, and their KQL for the portal."""
        destination, text = self.drill_destination.value, self.minute_box.value
        self.rows.value = self.rows_kql.value = ""
        if self.state is None or destination == NO_DESTINATION or not text.strip():
            return
        try:
            typed = optional_time("minute", text)
            if typed is None:
                return
            minute = typed.floor("min")
            self.rows_kql.value = self.state.rows_kql(destination, minute, self.failed_only.value)
            run = self.state.minute_rows(destination, minute, self.failed_only.value)
        except KitError as err:
            self.rows.value = views.message_html(str(err).splitlines()[0])
            return
        with self._setting():
            self.minute_box.value = iso(minute) or ""
        self.rows.value = views.rows_html(run.result)

    def kql(self, text: str, **params: str) -> pd.DataFrame:
        """KQL over the explorer's source and current window, as ``apim-snat query`` runs it, as a DataFrame.

        ``params`` fill parameters the text declares (as text, e.g. ``min_share="0.05"``). A mistake is one
        line on stderr and an empty frame, never a traceback in the notebook.
        """
        try:
            return self._adhoc(text, params)
        except KitError as err:
            print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
            return pd.DataFrame()

    def run_kql_box(self) -> None:
        """The KQL box's text, run; its result shown under it and kept whole in ``kql_frame``."""
        self.kql_frame = None
        try:
            self.kql_frame = self._adhoc(self.kql_box.value)
        except KitError as err:
            self.kql_result.value = views.message_html(str(err).splitlines()[0])
            return
        self.kql_result.value = views.adhoc_html(self.kql_frame)

    def _adhoc(self, text: str, params: dict[str, str] | None = None) -> pd.DataFrame:
        if self.state is None:
            raise KitError("no source is open")
        return self.state.adhoc(text, params)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widgets where they can run; where they cannot (a saved notebook opened again) the verdict and a
        still chart."""
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        still = views.png(self.chart_figure) if self.chart_figure is not None else b""
        bundle["text/html"] = views.still_html(self.verdict.value or self.message.value, still)
        if still:
            bundle["image/png"] = base64.b64encode(still).decode()
        bundle["text/plain"] = "APIM SNAT explorer (run the notebook in JupyterLab to use it)"
        return bundle

    def refresh_drill_what_if(self) -> None:
        """The drill-down's what-if table under the sliders; never queries."""
        destination = self.drill_destination.value
        found = self.investigation
        if found is None or destination == NO_DESTINATION:
            self.drill_what_if.value = ""
            return
        try:
            table = scope.destination_what_if(found, destination, self.what_if_choice())
        except KitError as err:
            self.drill_what_if.value = views.message_html(str(err).splitlines()[0])
            return
        self.drill_what_if.value = views.drill_what_if_html(table, scope.replayed_minutes(found, destination)[1])

    def _seed_what_if(self, assumptions: Assumptions) -> None:
        """The what-if sliders start from what the analysis assumes."""
        start = scope.WhatIfChoice.assumed(assumptions)
        with self._setting():
            for slider, value in (
                (self.what_if_units, start.units),
                (self.what_if_ips, start.backend_ips),
                (self.what_if_reuse, start.requests_per_connection),
                (self.what_if_ports, start.snat_ports),
            ):
                slider.max = max(slider.max, value)
                slider.min = min(slider.min, value)
                slider.value = value

    def _set_choices(self) -> None:
        """Destinations and regions of a new window; choices still there stay chosen."""
        assert self.state is not None
        names, regions = self.state.destinations, self.state.regions
        drilled = self.drill_destination.value
        with self._setting():
            kept = [d for d in self.chosen_destinations.value if d in names]
            self.chosen_destinations.options = names
            self.chosen_destinations.value = kept
            kept_regions = [r for r in self.chosen_regions.value if r in regions]
            self.chosen_regions.options = [(scope.region_label(r), r) for r in regions]
            self.chosen_regions.value = kept_regions
            self.drill_destination.options = [("-", NO_DESTINATION), *((name, name) for name in names)]
            if drilled not in names:
                drilled = self._most_failing()
            self.drill_destination.value = drilled

    def _most_failing(self) -> str:
        """The drill-down's first choice in a window: the destination with the most failed connects, if any."""
        data = self.data
        failures = data.health.groupby("destination")["connection_failures"].sum() if data is not None else None
        if failures is None or failures.empty or failures.max() <= 0:
            return NO_DESTINATION
        return str(failures.idxmax())

    def _show_message(self, text: str) -> None:
        """One line in red; what is shown stays, as it still describes the window in use."""
        self.message.value = views.message_html(text.splitlines()[0] if text else "error")

    def _show_error(self, text: str) -> None:
        """One line in red; the outputs are emptied so no stale figure passes for a current one."""
        self._show_message(text)
        self._clear()

    def _clear(self) -> None:
        for output in (self.verdict, self.destinations, self.what_if, self.mitigations):
            output.value = ""
        self._show_chart(None, [])
        self._clear_drill()

    def _clear_drill(self) -> None:
        for output in (self.errors, self.drivers, self.latency, self.drill_what_if, self.rows, self.rows_kql):
            output.value = ""
        self.latency_chart.value = self.fingerprint.value = b""
        with self._setting():
            self.bad_minute.options = [("-", None)]


def explorer(
    source: str = "sample",
    mode: str | None = None,
    start: str | None = None,
    end: str | None = None,
    time_range: str = "",
) -> Explorer:
    """The explorer for ``sample``, ``file:PATH``, ``cache:DIR`` or an Azure source; a bad source or time shows
    its one-line error.

    ``start`` and ``end`` (ISO 8601 UTC, empty for the source's own range) bound the
    window slider; Azure sources need both, or a preset ``time_range`` (``last 1 h``,
    ``last 6 h``, ``last 24 h``: up to the source's last minute, or now for Azure).
    """
    spec = source or "sample"
    try:
        span = user_window(start, end)
        if time_range and time_range not in scope.PRESETS:
            raise KitError(f"unknown time range {time_range!r} (use one of: {', '.join(scope.PRESETS)})")
        opened = open_source(spec, mode or None)
    except KitError as err:
        return Explorer(None, str(err), spec=spec, mode=mode)
    shown = Explorer(opened, span=span, spec=spec, mode=mode)
    if time_range:
        shown.range.value = time_range
    return shown
