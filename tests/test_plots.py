"""The report's charts: one panel per affected destination or tested pool, and a word when there is none."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from analysis import plots
from analysis.investigation import Investigation, investigate
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
    assert "connect timeout (21 s)" in [text.get_text() for text in orders.get_legend().get_texts()]
    plt.close(figure)
    empty = plots.fingerprint_chart(found.fingerprint, [], 21.0)
    assert "no failed connects" in [text.get_text() for text in empty.axes[0].texts]
    plt.close(empty)


def test_the_band_chart_draws_each_tested_pool_against_its_ports(found):
    tested = [p for p in found.pools if p.failure is not None]
    figure = plots.demand_band_chart(found.diagnosis.pool_minutes, tested, found.findings)
    panels = [axis for axis in visible(figure) if axis.get_ylabel() == "ports"]
    assert [axis.get_title() for axis in panels] == [f"{p.id} ({p.state.replace('_', ' ')})" for p in tested]
    assert any("ports (1,024)" in text.get_text() for text in panels[0].get_legend().get_texts())
    plt.close(figure)
