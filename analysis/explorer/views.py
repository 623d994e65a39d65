"""The explorer's outputs as HTML, PNG and zoomable charts, from an investigation; no other widget in sight.

Destinations, reasons and titles come from the logs: every text is escaped here (tables through
``markup.table``), and charts draw with mathtext off (``plots``) and labels from ``markup.chart_labels``.
The time series is an ipympl canvas in JupyterLab (zoom, pan, the time and value under the pointer,
a click picks a minute); the same figure is a still PNG wherever widgets cannot run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
from collections.abc import Collection
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from ipympl.backend_nbagg import Canvas, FigureManager
from matplotlib.figure import Figure

from analysis.diagnosis import words
from analysis.diagnosis.health import KEY
from analysis.diagnosis.mitigations import Mitigation
from analysis.explorer import scope
from analysis.explorer.state import DrillDown
from analysis.investigation.run import Investigation
from analysis.postmortem import body, markup, plots
from analysis.postmortem.markup import chart_labels
from analysis.times import utc_naive

Key = tuple[str, str]
#: Dots per inch of the explorer's charts: the 12-inch panels are 960 pixels wide.
DPI = 80
#: Rows of an ad-hoc result shown under the KQL box (the whole frame is returned by ``Explorer.kql``).
SHOWN_ROWS = 50
ROW_FORMATS = {"TimeGenerated": lambda t: "-" if pd.isna(t) else f"{t:%H:%M:%S.%f}"[:-3]}

WHAT_IF_FORMATS = {
    "peak_utilisation": "{:.0%}".format,
    "requests_per_connection": "{:g}".format,
    "capacity": "{:,}".format,
}


def message_html(text: str) -> str:
    """One line in red, or nothing.

    >>> message_html("units: <0>")
    '<span style="color:#b00020">units: &lt;0&gt;</span>'
    """
    return f'<span style="color:#b00020">{html.escape(text)}</span>' if text else ""


def stop_labels(stops: list[pd.Timestamp]) -> list[tuple[str, pd.Timestamp]]:
    """Slider options: each stop with its time, and its date too when the stops span several days.

    >>> stop_labels([pd.Timestamp("2025-01-01 23:59"), pd.Timestamp("2025-01-02 00:00")])[1][0]
    '01-02 00:00'
    """
    several_days = stops[0].normalize() != stops[-1].normalize()
    return [(stop.strftime("%m-%d %H:%M" if several_days else "%H:%M"), stop) for stop in stops]


def table_html(frame: pd.DataFrame, formats: dict[str, Any] | None = None) -> str:
    """An HTML table without index, every cell escaped (destinations come from the logs); numbers and their
    headings to the right, text and its headings to the left, so that each heading sits over its column;
    cells on one line (a CorrelationId is copied whole), the table scrolling sideways when wide."""
    styler = markup.table(frame, formats).set_table_attributes('class="apim-snat-table"')
    styler = styler.set_table_styles(
        [
            {"selector": "", "props": "border-collapse: collapse;"},
            {"selector": "th, td", "props": "text-align: left; padding: 2px 10px; white-space: nowrap;"},
            {"selector": "th", "props": "border-bottom: 1px solid #999;"},
        ]
    )
    numeric = [column for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])]
    # The styles' scope is named after what they depend on: the same table HTML for the same frame, and two
    # tables on one page share a scope only when their styles are the same.
    shape = repr((list(map(str, frame.columns)), list(map(str, numeric))))
    styler = styler.set_uuid("apim" + hashlib.sha1(shape.encode()).hexdigest()[:10])
    if numeric:
        styler = styler.set_table_styles(
            {column: [{"selector": "", "props": "text-align: right;"}] for column in numeric}, overwrite=False
        )
    return f'<div style="overflow-x: auto">{styler.to_html()}</div>'  # wide rows scroll, ids stay on one line


def verdict_html(found: Investigation, queried_s: float) -> str:
    """The verdict and its reason, the assumed capacity, and the window with the time its queries took."""
    a = found.assumptions
    start, end = found.window
    minutes = int((end - start) / pd.Timedelta(minutes=1))
    sure = f" ({found.verdict.confidence} confidence)" if found.verdict.confidence is not None else ""
    contradictions = "".join(
        f"<br>{html.escape(pool.holds_if.contradiction)}."
        for pool in found.pools
        if pool.exhausted and pool.holds_if is not None and pool.holds_if.contradiction
    )
    return (
        f"<b>{html.escape(words.HEADLINES[found.verdict.verdict])}</b>{sure}: "
        f"{html.escape(found.verdict.reason)}.{contradictions}<br>"
        f"Assumed capacity <b>{a.snat_capacity:,}</b> ports per destination ({a.snat_ports:,} x {a.units} unit(s)), "
        f"{a.requests_per_connection:g} request(s) per connection. "
        f"Window {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC ({minutes} min), "
        f"queried in {queried_s:.1f} s."
    )


def destinations_html(found: Investigation, destinations: Collection[str] = (), regions: Collection[str] = ()) -> str:
    """The report's destination table, of the chosen destinations and regions (empty choices: all)."""
    findings = scope.chosen_findings(found.findings, destinations, regions)
    if not findings["destinations"]:
        return "No destination of the chosen ones has traffic in this window."
    return table_html(body.destination_table(findings))


