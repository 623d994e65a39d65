"""``apim-snat report`` on an incident exported from Application Insights, with the mode given and detected,
at 100 % and 25 % sampling: the report's findings classify and date the incident as its gateway logs do,
and say the sampling they saw."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.cli import main
from analysis.investigation.run import investigate
from analysis.sources.local import open_local
from analysis.synthetic.exports import to_app_insights, write_app_insights


@pytest.fixture(scope="module")
def gateway(incident, scenario_export) -> dict:
    source = open_local(scenario_export("snat_only"))
    try:
        return investigate(source).findings
    finally:
        source.close()


@pytest.mark.parametrize(("percent", "mode"), [(100.0, ["--mode", "appinsights"]), (25.0, [])])
def test_the_report_on_app_insights_finds_what_the_gateway_logs_show(incident, gateway, tmp_path, percent, mode):
    found = incident("snat_only")
    folder = tmp_path / "export"
    write_app_insights(to_app_insights(found.all_requests, found.scenario.service, percent, seed=7), folder, "csv")
    out = tmp_path / "report"
    assert main(["report", "--source", f"file:{folder}", *mode, "--quiet", "--out", str(out)]) == 0
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert (
        findings["mode"] == "appinsights"
        and findings["source"] == "local file export (AppRequests, AppDependencies, AppExceptions)"
    )
    seen = findings["logging"]["sampling_seen"]
    assert (seen["percent"] == 100) == (percent == 100)
    assert "Application Insights kept" in findings["logging"]["statement"]
    assert findings["verdict"] == gateway["verdict"] == "snat_exhaustion"
    ours = {(d["region"], d["destination"]): d for d in findings["destinations"]}
    for theirs in gateway["destinations"]:
        entry = ours[(theirs["region"], theirs["destination"])]
        assert entry["classification"] == theirs["classification"]
        if theirs["onset"] is not None:
            assert abs(pd.Timestamp(entry["onset"]) - pd.Timestamp(theirs["onset"])) <= pd.Timedelta(minutes=2)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Application Insights kept" in html and "appinsights" in html
