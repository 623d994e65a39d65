"""Packaged queries: found, described, rendered with typed parameters for either logging mode."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import queries
from analysis.errors import KitError

WINDOW = {"start": pd.Timestamp("2025-02-25 08:30"), "end": pd.Timestamp("2025-02-25 10:30")}


def test_every_packaged_query_has_a_description_and_a_typed_window():
    found = queries.packaged()
    assert "destination_health" in [q.name for q in found]
    for query in found:
        assert query.description
        types = {p.name: p.kql_type for p in query.parameters}
        assert types["start"] == "datetime" and types["end"] == "datetime"


def test_render_replaces_the_declaration_with_typed_lets():
    text = queries.load("destination_health").render(WINDOW)
    assert "declare query_parameters" not in text
    assert "let start = datetime(2025-02-25T08:30:00.000000Z);" in text
    assert "let bin_size = 60s;" in text
    assert "let GatewayRequests = ApiManagementGatewayLogs" in text


def test_mode_chooses_the_table():
    text = queries.load("destination_health").render(WINDOW, mode="azurediagnostics")
    assert "AzureDiagnostics" in text and "backendUrl_s" in text
    with pytest.raises(KitError, match="unknown logging mode 'legacy'"):
        queries.load("destination_health").render(WINDOW, mode="legacy")


def test_parameter_mistakes_name_the_parameter():
    query = queries.load("destination_health")
    with pytest.raises(KitError, match="needs parameter 'end'"):
        query.render({"start": WINDOW["start"]})
    with pytest.raises(KitError, match="no parameter 'top'"):
        query.render({**WINDOW, "top": 5})
    with pytest.raises(KitError, match="'start' \\(datetime\\)"):
        query.render({**WINDOW, "start": 5})
    with pytest.raises(KitError, match="'bin_size' \\(timespan\\)"):
        query.parse_params({"bin_size": "often"})
    assert query.parse_params({"bin_size": "5m"}) == {"bin_size": pd.Timedelta(minutes=5)}


def test_unknown_query_lists_the_known_ones():
    with pytest.raises(KitError, match="no packaged query named 'nope'.*destination_health"):
        queries.load("nope")
    with pytest.raises(KitError):
        queries.load("../kql/destination_health")


def test_a_file_without_declaration_is_refused():
    with pytest.raises(KitError, match="no 'declare query_parameters"):
        queries.from_text("bare", "// nothing declared\nGatewayRequests | count")