def what_if_html(table: pd.DataFrame) -> str:
    """The what-if table, or why there is none."""
    return table_html(table, WHAT_IF_FORMATS) if len(table) else body.NO_WHAT_IF


def mitigations_html(mitigations: list[Mitigation]) -> str:
    """The mitigations in the order to try them, or why there are none."""
    if not mitigations:
        return body.NO_MITIGATION
    items = "".join(f"<li><b>{html.escape(m.title)}</b>: {html.escape(m.reason)}.</li>" for m in mitigations)
    return f"<ol>{items}</ol>"


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed, so redrawing does not pile up memory."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def chart(
    found: Investigation, destinations: Collection[str] = (), regions: Collection[str] = ()
) -> tuple[Figure, list[Key]]:
    """The incident panels of the chosen destinations and regions (a row each, the affected first), or of the
    affected and the busiest when none is chosen; and the (region, destination) of each row."""
    demand = scope.chosen_minutes(found.diagnosis.timeseries, destinations, regions)
    if destinations or regions:
        chosen = set(map(tuple, demand[KEY].astype(str).drop_duplicates().to_numpy().tolist()))
        ranked = plots.panel_keys(found.findings, demand, most=len(chosen) + len(found.findings["impact"]["affected"]))
        keys = [key for key in ranked if key in chosen][: plots.MAX_ROWS]
    else:
        keys = plots.panel_keys(found.findings, demand)
    return plots.incident_panels(demand, found.findings, keys=keys), keys


def chart_png(found: Investigation, destinations: Collection[str] = (), regions: Collection[str] = ()) -> bytes:
    """``chart`` as a still PNG."""
    return png(chart(found, destinations, regions)[0])


def interactive(figure: Figure) -> Canvas:
    """The figure as an ipympl canvas: a toolbar to zoom and pan, the time and value under the pointer below.

    The figure leaves pyplot (nothing else draws or shows it) and is drawn at ``DPI``.
    """
    plt.close(figure)
    figure.set_dpi(DPI)
    canvas = Canvas(figure)
    FigureManager(canvas, 0)  # gives the canvas its toolbar
    canvas.header_visible = False
    canvas.toolbar_position = "left"
    canvas.resizable = False
    return canvas


def minute_at(figure: Figure, keys: list[Key], axes: Any, x: float | None) -> tuple[Key, pd.Timestamp] | None:
    """The panel row's (region, destination) and the minute under a click at ``x`` on ``axes``; None off a panel.

    >>> figure, grid = plt.subplots(2, 3, squeeze=False)
    >>> minute_at(figure, [("r", "a"), ("r", "b")], grid[1][2], mdates.date2num(pd.Timestamp("2025-02-25 09:40:31")))
    (('r', 'b'), Timestamp('2025-02-25 09:40:00'))
    """
    if axes is None or x is None or axes not in figure.axes:
        return None
    row = figure.axes.index(axes) // len(plots.COLUMNS)
    if row >= len(keys):
        return None
    return keys[row], utc_naive(mdates.num2date(x)).floor("min")


