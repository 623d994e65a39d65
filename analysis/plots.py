"""Seaborn figures for the report; they draw frames they are given and read nothing else.

Labels come from the logs, so mathtext is off (a ``$`` in a host name is a dollar sign, not
a formula that fails to parse) and legend labels go through ``markup.chart_labels``.
"""

from __future__ import annotations

import math

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.assessment import PoolAssessment
from analysis.assumptions import TARGET_UTILISATION
from analysis.markup import chart_labels

# Labels are data: a "$" in a host name is a dollar sign, not the start of a formula.
PLAIN_TEXT = {"text.parse_math": False}
PANELS = (
    ("requests", "requests / min"),
    ("failures", "failed connects / min"),
    ("backend_p95_ms", "backend p95 (ms)"),
    ("demand_high", "demand, band top (ports)"),
)
#: What the fingerprint chart draws, in this order: failures by reason, then the late successes.
FINGERPRINT_KINDS = {
    "BackendConnectionFailure": ("connection failure", "crimson"),
    "Timeout": ("timeout", "darkorange"),
    "ClientConnectionFailure": ("client gave up", "purple"),
    "": ("success after 1 s or more", "grey"),
}
MAX_PANELS = 6


def drawn_destinations(demand: pd.DataFrame, highlight: list[str] | None = None, most: int = 8) -> list[str]:
    """The destinations worth a line: the highlighted ones, then the most failures, then the busiest.

    >>> frame = pd.DataFrame({"destination": ["a", "b", "c"], "failures": [0, 5, 0],
    ...                       "requests": [10, 1, 99]})
    >>> drawn_destinations(frame, highlight=["a"], most=2)
    ['a', 'b']
    """
    totals = demand.groupby("destination")[["failures", "requests"]].sum()
    totals["highlighted"] = totals.index.isin(highlight or [])
    ranked = totals.sort_values(["highlighted", "failures", "requests"], ascending=False)
    return list(ranked.index[:most])


def _time_axis(axis: Axes) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def destinations_over_time(
    demand: pd.DataFrame, capacity: float, highlight: list[str] | None = None, most: int = 8
) -> Figure:
    """Requests, failed connects, p95 latency and the top of the demand band per destination, shared time axis.

    A destination of several regions gets one line per region. At most ``most`` destinations get a
    line (see ``drawn_destinations``); a gateway with fifty backends would otherwise draw a tangle.
    """
    sns.set_theme(style="whitegrid", context="notebook", rc=PLAIN_TEXT)
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(11, 12), sharex=True)
    drawn = drawn_destinations(demand, highlight, most) if len(demand) else []
    demand = demand[demand["destination"].isin(drawn)].copy()
    if len(demand) and demand["region"].nunique() > 1:
        demand["destination"] = demand["destination"] + " (" + demand["region"] + ")"
        drawn = sorted(demand["destination"].unique())
    labels = chart_labels(drawn)
    order = [labels[name] for name in drawn]
    demand["destination"] = demand["destination"].map(labels)
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
    _time_axis(axes[-1])
    figure.tight_layout()
    return figure


def _grid(count: int, width: float = 11, height: float = 3.0, columns: int = 2) -> tuple[Figure, list[Axes]]:
    columns = 1 if count <= 1 else columns
    rows = max(1, math.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(width, height * rows + 0.6), squeeze=False)
    flat = list(axes.flat)
    for extra in flat[count:]:
        extra.set_visible(False)
    return figure, flat[: max(count, 1)]


