"""The offline KQL validator accepts valid kit queries and rejects broken ones."""

from __future__ import annotations

import pytest

from analysis.query.schema import AZURE_DIAGNOSTICS, GATEWAY_LOGS, kusto_types
from tests import kusto_language as kl

GATEWAY_AGGREGATE = (
    "ApiManagementGatewayLogs | where TimeGenerated > ago(1h) "
    "| summarize requests = count(), p95 = percentile(BackendTime, 95) by bin(TimeGenerated, 1m), BackendUrl"
)

QUERIES = {
    "aggregate": GATEWAY_AGGREGATE,
    "misspelled_column": "ApiManagementGatewayLogs | where TimeGenerated > ago(1h) | project BackendUrll",
    "syntax_error": "ApiManagementGatewayLogs | where TimeGenerated > | take 10",
    "unknown_function": "ApiManagementGatewayLogs | extend host = no_such_function(BackendUrl)",
    "unknown_table": "ApiManagementGatewayLog | take 1",
    "azure_diagnostics": 'AzureDiagnostics | where Category == "GatewayLogs" | project backendUrl_s, responseCode_d',
    "column_ifexists": (
        'AzureDiagnostics | extend fallback = column_ifexists("NoSuchColumn", "") | project fallback, backendUrl_s'
    ),
    "let_literals": (
        "let incidentStart = datetime(2025-02-25T09:00:00Z);\n"
        "let window = 4m;\n"
        'let hosts = dynamic(["a","b"]);\n'
        "ApiManagementGatewayLogs\n"
        "| where TimeGenerated between (incidentStart .. incidentStart + window)\n"
        "| where tostring(parse_url(BackendUrl).Host) in (hosts)\n"
        "| summarize failures = countif(ResponseCode >= 500) by bin(TimeGenerated, window)"
    ),
    "query_parameters": (
        "declare query_parameters(start:datetime, end:datetime);\n"
        "ApiManagementGatewayLogs\n"
        "| where TimeGenerated between (start .. end)\n"
        "| summarize avg_backend_ms = avg(BackendTime), errors = countif(ResponseCode >= 500)"
    ),
    "undeclared_parameter": "ApiManagementGatewayLogs | where TimeGenerated between (start .. end) | count",
    "join_without_kind": (
        "ApiManagementGatewayLogs | join (AzureDiagnostics | project CorrelationId, url_s) on CorrelationId"
    ),
}


@pytest.fixture(scope="module")
def results() -> dict[str, kl.ValidationResult]:
    return kl.validate(QUERIES, kl.kit_tables())


def test_schema_csvs_load() -> None:
    gateway = kusto_types(GATEWAY_LOGS)
    diagnostics = kusto_types(AZURE_DIAGNOSTICS)
    assert gateway["BackendTime"] == "long"
    assert gateway["TimeGenerated"] == "datetime"
    assert diagnostics["responseCode_d"] == "real"
    assert diagnostics["AdditionalFields"] == "dynamic"


def test_every_query_gets_a_result(results: dict[str, kl.ValidationResult]) -> None:
    assert set(results) == set(QUERIES)


def test_valid_aggregate_binds_with_expected_columns(results: dict[str, kl.ValidationResult]) -> None:
    result = results["aggregate"]
    assert result.errors == ()
    assert result.columns == (
        ("TimeGenerated", "datetime"),
        ("BackendUrl", "string"),
        ("requests", "long"),
        ("p95", "long"),  # percentile keeps the input type
    )


def test_misspelled_column_is_an_error_naming_it(results: dict[str, kl.ValidationResult]) -> None:
    result = results["misspelled_column"]
    assert not result.ok
    (error,) = result.errors
    assert error.snippet == "BackendUrll"
    assert "BackendUrll" in error.message
    assert QUERIES["misspelled_column"][error.start : error.end] == "BackendUrll"


def test_syntax_error_is_reported(results: dict[str, kl.ValidationResult]) -> None:
    errors = results["syntax_error"].errors
    assert errors
    assert any("expression" in e.message.lower() for e in errors)


def test_unknown_function_is_reported(results: dict[str, kl.ValidationResult]) -> None:
    (error,) = results["unknown_function"].errors
    assert error.snippet == "no_such_function"
    assert "no_such_function" in error.message


def test_unknown_table_is_reported(results: dict[str, kl.ValidationResult]) -> None:
    (error,) = results["unknown_table"].errors
    assert error.snippet == "ApiManagementGatewayLog"


def test_azure_diagnostics_projection_binds(results: dict[str, kl.ValidationResult]) -> None:
    result = results["azure_diagnostics"]
    assert result.errors == ()
    assert result.columns == (("backendUrl_s", "string"), ("responseCode_d", "real"))


def test_column_ifexists_on_missing_column_binds(results: dict[str, kl.ValidationResult]) -> None:
    result = results["column_ifexists"]
    assert result.errors == ()
    assert result.columns == (("fallback", "string"), ("backendUrl_s", "string"))


def test_let_with_datetime_timespan_and_dynamic_binds(results: dict[str, kl.ValidationResult]) -> None:
    result = results["let_literals"]
    assert result.errors == ()
    assert result.columns == (("TimeGenerated", "datetime"), ("failures", "long"))


def test_declared_query_parameters_bind(results: dict[str, kl.ValidationResult]) -> None:
    result = results["query_parameters"]
    assert result.errors == ()
    assert result.columns == (("avg_backend_ms", "real"), ("errors", "long"))


def test_undeclared_parameters_are_errors(results: dict[str, kl.ValidationResult]) -> None:
    snippets = {e.snippet for e in results["undeclared_parameter"].errors}
    assert snippets == {"start", "end"}


def test_analyzer_warnings_are_warnings_not_errors(results: dict[str, kl.ValidationResult]) -> None:
    result = results["join_without_kind"]
    assert result.errors == ()
    assert [w.snippet for w in result.warnings] == ["join"]
    assert result.warnings[0].source == "analyzer"


def test_unknown_column_type_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="unknown Kusto type"):
        kl.validate({"q": "T | take 1"}, {"T": [("a", "varchar")]})


def test_missing_package_gives_npm_ci_hint(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(kl, "PACKAGE_DIR", tmp_path / "absent")
    with pytest.raises(kl.KustoValidatorUnavailable, match="npm ci"):
        kl.validate({"q": "print 1"}, {})
