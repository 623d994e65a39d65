"""The explorer's outputs as HTML and PNG, from an investigation; no widget in sight.

Destinations, reasons and titles come from the logs: every text is escaped here, and
charts draw with mathtext off (``plots.PLAIN_TEXT``) and labels from ``markup.chart_labels``.
"""

from __future__ import annotations

import html
import io
from collections.abc import Collection
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis import explorer_scope as scope
from analysis import narrative, plots
from analysis.explorer_state import DrillDown
from analysis.health import KEY
from analysis.investigation import Investigation
from analysis.markup import chart_labels
from analysis.mitigations import Mitigation

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
    """An HTML table without index; cell text is escaped (destinations come from the logs)."""
    return frame.to_html(index=False, na_rep="-", formatters=formats, border=0, classes="apim-snat-table")


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
        f"<b>{html.escape(narrative.HEADLINES[found.verdict.verdict])}</b>{sure}: "
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
    return table_html(narrative.destination_table(findings))


def what_if_html(table: pd.DataFrame) -> str:
    """The what-if table, or why there is none."""
    return table_html(table, WHAT_IF_FORMATS) if len(table) else narrative.NO_WHAT_IF


def mitigations_html(mitigations: list[Mitigation]) -> str:
    """The mitigations in the order to try them, or why there are none."""
    if not mitigations:
        return narrative.NO_MITIGATION
    items = "".join(f"<li><b>{html.escape(m.title)}</b>: {html.escape(m.reason)}.</li>" for m in mitigations)
    return f"<ol>{items}</ol>"


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed, so redrawing does not pile up memory."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def chart_png(found: Investigation, destinations: Collection[str] = (), regions: Collection[str] = ()) -> bytes:
    """The incident panels of the chosen destinations and regions (a row each, the affected first), or of the
    affected and the busiest when none is chosen."""
    demand = scope.chosen_minutes(found.diagnosis.timeseries, destinations, regions)
    keys = None
    if destinations or regions:
        chosen = set(map(tuple, demand[KEY].astype(str).drop_duplicates().to_numpy().tolist()))
        ranked = plots.panel_keys(found.findings, demand, most=len(chosen) + len(found.findings["impact"]["affected"]))
        keys = [key for key in ranked if key in chosen][: plots.MAX_ROWS]
    return png(plots.incident_panels(demand, found.findings, keys=keys))


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
