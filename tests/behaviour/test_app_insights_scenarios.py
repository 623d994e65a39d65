"""The library's incidents written as Application Insights exports (requests, dependencies and exceptions,
sampled by whole operations at 100 % and at 25 %) are diagnosed as their gateway logs are: the same
classification of every (region, destination), the same episodes with onsets within 2 minutes, the same
verdict.

Only incidents whose gateway logs hold every request with every column are compared: an error-only,
sampled or projected diagnostic setting makes gateway logs that are not the same incident's whole record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from analysis.diagnosis.assumptions import Assumptions
from analysis.investigation.run import Investigation, investigate
from analysis.report.request import read_ip_map
from analysis.sources.local import open_local
from analysis.synthetic.exports import to_app_insights, write_app_insights
from analysis.synthetic.library import ESTATES, SCENARIOS

TOLERANCE = pd.Timedelta(minutes=2)
WHOLE = sorted(
    name
    for name, scenario in {**SCENARIOS, **ESTATES}.items()
    if scenario.logging.logs_everything and not scenario.export_columns and name != "sample_day"
)
SAMPLING = (100.0, 25.0)


@pytest.fixture(scope="module")
def app_insights_export(incident, tmp_path_factory) -> Callable[[str, float], Path]:
    """A folder with the scenario's AppRequests, AppDependencies and AppExceptions (Parquet), written once."""
    root = tmp_path_factory.mktemp("app-insights")
    made: dict[tuple[str, float], Path] = {}

    def get(name: str, percent: float) -> Path:
        if (name, percent) not in made:
            found = incident(name)
            tables = to_app_insights(found.all_requests, found.scenario.service, percent, seed=found.scenario.seed)
            folder = root / f"{name}-{percent:g}"
            write_app_insights(tables, folder)
            made[(name, percent)] = folder
        return made[(name, percent)]

    return get


@pytest.fixture(scope="module")
def diagnosed(incident, scenario_export, scenario_ip_map, app_insights_export) -> Callable[..., Investigation]:
    """A scenario investigated with what its user knows, from its gateway logs (percent None) or from its
    Application Insights export at ``percent``; once per module."""
    made: dict[tuple[str, float | None], Investigation] = {}

    def get(name: str, percent: float | None = None) -> Investigation:
        if (name, percent) not in made:
            told = incident(name).scenario.assumptions
            assumptions = Assumptions(**({"units": told.units} if told.units else {}))
            ip_map = read_ip_map(scenario_ip_map(name)) if told.ip_map else None
            path = scenario_export(name) if percent is None else app_insights_export(name, percent)
            source = open_local(path)
            try:
                made[(name, percent)] = investigate(source, assumptions=assumptions, ip_map=ip_map)
            finally:
                source.close()
        return made[(name, percent)]

    return get


def episodes(found: Investigation) -> dict[tuple[str, str], list[pd.Timestamp]]:
    """The onset of every episode of every (region, destination)."""
    return {a.key: [e.onset for e in a.episodes] for a in found.assessments}


@pytest.mark.parametrize("percent", SAMPLING)
@pytest.mark.parametrize("name", WHOLE)
def test_app_insights_gives_the_classifications_of_the_gateway_logs(name, percent, diagnosed):
    gateway, insights = diagnosed(name), diagnosed(name, percent)
    assert insights.mode == "appinsights"
    ours = {a.key: a.classification for a in insights.assessments}
    assert ours == {a.key: a.classification for a in gateway.assessments}, insights.diagnosis.assessments
    assert insights.verdict.verdict == gateway.verdict.verdict, insights.verdict.reason


#: Where sampling loses what the gateway logs show, and how: recorded, not patched (strict: a fix shows up).
SAMPLING_MISSES = {
    ("idle_cut", 25.0): "a slow backend called a few times a minute: at 25 % some minutes keep none of its calls, "
    "so its slow episode begins 6 minutes later and the two episodes merge (its class and the verdict agree)",
}


@pytest.mark.parametrize(
    ("name", "percent"),
    [
        pytest.param(name, percent, marks=pytest.mark.xfail(strict=True, reason=SAMPLING_MISSES[(name, percent)]))
        if (name, percent) in SAMPLING_MISSES
        else (name, percent)
        for name in WHOLE
        for percent in SAMPLING
    ],
)
def test_app_insights_gives_the_episodes_of_the_gateway_logs(name, percent, diagnosed):
    ours, theirs = episodes(diagnosed(name, percent)), episodes(diagnosed(name))
    for key, onsets in theirs.items():
        assert len(ours[key]) == len(onsets), (key, ours[key], onsets)
        assert all(abs(a - b) <= TOLERANCE for a, b in zip(ours[key], onsets, strict=True)), (key, ours[key], onsets)
