"""Application Insights through the real Log Analytics client, against stand-ins served over HTTPS on
127.0.0.1 (tests/azure_server.py): a workspace answers the workspace tables (AppRequests, ...), an
Application Insights resource queried by its resource id answers the classic ones (requests, ...).
Both stand-ins run the posted KQL on the same incident, so both must give the local export's findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb_kql
import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.investigation.run import investigate
from analysis.query import pack
from analysis.query.modes import Mode
from analysis.query.schema import KUSTO_TO_DUCKDB, kusto_types
from analysis.sources import open_source
from analysis.sources.local import open_local
from analysis.sources.loganalytics import LogAnalyticsSource
from analysis.synthetic import generate
from analysis.synthetic.exports import CLASSIC_TABLE_NAMES, classic, to_app_insights, write_app_insights
from analysis.synthetic.library import scenario
from tests.azure_server import (
    LA_PATH,
    WORKSPACE,
    Answer,
    FakeCredential,
    Seen,
    answer_like_log_analytics,
    certificate,
    la_source,
    log_analytics_tables,
    serve,
)

__all__ = ["certificate", "serve"]  # fixtures used by name

COMPONENT = (
    "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/resourceGroups/rg-apim/providers/"
    "microsoft.insights/components/contoso-apim-insights"
)
APIM = (
    "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/resourceGroups/rg-apim/providers/"
    "Microsoft.ApiManagement/service/contoso-apim"
)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """A SNAT incident as APIM's Application Insights logger writes it, sampled at 25 %."""
    found = generate(scenario("snat_only"))
    return to_app_insights(found.all_requests, found.scenario.service, 25.0, seed=found.scenario.seed)


@pytest.fixture(scope="module")
def export(tables, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("app-insights")
    write_app_insights(tables, folder)
    return folder


class ClassicTables:
    """An Application Insights resource's own tables (requests, dependencies, exceptions, classic names and
    types) in the local engine, running KQL as the resource would."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self.connection = duckdb_kql.connect()
        self.schema = {}
        for workspace, frame in tables.items():
            name = CLASSIC_TABLE_NAMES[workspace]
            rows = classic(workspace, frame)
            types = kusto_types(name)
            rows = (
                rows.assign(success=rows["success"].map({True: "True", False: "False"})) if "success" in rows else rows
            )
            self.connection.register("incoming", rows)
            select = ", ".join(
                f'CAST("{c}" AS {KUSTO_TO_DUCKDB[t]}) AS "{c}"'
                if c in rows
                else f'CAST(NULL AS {KUSTO_TO_DUCKDB[t]}) AS "{c}"'
                for c, t in types.items()
            )
            self.connection.execute(f'CREATE TABLE "{name}" AS SELECT {select} FROM incoming')
            self.connection.unregister("incoming")
            self.schema[name] = list(types)

    def run(self, kql: str) -> pd.DataFrame:
        return self.connection.execute(str(duckdb_kql.to_sql(kql, schema=self.schema))).df()


def answer_like_the_resource(resource: ClassicTables):
    def respond(seen: Seen) -> Answer:
        return 200, json.dumps(log_analytics_tables(resource.run(seen.json()["query"])), default=int).encode()

    return respond


def without_provenance(document: dict) -> dict:
    """The findings a source and its KQL do not change."""
    for key in ("source", "mode", "data_quality"):
        document.pop(key)
    for query in document.pop("queries"):
        assert query["rows"] > 0, query["name"]
    return document


def window(local) -> tuple[pd.Timestamp, pd.Timestamp]:
    first, last = local.time_range()
    return first.floor("min"), last.floor("min") + pd.Timedelta(minutes=1)


def test_a_workspace_answers_the_app_insights_queries_as_the_export_does(serve, export):
    local = open_local(export)
    replay = serve({}, respond=answer_like_log_analytics(local))
    remote_source = la_source(replay, mode="appinsights")
    start, end = window(local)
    remote = investigate(remote_source, start, end).findings
    expected = investigate(local, start, end).findings
    sent = [seen.json()["query"] for seen in replay.requests_to(LA_PATH)]
    assert all("AppRequests" in kql and "AppDependencies" in kql and "AppExceptions" in kql for kql in sent)
    assert any(kql.startswith("// sampling (mode: appinsights)") for kql in sent)
    assert remote["mode"] == "appinsights" and remote["logging"]["sampling_seen"]["percent"] < 50
    assert remote_source.description.endswith("(AppRequests, AppDependencies, AppExceptions)")
    assert without_provenance(remote) == without_provenance(expected)
    assert expected["verdict"] == "snat_exhaustion"


def test_an_app_insights_resource_is_asked_in_its_classic_tables(serve, export, tables):
    local = open_local(export)
    replay = serve({}, respond=answer_like_the_resource(ClassicTables(tables)))
    remote_source = LogAnalyticsSource(
        resource_id=COMPONENT,
        mode="appinsights",
        credential=FakeCredential(),
        endpoint=replay.url,
        client_options={"retry_total": 0},
    )
    assert remote_source.mode == Mode.APP_INSIGHTS_CLASSIC
    start, end = window(local)
    remote = investigate(remote_source, start, end).findings
    expected = investigate(local, start, end).findings
    assert {seen.path for seen in replay.seen} == {f"/v1{COMPONENT}/query"}
    sent = replay.seen[0].json()["query"]
    assert "requests\n| where timestamp >= start" in sent and "customDimensions" in sent
    assert remote["mode"] == "appinsights-classic"
    assert (
        remote_source.description == "Application Insights contoso-apim-insights (requests, dependencies, exceptions)"
    )
    assert without_provenance(remote) == without_provenance(expected)


@pytest.mark.parametrize(
    ("spec", "mode", "said"),
    [
        (
            f"loganalytics-resource:{COMPONENT}",
            "resource",
            "is an Application Insights resource: .* use --mode appinsights",
        ),
        (f"loganalytics-resource:{COMPONENT}", None, "is an Application Insights resource"),
        (
            f"loganalytics:{WORKSPACE}",
            "appinsights-classic",
            "a workspace holds AppRequests, .* use --mode appinsights",
        ),
        (f"loganalytics-resource:{APIM}", "appinsights-classic", "answered by the Application Insights resource"),
    ],
)
def test_a_mode_the_place_cannot_answer_is_refused_before_any_request(spec, mode, said):
    with pytest.raises(KitError, match=said):
        open_source(spec, mode)


def test_an_app_insights_resource_is_not_unioned_with_workspaces():
    with pytest.raises(KitError, match="query it alone, no workspace"):
        open_source([f"loganalytics-resource:{COMPONENT}", f"loganalytics:{WORKSPACE}"], "appinsights")


def test_the_kql_sent_is_what_queries_show_prints_for_the_mode(serve, capsys):
    from analysis.cli import main
    from analysis.investigation.run import run_query

    replay = serve(
        {},
        respond=lambda seen: (
            200,
            json.dumps({"tables": [{"name": "PrimaryResult", "columns": [], "rows": []}]}).encode(),
        ),
    )
    span = {"start": pd.Timestamp("2025-02-25T09:00"), "end": pd.Timestamp("2025-02-25T10:00")}
    run_query(la_source(replay, mode="appinsights"), "destination_health", span)
    shown = ["queries", "show", "destination_health", "--mode", "appinsights"]
    assert main([*shown, "--param", "start=2025-02-25T09:00Z", "--param", "end=2025-02-25T10:00Z"]) == 0
    (seen,) = replay.requests_to(LA_PATH)
    assert seen.json()["query"] == capsys.readouterr().out
    assert pack.load("destination_health").render(span, "appinsights") == seen.json()["query"]