def _finished(figure: Figure, axes: list[Axes], empty: str) -> Figure:
    """Lay the figure out; ``empty`` is said instead of an empty panel when there was nothing to draw."""
    if empty:
        axes[0].text(0.5, 0.5, empty, ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    figure.tight_layout()
    return figure


def demand_band_chart(pool_minutes: pd.DataFrame, pools: list[PoolAssessment]) -> Figure:
    """Per tested pool, the demand band (in flight .. every request in the hold a new connection) against
    its ports (one unit's and all units'), with its failed connects per minute on the right axis."""
    sns.set_theme(style="whitegrid", context="notebook")
    drawn = set(pool_minutes["pool"]) if "pool" in pool_minutes else set()
    shown = [p for p in pools if p.id in drawn][:MAX_PANELS]
    figure, axes = _grid(len(shown), columns=1)
    for axis, pool in zip(axes, shown, strict=False):
        own = pool_minutes[pool_minutes["pool"] == pool.id].sort_values("minute")
        axis.fill_between(
            own["minute"], own["demand_low"], own["demand_high"], color="steelblue", alpha=0.35, label="demand band"
        )
        axis.plot(own["minute"], own["demand_low"], color="steelblue", linewidth=1.0, label="in flight")
        low, high = pool.capacity.low, pool.capacity.high
        axis.axhline(low, color="crimson", linestyle="--", linewidth=1.2, label=f"ports ({low:,})")
        if high != low:
            axis.axhline(high, color="crimson", linestyle=":", linewidth=1.0, label=f"all units ({high:,})")
        failures = axis.twinx()
        failures.bar(own["minute"], own["failures"], width=1 / 1440, color="black", alpha=0.35)
        failures.set_ylabel("failed connects / min", fontsize="small")
        failures.grid(False)
        axis.set_yscale("symlog", linthresh=10)
        axis.set_ylim(bottom=0)
        axis.set_title(f"{pool.id} ({pool.state.replace('_', ' ')})", fontsize="small")
        axis.set_ylabel("ports")
        _time_axis(axis)
        axis.legend(loc="upper left", fontsize="x-small")
    return _finished(figure, axes, "no pool was tested" if not shown else "")


def fingerprint_chart(rows: pd.DataFrame, destinations: list[tuple[str, str]], connect_timeout_s: float) -> Figure:
    """Per destination, how long its failed calls (and its successes of a second or more) took, by reason.

    A dropped SYN ends at the connect timeout (or a shorter forward-request or client timeout) and a call whose
    first SYNs were dropped succeeds 3 or 9 s late; a refused or reset connection fails under a second.
    ``rows`` is the failure fingerprint query's result; ``destinations`` are (region, destination) pairs.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    shown = destinations[:MAX_PANELS]
    figure, axes = _grid(len(shown))
    for axis, (region, destination) in zip(axes, shown, strict=False):
        own = rows[(rows["region"].fillna("") == region) & (rows["destination"] == destination)]
        own = own[own["source"].fillna("").isin(["forward-request", "request-forwarder", ""])]
        for reason, (label, colour) in FINGERPRINT_KINDS.items():
            part = own[own["reason"].fillna("") == reason].groupby("elapsed_s")["requests"].sum()
            if part.empty:
                continue
            seconds = part.index.to_numpy(dtype=float) + 0.5
            axis.vlines(seconds, 0, part.to_numpy(), colors=colour, linewidth=3, alpha=0.8, label=label)
        timeout = f"connect timeout ({connect_timeout_s:g} s)"
        axis.axvline(connect_timeout_s, color="black", linestyle="--", linewidth=1.0, label=timeout)
        axis.axvspan(0, 1, color="crimson", alpha=0.08)
        axis.set_xscale("symlog", linthresh=1)
        axis.set_xlim(0, 310)
        axis.set_xticks([0, 1, 3, 9, 21, 60, 240])
        axis.set_xticklabels(["0", "1", "3", "9", "21", "60", "240"])
        axis.set_xlabel("elapsed (s)")
        axis.set_ylabel("calls")
        axis.set_title(f"{destination} ({region})" if region else destination, fontsize="small")
        axis.legend(loc="upper left", fontsize="x-small")
    return _finished(figure, axes, "no failed connects" if not shown else "")


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
    axis.set_xlabel("predicted peak SNAT utilisation, band top (1.0 = all ports)")
    axis.set_ylabel("")
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure
