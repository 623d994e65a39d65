"""The explorer's outputs as HTML and PNG, from an investigation; no widget in sight.

Destinations, reasons and titles come from the logs: every text is escaped here.
"""

from __future__ import annotations

import html
import io
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis import narrative, plots
from analysis.health import KEY
from analysis.investigation import Investigation
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
    return (
        f"<b>{html.escape(narrative.HEADLINES[found.verdict.verdict])}</b>: {html.escape(found.verdict.reason)}.<br>"
        f"Assumed capacity <b>{a.snat_capacity:,}</b> ports per destination ({a.snat_ports:,} x {a.units} unit(s)), "
        f"{a.requests_per_connection:g} request(s) per connection. "
        f"Window {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC ({minutes} min), "
        f"queried in {queried_s:.1f} s."
    )


def destinations_html(found: Investigation) -> str:
    """The report's destination table."""
    return table_html(narrative.destination_table(found.findings))


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


def chart_png(found: Investigation, destination: str | None = None) -> bytes:
    """The incident panels of one destination (a row per region), or of the affected and busiest when None."""
    demand = found.diagnosis.timeseries
    keys = None
    if destination is not None:
        keys = sorted({(str(r), str(d)) for r, d in demand.loc[demand["destination"] == destination, KEY].values})
    return png(plots.incident_panels(demand, found.findings, keys=keys))
