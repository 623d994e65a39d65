"""Seaborn figures for the report; they draw frames they are given and read nothing else.

Labels come from the logs, so mathtext is off (a ``$`` in a host name is a dollar sign, not
a formula that fails to parse) and legend labels go through ``markup.chart_labels``.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from analysis.assumptions import TARGET_UTILISATION
from analysis.markup import chart_labels

# Labels are data: a "$" in a host name is a dollar sign, not the start of a formula.
PLAIN_TEXT = {"text.parse_math": False}
PANELS = (
    ("requests", "requests / min"),
    ("connection_failures", "connection failures / min"),
    ("backend_p95_ms", "backend p95 (ms)"),
    ("snat_demand", "SNAT demand (connections)"),
)


def drawn_destinations(demand: pd.DataFrame, highlight: list[str] | None = None, most: int = 8) -> list[str]:
    """The destinations worth a line: the highlighted ones, then the most failures, then the busiest.

    >>> frame = pd.DataFrame({"destination": ["a", "b", "c"], "connection_failures": [0, 5, 0],
    ...                       "requests": [10, 1, 99]})
    >>> drawn_destinations(frame, highlight=["a"], most=2)
    ['a', 'b']
    """
    totals = demand.groupby("destination")[["connection_failures", "requests"]].sum()
    totals["highlighted"] = totals.index.isin(highlight or [])
    ranked = totals.sort_values(["highlighted", "connection_failures", "requests"], ascending=False)
    return list(ranked.index[:most])


def destinations_over_time(
    demand: pd.DataFrame, capacity: float, highlight: list[str] | None = None, most: int = 8
) -> Figure:
    """Requests, failures, p95 latency and SNAT demand per destination, one panel each, shared time axis.

    At most ``most`` destinations get a line (see ``drawn_destinations``); a
    gateway with fifty backends would otherwise draw an unreadable tangle.
    """
    sns.set_theme(style="whitegrid", context="notebook", rc=PLAIN_TEXT)
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(11, 12), sharex=True)
    drawn = drawn_destinations(demand, highlight, most) if len(demand) else []
    labels = chart_labels(drawn)
    order = [labels[name] for name in drawn]
    demand = demand[demand["destination"].isin(drawn)].assign(destination=lambda f: f["destination"].map(labels))
    palette = dict(zip(order, sns.color_palette("tab10", n_colors=max(len(order), 1)), strict=False))
    for axis, (column, label) in zip(axes, PANELS, strict=True):
        if len(demand):
            sns.lineplot(
                data=demand,
                x="minute",
                y=column,
                hue="destination",
                hue_order=order,
                palette=palette,
                ax=axis,
                linewidth=1.4,
                legend=axis is axes[0],
            )
        axis.set_ylabel(label)
        axis.set_xlabel("")
    axes[-1].axhline(
        capacity, color="crimson", linestyle="--", linewidth=1.2, label=f"assumed capacity ({capacity:.0f})"
    )
    axes[-1].axhline(
        TARGET_UTILISATION * capacity,
        color="darkorange",
        linestyle=":",
        linewidth=1.0,
        label=f"{TARGET_UTILISATION * 100:.0f} % of capacity",
    )
    axes[-1].legend(loc="upper left", fontsize="small")
    if axes[0].get_legend() is not None:
        sns.move_legend(axes[0], "upper left", bbox_to_anchor=(1.01, 1.0), title="destination", fontsize="small")
    axes[-1].set_xlabel("time (UTC)")
    locator = mdates.AutoDateLocator()
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    figure.tight_layout()
    return figure


def what_if_chart(table: pd.DataFrame) -> Figure:
    """Predicted peak utilisation per setting, against the capacity and the sizing target."""
    sns.set_theme(style="whitegrid", context="notebook", rc=PLAIN_TEXT)
    figure, axis = plt.subplots(figsize=(9, 0.6 * max(len(table), 2) + 1.2))
    if len(table):
        sns.barplot(data=table, y="setting", x="peak_utilisation", ax=axis, color="steelblue")
    axis.axvline(1.0, color="crimson", linestyle="--", linewidth=1.2, label="capacity")
    axis.axvline(
        TARGET_UTILISATION, color="darkorange", linestyle=":", linewidth=1.0, label=f"{TARGET_UTILISATION * 100:.0f} %"
    )
    axis.set_xlabel("predicted peak SNAT utilisation (1.0 = all ports)")
    axis.set_ylabel("")
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure
