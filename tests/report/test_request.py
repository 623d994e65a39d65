"""A report's request: to the notebook's parameters and back unchanged, an earlier report's parameters under the
command line's, every bad value one line before any query; and the one path that collects what it asks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.pools import IpMap
from analysis.diagnosis.tiers import Tier
from analysis.errors import KitError
from analysis.query.modes import Mode
from analysis.report.from_folder import IP_MAP_FILE, PARAMETERS_FILE, keep_ip_map
from analysis.report.pipeline import Progress, collect
from analysis.report.platform_metric import MetricTarget
from analysis.report.request import ReportRequest
from analysis.sources import SourceOptions

WORKSPACES = ("loganalytics:0f3c8a52-6b1d-4e27-9a4f-2c5d7e9b1a60", "loganalytics:9a1b2c3d-6b1d-4e27-9a4f-2c5d7e9b1a60")
RESOURCE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/contoso-apim"
WINDOW = ("--start", "--end")


def everything(ip_map: IpMap) -> ReportRequest:
    """A request that sets every field away from its default."""
    return ReportRequest(
        sources=WORKSPACES,
        start=pd.Timestamp("2025-02-25 09:00"),
        end=pd.Timestamp("2025-02-25 10:30"),
        mode=Mode.AZURE_DIAGNOSTICS,
        metric=MetricTarget(RESOURCE, "westeurope"),
        redact=True,
        annotations=(
            Annotation(pd.Timestamp("2025-02-25 09:40"), "scaled <b>out</b> to 2 units"),
            Annotation(pd.Timestamp("2025-02-25 09:10"), "deploy", pd.Timestamp("2025-02-25 09:15")),
        ),
        ip_map=ip_map,
        portal_resource=RESOURCE,
        incident_id="INC-7",
        assumptions=Assumptions(
            snat_ports=512,
            units=2,
            units_by_region={"West Europe": 3, "North Europe": 1},
            connect_timeout_s=21.0,
            tier=Tier.STANDARD_V2,
        ),
    )


def test_a_request_comes_back_equal_from_the_notebooks_parameters(tmp_path):
    ip_map = IpMap({"a.azurewebsites.net": ("20.50.1.7",), "b.azurewebsites.net": ("20.50.1.7", "20.50.1.8")})
    request = everything(ip_map)
    parameters = request.parameters(ip_map=str(tmp_path / keep_ip_map(tmp_path, ip_map)))
    # What papermill hands over: plain text, numbers, flags and a mapping, nothing of the kit's own types.
    assert json.loads(json.dumps(parameters)) == parameters
    assert parameters["source"] == ",".join(WORKSPACES) and parameters["start"] == "2025-02-25T09:00:00"
    assert ReportRequest.from_parameters(parameters) == request
    assert ReportRequest.from_parameters({**parameters, "display": print, "findings": {}}) == request


def test_what_the_command_line_gives_comes_first_over_an_earlier_reports_parameters(tmp_path):
    earlier = tmp_path / "earlier"
    (earlier / "results").mkdir(parents=True)
    keep_ip_map(earlier, IpMap({"a.azurewebsites.net": ("20.50.1.7",)}))
    kept = everything(IpMap({})).parameters(ip_map=IP_MAP_FILE)
    kept["source"] = "file:gone.parquet"
    (earlier / PARAMETERS_FILE).write_text(json.dumps(kept, sort_keys=True), encoding="utf-8")
    said: list[str] = []
    given = {"source": [f"cache:{earlier / 'results'}"], "start": "2025-02-25T09:05Z", "end": None, "redact": False}

    request = ReportRequest.from_command_line(given, {"units": "4", "units.East US": "2"}, WINDOW, said.append)
    assert said == ["rendering again with the parameters of the report in earlier (the command line's come first)"]
    assert request.sources == (f"cache:{earlier / 'results'}",)
    assert (request.start, request.end) == (pd.Timestamp("2025-02-25 09:05"), pd.Timestamp("2025-02-25 10:30"))
    assert (request.mode, request.metric, request.redact) == (Mode.AZURE_DIAGNOSTICS, (RESOURCE, "westeurope"), True)
    assert request.ip_map == IpMap({"a.azurewebsites.net": ("20.50.1.7",)})  # the folder's copy
    assert request.annotations == everything(IpMap({})).annotations and request.incident_id == "INC-7"
    assert (request.assumptions.snat_ports, request.assumptions.units) == (512, 4)
    assert request.assumptions.units_by_region == {"West Europe": 3, "North Europe": 1, "East US": 2}

    notes = '[{"time": "2025-02-25T09:50:00Z", "end": null, "label": "rolled back"}]'
    again = ReportRequest.from_command_line(
        {**given, "annotations": notes}, {"incident_id": ""}, WINDOW, lambda _: None
    )
    assert [note.label for note in again.annotations] == ["rolled back"] and again.incident_id == ""


def test_an_earlier_reports_copy_of_its_map_is_never_followed_out_of_its_folder(tmp_path):
    earlier = tmp_path / "earlier"
    (earlier / "results").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("host,ip\na.example.com,10.0.0.1\n", encoding="utf-8")
    (earlier / IP_MAP_FILE).symlink_to(elsewhere)
    (earlier / PARAMETERS_FILE).write_text(json.dumps({"ip_map": IP_MAP_FILE}), encoding="utf-8")
    given = {"source": [f"cache:{earlier / 'results'}"]}
    with pytest.raises(KitError, match="ip-map.csv"):
        ReportRequest.from_command_line(given, {}, WINDOW, lambda _: None)
    # The same file named on the command line is the user's: a link to it is followed.
    named = ReportRequest.from_command_line({**given, "ip_map": str(earlier / IP_MAP_FILE)}, {}, WINDOW, lambda _: None)
    assert named.ip_map == IpMap({"a.example.com": ("10.0.0.1",)})


@pytest.mark.parametrize(
    ("given", "params", "message"),
    [
        ({"start": "yesterday"}, {}, "--start: expected an ISO 8601 time"),
        ({"end": "2025-02-30T09:00Z"}, {}, "--end:"),
        ({"mode": "legacy"}, {}, "unknown logging mode 'legacy'"),
        ({"metrics_region": "westeurope"}, {}, "needs both --metrics-resource"),
        ({"annotations": "[{"}, {}, "annotations: not JSON text"),
        ({}, {"start": "2025-02-25T09:00Z"}, "unknown parameter 'start'"),  # --param is no back door to options
        ({}, {"tier": "Gold"}, "unknown tier 'Gold'"),
    ],
)
def test_a_bad_value_is_one_line_naming_it(given, params, message):
    with pytest.raises(KitError, match=message.replace("(", r"\(")) as raised:
        ReportRequest.from_command_line({"source": ["sample"], **given}, params, WINDOW, lambda _: None)
    assert "\n" not in str(raised.value)


def test_collect_resolves_the_window_and_mode_and_says_each_step(tmp_path):
    said: list[str] = []
    request = ReportRequest(annotations=(Annotation(pd.Timestamp("2025-02-25 09:40"), "scaled out"),), incident_id="I")
    collected = collect(request, SourceOptions(cache=tmp_path), Progress(said.append, quiet=False))
    resolved = collected.request
    assert (resolved.start, resolved.end) == (pd.Timestamp("2025-02-25 08:30"), pd.Timestamp("2025-02-25 10:30"))
    assert resolved.mode is Mode.RESOURCE and collected.metric is None and collected.witness is None
    assert said[:3] == [
        "checking source sample",
        "window 2025-02-25T08:30:00Z to 2025-02-25T10:30:00Z (2 h), mode resource",
        "querying sample",
    ]
    assert [line.split(":")[0] for line in said[3:]] == [run.name for run in collected.data.queried]
    found = collected.investigation()
    assert found.window == (resolved.start, resolved.end) and found.incident_id == "I"
    assert found.annotations == request.annotations and found.portal_resource == ""
    assert found.findings["source"] == "the sample incident (ApiManagementGatewayLogs)"
