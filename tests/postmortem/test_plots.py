"""The report's charts: one panel per affected destination or tested pool, and a word when there is none."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis.investigation.run import Investigation, investigate
from analysis.postmortem import plots
from analysis.sources import open_source


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


def visible(figure) -> list:
    return [axis for axis in figure.axes if axis.get_visible() and axis.axison]


def test_the_fingerprint_shows_each_failing_destination_and_the_connect_timeout(found):
    failing = [(a.region, a.destination) for a in found.assessments if a.episodes and a.evidence.failure]
    figure = plots.fingerprint_chart(found.fingerprint, failing, 21.0)
    titles = [axis.get_title() for axis in visible(figure)]
    assert titles == [f"{d} ({r})" for r, d in failing]
    orders = visible(figure)[0]
    assert "connect timer (21 s)" in [text.get_text() for text in orders.get_legend().get_texts()]
    plt.close(figure)
    empty = plots.fingerprint_chart(found.fingerprint, [], 21.0)
    assert "no failed connects" in [text.get_text() for text in empty.axes[0].texts]
    plt.close(empty)


def test_the_band_chart_draws_each_tested_pool_against_its_ports(found):
    tested = [p for p in found.pools if p.failure is not None]
    figure = plots.demand_band_chart(found.diagnosis.pool_minutes, tested, found.findings)
    panels = [axis for axis in visible(figure) if axis.get_ylabel() == "SNAT ports"]
    assert [axis.get_title() for axis in panels] == [f"{p.id} ({p.state.replace('_', ' ')})" for p in tested]
    assert any("SNAT ports it has (1,024)" in text.get_text() for text in panels[0].get_legend().get_texts())
    assert all(axis.get_xlabel() == "time (UTC), 2025-02-25" for axis in panels)
    plt.close(figure)


def test_the_incident_panels_put_the_affected_first_and_mark_episodes_notes_and_warm_up(found):
    from matplotlib.collections import PolyCollection

    from analysis.diagnosis.annotations import from_option

    notes = [from_option("2025-02-25T09:40Z=deploy $x$"), from_option("2025-02-25T10:05Z/2025-02-25T10:15Z=scale")]
    figure = plots.incident_panels(found.diagnosis.timeseries, found.findings, notes)
    rows = [text.get_text() for text in figure.texts]
    affected = [f"{e['destination']} ({e['region']})" for e in found.findings["impact"]["affected"]]
    assert [row.split(": ")[0] for row in rows[: len(affected)]] == affected
    assert rows[0].endswith(": SNAT port exhaustion") and len(rows) == plots.MAX_ROWS
    axes = visible(figure)
    assert len(axes) == plots.MAX_ROWS * len(plots.COLUMNS)
    start = plots._window(found.findings)[0]
    warm = plots.warm_up_end(found.findings)
    held = found.assumptions.port_hold_minutes + found.assumptions.pool_idle_minutes
    assert warm == start + pd.Timedelta(minutes=held)  # the minutes of the band before the window
    for axis in axes:
        numbers = [text.get_text().strip() for text in axis.texts]
        assert numbers == ["1", "2"], "every panel draws every note"
    band = [c for c in axes[2].collections if isinstance(c, PolyCollection) and len(c.get_paths())]
    first_drawn = min(mdates.num2date(path.vertices[:, 0].min()) for c in band for path in c.get_paths())
    assert first_drawn.replace(tzinfo=None) >= warm, "no demand is drawn before the minutes it needs"
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "1: 09:40 deploy $x$" in legend
    plt.close(figure)


def test_every_row_of_panels_reads_its_own_utc_times_and_the_legend_needs_no_readme(found):
    """Each panel labels its time axis in UTC (not only the last row); the legend speaks plain words."""
    figure = plots.incident_panels(found.diagnosis.timeseries, found.findings)
    figure.canvas.draw()
    for axis in visible(figure):
        assert axis.get_xlabel() == "time (UTC), 2025-02-25"
        ticks = [label.get_text() for label in axis.get_xticklabels() if label.get_visible() and label.get_text()]
        assert ticks and all(len(tick) == 5 and tick[2] == ":" for tick in ticks), ticks
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "SNAT ports in use: at least / at most" in legend and not [t for t in legend if ".." in t or "band" in t]
    plt.close(figure)


def test_one_colour_means_one_thing_across_the_charts():
    """Failed calls, the episodes, the notes, calls, latency, ports in use and limits each have their own colour."""
    meanings = [
        plots.REQUEST_COLOUR,
        plots.FAILED_COLOUR,
        plots.LATENCY_COLOUR,
        plots.BAND_COLOUR,
        plots.LIMIT_COLOUR,
        plots.EPISODE_COLOUR,
        plots.NOTE_COLOUR,
    ]
    assert len(set(meanings)) == len(meanings)
    reasons = [colour for _, colour in plots.FINGERPRINT_KINDS.values()]
    assert reasons[0] == plots.FAILED_COLOUR and reasons[-1] == plots.REQUEST_COLOUR
    assert not set(reasons[1:-1]) & set(meanings), "other failures do not borrow a colour that means something else"


def test_an_empty_window_draws_a_word_not_an_empty_grid(found):
    figure = plots.incident_panels(found.diagnosis.timeseries.iloc[0:0], {**found.findings, "impact": {"affected": []}})
    assert "no traffic in the window" in [text.get_text() for text in figure.axes[0].texts]
    plt.close(figure)