ERROR_FORMATS = {
    "errors": "{:,}".format,
    "first_seen": "{:%H:%M:%S}".format,
    "last_seen": "{:%H:%M:%S}".format,
}
DRIVER_FORMATS = {"requests": "{:,}".format, "share": "{:.1%}".format, "connection_failures": "{:,}".format}


def errors_html(drill: DrillDown) -> str:
    """The destination's errors by reason, or that it had none."""
    if drill.errors.empty:
        return "No errors logged for this destination in the window."
    return table_html(drill.errors, ERROR_FORMATS)


def drivers_html(drill: DrillDown) -> str:
    """Who sent the destination's calls, and over which minutes."""
    if drill.drivers.empty:
        return "No load drivers: no API, operation, subscription or caller had 1 % of its calls."
    shown = drill.drivers.assign(region=drill.drivers["region"].map(scope.region_label)).drop(columns="destination")
    return f"<p>{html.escape(drill.drivers_scope)}</p>" + table_html(shown, DRIVER_FORMATS)


def latency_html(drill: DrillDown) -> str:
    """The latency distribution as a table (the chart beside it shows the same buckets)."""
    if drill.latency.empty:
        return "No backend times logged for this destination in the window."
    return table_html(drill.latency, {c: "{:,}".format for c in drill.latency.columns if c != "backend_time"})


def latency_png(drill: DrillDown) -> bytes:
    """The destination's calls per backend-time bucket, the failed ones over them (``plots.latency_chart``)."""
    return png(plots.latency_chart(drill.latency, drill.destination))


def fingerprint_png(found: Investigation, drill: DrillDown) -> bytes:
    """The failure fingerprint chart of the destination, one panel per region."""
    label = chart_labels([drill.destination])[drill.destination]
    rows = found.fingerprint[found.fingerprint["destination"] == drill.destination].assign(destination=label)
    keys = [(region, label) for region, _ in drill.fingerprint_keys]
    return png(plots.fingerprint_chart(rows, keys, found.diagnosis.connect_timer_s))


def drill_what_if_html(table: pd.DataFrame, replayed: str) -> str:
    """The destination's what-if table, saying whose minutes it replays."""
    if table.empty:
        return "No minutes to replay for this destination."
    return f"<p>Replays {html.escape(replayed)}.</p>" + table_html(table, WHAT_IF_FORMATS)


def minute_options(minutes: pd.DataFrame) -> list[tuple[str, pd.Timestamp | None]]:
    """The bad-minute choice: a dash, then each minute (``scope.bad_minutes``) with how many failed.

    >>> minute_options(pd.DataFrame({"minute": [pd.Timestamp("2025-02-25 09:40")], "failed_requests": [35],
    ...                              "requests": [120]}))
    [('-', None), ('09:40 UTC: 35 of 120 failed', Timestamp('2025-02-25 09:40:00'))]
    """
    return [("-", None)] + [
        (f"{row.minute:%H:%M} UTC: {row.failed_requests:,} of {row.requests:,} failed", row.minute)
        for row in minutes.itertuples()
    ]


def rows_html(rows: pd.DataFrame) -> str:
    """The requests behind a minute, newest first (``request_rows``), or that the minute has none."""
    if rows.empty:
        return "No logged request of this destination in that minute."
    shown = rows.drop(columns=[c for c in ("Destination",) if c in rows.columns])
    return f"<p>{len(rows):,} request(s), newest first (times UTC).</p>" + table_html(shown, ROW_FORMATS)


def adhoc_html(result: pd.DataFrame) -> str:
    """An ad-hoc query's result: its first ``SHOWN_ROWS`` rows and how many there are."""
    if result.empty:
        return "(no rows)"
    more = f", the first {SHOWN_ROWS} shown" if len(result) > SHOWN_ROWS else ""
    return f"<p>{len(result):,} row(s){more}.</p>" + table_html(result.head(SHOWN_ROWS))


def still_html(verdict: str, chart: bytes) -> str:
    """The explorer as a saved notebook shows it where widgets cannot run: the verdict and the chart."""
    image = f'<img src="data:image/png;base64,{base64.b64encode(chart).decode()}">' if chart else ""
    note = "<p><i>A still picture: run the notebook in JupyterLab for the interactive explorer.</i></p>"
    return f"<div>{verdict}</div>{image}{note}"
