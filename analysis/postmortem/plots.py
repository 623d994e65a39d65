"""Seaborn figures for the report; they draw frames they are given and read nothing else.

Labels come from the logs, so mathtext is off (a ``$`` in a host name is a dollar sign, not
a formula that fails to parse) and legend labels go through ``markup.chart_labels``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assessment import Classification, PoolAssessment
from analysis.diagnosis.assumptions import TARGET_UTILISATION
from analysis.diagnosis.health import KEY
from analysis.diagnosis.words import WHAT
from analysis.postmortem.markup import chart_labels
from analysis.times import parse_utc

P = ParamSpec("P")
Key = tuple[str, str]
#: The incident panels: a row per destination, these columns, one time axis for all.
COLUMNS = ("calls / min", "backend p95 (ms)", "SNAT ports")
MAX_ROWS = 6
ROW_INCHES, TOP_INCHES, BOTTOM_INCHES = 2.9, 1.4, 0.7
#: One colour, one meaning, in every chart of the report: calls blue, failed calls red, latency orange, SNAT ports
#: in use green, a limit (ports, a timer) black, trouble yellow, notes purple.
REQUEST_COLOUR, FAILED_COLOUR, LATENCY_COLOUR, BAND_COLOUR = "tab:blue", "tab:red", "tab:orange", "tab:green"
LIMIT_COLOUR, EPISODE_COLOUR, NOTE_COLOUR, WARM_UP_COLOUR = "black", "gold", "tab:purple", "grey"
#: Episodes are a strip along the top of a panel: a shading under the lines would tint their colours.
EPISODE_ALPHA, EPISODE_STRIP = 0.9, 0.94
#: What the fingerprint chart draws, in this order: failures by reason, then the late successes.
FINGERPRINT_KINDS = {
    "BackendConnectionFailure": ("could not connect", FAILED_COLOUR),
    "Timeout": ("no answer in time (Timeout)", "tab:brown"),
    "ClientConnectionFailure": ("the client gave up", "tab:pink"),
    "": ("answered after 1 s or more", REQUEST_COLOUR),
}
TIME_LABEL = "time (UTC)"
MAX_PANELS = 6


def _plain_text(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw with mathtext off: labels come from the logs, and a ``$`` in a host name is a dollar sign.

    Scoped to the drawing, so another figure's numbers (a log axis' ``10^3``) keep their formatting.
    """

    @functools.wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with plt.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _time_axis(axis: Axes, span: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> None:
    """Times in UTC under the axis, labelled so: hours and minutes within a day, with the day when the span has
    several; the day of a one-day span is in the label."""
    locator = mdates.AutoDateLocator(maxticks=8)
    axis.xaxis.set_major_locator(locator)
    several = span is not None and span[0].normalize() != (span[1] - pd.Timedelta(microseconds=1)).normalize()
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M" if several else "%H:%M"))
    day = f", {span[0]:%Y-%m-%d}" if span is not None and not several else ""
    axis.set_xlabel(f"{TIME_LABEL}{day}", fontsize="small")
    axis.tick_params(axis="x", labelbottom=True, labelsize="small")


def _window(findings: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    return parse_utc(findings["window"]["start"]), parse_utc(findings["window"]["end"])


def _time_span(findings: dict[str, Any], minutes: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window, narrowed to the minutes drawn: a year's window over two hours of logs shows the two hours."""
    start, end = _window(findings)
    if minutes.empty:
        return start, end
    return max(start, minutes["minute"].min()), min(end, minutes["minute"].max() + pd.Timedelta(minutes=1))


def warm_up_end(findings: dict[str, Any]) -> pd.Timestamp:
    """Until when the demand band lacks the minutes before the window: its trailing hold and idle time.

    A port taken before the window is not in its rows, so the band would climb from zero at the start.
    """
    a = findings["assumptions"]
    return _window(findings)[0] + pd.Timedelta(minutes=a["port_hold_minutes"] + a["pool_idle_minutes"])


def panel_keys(findings: dict[str, Any], timeseries: pd.DataFrame, most: int = MAX_ROWS) -> list[Key]:
    """The (region, destination) rows of the incident panels: the affected ones first, then the busiest.

    >>> doc = {"impact": {"affected": [{"region": "r", "destination": "b"}]}}
    >>> frame = pd.DataFrame({"region": ["r", "r", "r"], "destination": ["a", "b", "c"], "requests": [9, 1, 5]})
    >>> panel_keys(doc, frame, most=2)
    [('r', 'b'), ('r', 'a')]
    """
    keys = [(e["region"], e["destination"]) for e in findings["impact"]["affected"]]
    if len(timeseries):
        busiest = timeseries.groupby(KEY, sort=False)["requests"].sum().sort_values(ascending=False, kind="stable")
        keys += [(str(r), str(d)) for r, d in busiest.index if (str(r), str(d)) not in keys]
    return keys[:most]


def _capacities(findings: dict[str, Any]) -> dict[Key, tuple[int, int]]:
    """Per destination, the fewest and the most ports its pool may have had."""
    pools = {p["id"]: p for p in findings["pools"]}
    a = findings["assumptions"]
    found = {}
    for entry in findings["destinations"]:
        pool = pools.get(entry["pool"])
        if pool is not None:
            found[(entry["region"], entry["destination"])] = (pool["capacity_low"], pool["capacity"])
        else:
            ports = a["snat_ports"] * a["units_by_region"].get(entry["region"], a["units"])
            found[(entry["region"], entry["destination"])] = (ports, ports)
    return found


def _episodes(findings: dict[str, Any]) -> dict[Key, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Per destination, each episode from onset to recovery (or the window's end)."""
    end = _window(findings)[1]
    return {
        (e["region"], e["destination"]): [
            (parse_utc(x["onset"]), parse_utc(x["recovery"]) if x["recovery"] else end) for x in e["episodes"]
        ]
        for e in findings["destinations"]
    }


def _mark(axis: Axes, spans: list[tuple[pd.Timestamp, pd.Timestamp]], notes: Sequence[Annotation]) -> None:
    """Mark the episodes as a strip along the top and draw the annotations, each numbered at the top of the panel."""
    for onset, end in spans:
        axis.axvspan(onset, end, ymin=EPISODE_STRIP, color=EPISODE_COLOUR, alpha=EPISODE_ALPHA, linewidth=0)
    for number, note in enumerate(notes, 1):
        if note.end is not None:
            axis.axvspan(note.time, note.end, color=NOTE_COLOUR, alpha=0.10, linewidth=0)
        axis.axvline(note.time, color=NOTE_COLOUR, linestyle="-.", linewidth=1.0)
        axis.text(
            note.time,
            0.98,
            f" {number}",
            transform=axis.get_xaxis_transform(),
            color=NOTE_COLOUR,
            va="top",
            fontsize="x-small",
            fontweight="bold",
        )


def _legend(figure: Figure, notes: Sequence[Annotation], extra: list[Artist]) -> None:
    """One legend for every panel, above them: what each colour is, and each annotation by its number."""
    handles = [
        Patch(color=EPISODE_COLOUR, alpha=EPISODE_ALPHA, label="trouble (strip along the top): onset to recovery"),
        *extra,
        *(
            Line2D([], [], color=NOTE_COLOUR, linestyle="-.", label=text)
            for text in chart_labels(
                [f"{n}: {note.time:%H:%M} {note.label}" for n, note in enumerate(notes, 1)]
            ).values()
        ),
    ]
    figure.legend(handles=handles, loc="upper center", ncols=3, fontsize="small", frameon=False)


@_plain_text
def incident_panels(
    timeseries: pd.DataFrame,
    findings: dict[str, Any],
    annotations: Sequence[Annotation] = (),
    keys: list[Key] | None = None,
) -> Figure:
    """Small multiples over one time axis: a row per destination (``keys``, by default ``panel_keys``), with its
    requests and failed requests, its backend p95 and its demand band against its ports; episodes shaded,
    annotations drawn (numbered in time order, named in the legend above).

    The demand band is left out where it lacks the minutes before the window (``warm_up_end``).
    """
    sns.set_theme(style="whitegrid", context="notebook")
    keys = panel_keys(findings, timeseries) if keys is None else keys
    start, end = _window(findings)
    warm = warm_up_end(findings)
    notes = sorted(annotations, key=lambda note: note.time)
    rows = max(len(keys), 1)
    height = ROW_INCHES * rows + TOP_INCHES + BOTTOM_INCHES
    figure, grid = plt.subplots(rows, len(COLUMNS), figsize=(12, height), sharex=True, squeeze=False)
    figure.subplots_adjust(
        left=0.06, right=0.98, top=1 - TOP_INCHES / height, bottom=BOTTOM_INCHES / height, wspace=0.28, hspace=0.95
    )
    if not keys:
        grid[0][0].text(0.5, 0.5, "no traffic in the window", ha="center", va="center", transform=grid[0][0].transAxes)
        for axis in grid[0]:
            axis.set_axis_off()
        return figure
    names = chart_labels([f"{d} ({r})" if r else d for r, d in keys])
    classes = {(e["region"], e["destination"]): Classification(e["classification"]) for e in findings["destinations"]}
    capacities, spans = _capacities(findings), _episodes(findings)
    by_key = dict(iter(timeseries.groupby(KEY, sort=False)))
    for axes, key in zip(grid, keys, strict=True):
        own = by_key.get(key, timeseries.iloc[0:0]).sort_values("minute")
        axes[0].plot(own["minute"], own["requests"], color=REQUEST_COLOUR, linewidth=1.2)
        axes[0].fill_between(own["minute"], 0, own["failed_requests"], color=FAILED_COLOUR, alpha=0.6, linewidth=0)
        axes[1].plot(own["minute"], own["backend_p95_ms"], color=LATENCY_COLOUR, linewidth=1.2)
        banded = own[own["minute"] >= warm]
        axes[2].fill_between(
            banded["minute"], banded["demand_low"], banded["demand_high"], color=BAND_COLOUR, alpha=0.4, linewidth=0
        )
        low, high = capacities.get(key, (0, 0))
        axes[2].axhline(low, color=LIMIT_COLOUR, linestyle="--", linewidth=1.2)
        if high != low:
            axes[2].axhline(high, color=LIMIT_COLOUR, linestyle=":", linewidth=1.0)
        axes[2].axvspan(start, warm, color=WARM_UP_COLOUR, alpha=0.15, hatch="//", linewidth=0)
        for axis, label in zip(axes, COLUMNS, strict=True):
            _mark(axis, spans.get(key, []), notes)
            axis.set_ylim(bottom=0)
            axis.set_ylabel(label, fontsize="small")
        what = WHAT[classes.get(key, Classification.HEALTHY)]
        name = names[f"{key[1]} ({key[0]})" if key[0] else key[1]]
        box = axes[0].get_position()
        figure.text(box.x0, box.y1 + 0.1 / height, f"{name}: {what}", fontweight="bold", va="bottom")
    span = _time_span(findings, timeseries)
    grid[0][0].set_xlim(*span)
    for axes in grid:
        for axis in axes:
            _time_axis(axis, span)
    _legend(
        figure,
        notes,
        [
            Line2D([], [], color=REQUEST_COLOUR, label="calls per minute"),
            Patch(color=FAILED_COLOUR, alpha=0.6, label="failed calls per minute"),
            Line2D([], [], color=LATENCY_COLOUR, label="backend p95, every call (ms)"),
            Patch(color=BAND_COLOUR, alpha=0.4, label="SNAT ports in use: at least / at most"),
            Line2D([], [], color=LIMIT_COLOUR, linestyle="--", label="SNAT ports it has (dotted: with every unit)"),
            Patch(facecolor=WARM_UP_COLOUR, alpha=0.15, hatch="//", label="not drawn: needs minutes before the window"),
        ],
    )
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


@_plain_text
def demand_band_chart(
    pool_minutes: pd.DataFrame,
    pools: list[PoolAssessment],
    findings: dict[str, Any],
    annotations: Sequence[Annotation] = (),
) -> Figure:
    """Per tested pool, the demand band (in flight .. every request in the hold a new connection) against
    its ports (one unit's and all units'), with its failed connects per minute on the right axis; the
    pool's episodes shaded, the annotations drawn, one time axis (the window's) for every pool."""
    sns.set_theme(style="whitegrid", context="notebook")
    drawn = set(pool_minutes["pool"]) if "pool" in pool_minutes else set()
    shown = [p for p in pools if p.id in drawn][:MAX_PANELS]
    figure, axes = _grid(len(shown), columns=1)
    start, end = _window(findings)
    warm = warm_up_end(findings)
    names = chart_labels([f"{p.id} ({p.state.replace('_', ' ')})" for p in shown])
    span = _time_span(findings, pool_minutes)
    for axis, pool in zip(axes, shown, strict=False):
        own = pool_minutes[pool_minutes["pool"] == pool.id].sort_values("minute")
        banded = own[own["minute"] >= warm]
        axis.fill_between(
            banded["minute"],
            banded["demand_low"],
            banded["demand_high"],
            color=BAND_COLOUR,
            alpha=0.35,
            label="SNAT ports in use: at least / at most",
        )
        axis.plot(banded["minute"], banded["demand_low"], color=BAND_COLOUR, linewidth=1.0, label="calls in flight")
        axis.axvspan(
            start, warm, color=WARM_UP_COLOUR, alpha=0.15, hatch="//", linewidth=0, label="not drawn: too early"
        )
        low, high = pool.capacity.low, pool.capacity.high
        axis.axhline(low, color=LIMIT_COLOUR, linestyle="--", linewidth=1.2, label=f"SNAT ports it has ({low:,})")
        if high != low:
            axis.axhline(high, color=LIMIT_COLOUR, linestyle=":", linewidth=1.0, label=f"with every unit ({high:,})")
        _mark(axis, [(e.onset, e.recovery or end) for e in pool.episodes], annotations)
        failures = axis.twinx()
        failures.bar(own["minute"], own["failures"], width=1 / 1440, color=FAILED_COLOUR, alpha=0.85)
        failures.set_ylabel("failed connects / min", fontsize="small", color=FAILED_COLOUR)
        failures.grid(False)
        axis.set_yscale("symlog", linthresh=10)
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axis.set_ylim(bottom=0)
        axis.set_xlim(*span)
        axis.set_title(names[f"{pool.id} ({pool.state.replace('_', ' ')})"], fontsize="small")
        axis.set_ylabel("SNAT ports")
        _time_axis(axis, span)
        axis.legend(loc="upper left", fontsize="x-small")
    return _finished(figure, axes, "no pool was tested" if not shown else "")


@_plain_text
def fingerprint_chart(rows: pd.DataFrame, destinations: list[tuple[str, str]], connect_timer_s: float | None) -> Figure:
    """Per destination, how long its failed calls (and its successes of a second or more) took, by reason.

    A dropped SYN ends at the connect timer (or a shorter forward-request or client timeout) and a call whose
    first SYNs were dropped succeeds late, at the SYN retries; a refused or reset connection fails under a second.
    ``rows`` is the failure fingerprint query's result; ``destinations`` are (region, destination) pairs;
    ``connect_timer_s`` the timer the failed connects show (or the one given), drawn when known.
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
        ticks = [0, 1, 3, 9, 21, 60, 240]
        if connect_timer_s is not None:
            timer = f"connect timer ({connect_timer_s:g} s)"
            axis.axvline(connect_timer_s, color=LIMIT_COLOUR, linestyle="--", linewidth=1.0, label=timer)
            ticks = sorted({*ticks, round(connect_timer_s)})
        axis.axvspan(0, 1, color="0.85", alpha=0.6, label="under 1 s: refused or reset")
        axis.set_xscale("symlog", linthresh=1)
        axis.set_xlim(0, 310)
        axis.set_xticks(ticks)
        axis.set_xticklabels([f"{t:g}" for t in ticks])
        axis.set_xlabel("elapsed (s)")
        axis.set_ylabel("calls")
        axis.set_title(
            chart_labels([f"{destination} ({region})" if region else destination]).popitem()[1], fontsize="small"
        )
        axis.legend(loc="upper left", fontsize="x-small")
    return _finished(figure, axes, "no failed connects" if not shown else "")


@_plain_text
def what_if_chart(table: pd.DataFrame) -> Figure:
    """Predicted peak utilisation per setting, against the capacity and the sizing target."""
    sns.set_theme(style="whitegrid", context="notebook")
    figure, axis = plt.subplots(figsize=(9, 0.6 * max(len(table), 2) + 1.2))
    if len(table):
        sns.barplot(data=table, y="setting", x="peak_utilisation", ax=axis, color=BAND_COLOUR, alpha=0.7)
    axis.axvline(1.0, color=LIMIT_COLOUR, linestyle="--", linewidth=1.2, label="every port in use")
    axis.axvline(
        TARGET_UTILISATION,
        color=LIMIT_COLOUR,
        linestyle=":",
        linewidth=1.0,
        label=f"sizing target: {TARGET_UTILISATION * 100:.0f} % of the ports",
    )
    axis.set_xlabel("most SNAT ports in use at the peak, at most (1.0 = every port)")
    axis.set_ylabel("")
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure


@_plain_text
def latency_chart(latency: pd.DataFrame, destination: str) -> Figure:
    """Calls per backend-time bucket of one destination, the failed ones (connection failures, timeouts) over
    them in red: waiting for a SNAT port shows as a second hump at the connect timeout's bucket."""
    figure, axis = plt.subplots(figsize=(9, 3))
    if len(latency):
        axis.bar(latency["backend_time"], latency["requests"], color=REQUEST_COLOUR, label="calls")
        failed = latency["connection_failures"] + latency["timeouts"]
        axis.bar(latency["backend_time"], failed, color=FAILED_COLOUR, label="connection failures and timeouts")
        axis.legend(loc="upper right", fontsize="small")
        axis.tick_params(axis="x", labelrotation=30, labelsize="small")
    axis.set_ylabel("calls")
    axis.set_title(chart_labels([destination])[destination], fontsize="small")
    figure.tight_layout()
    return figure
