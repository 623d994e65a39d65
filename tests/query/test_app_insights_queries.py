"""Every packaged query, rendered for both Application Insights shapes, binds in Microsoft's Kusto language
service against the App* and classic table schemas and gives the columns, with their types, it gives on
gateway logs: the analysis reads one shape of result whatever the mode."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.query import pack
from analysis.query.modes import Mode
from tests import kusto_language as kl

WINDOW = {"start": pd.Timestamp("2025-02-25T09:00"), "end": pd.Timestamp("2025-02-25T11:00")}
SHAPES = (Mode.APP_INSIGHTS, Mode.APP_INSIGHTS_CLASSIC)


@pytest.fixture(scope="module")
def validated() -> dict[str, kl.ValidationResult]:
    texts = {
        f"{query.name}/{mode}": query.render(WINDOW, mode)
        for query in pack.packaged()
        for mode in (Mode.RESOURCE, *SHAPES)
    }
    return kl.validate(texts, kl.kit_tables())


@pytest.mark.parametrize("mode", SHAPES)
@pytest.mark.parametrize("name", [query.name for query in pack.packaged()])
def test_the_query_gives_the_columns_it_gives_on_gateway_logs(validated, name, mode):
    result = validated[f"{name}/{mode}"]
    assert result.errors == (), "\n".join(map(str, result.errors))
    assert result.columns == validated[f"{name}/resource"].columns


@pytest.mark.parametrize(
    ("mode", "tables", "not_read"),
    [
        (Mode.APP_INSIGHTS, ("AppRequests", "AppDependencies", "AppExceptions"), ("requests\n", "timestamp")),
        (Mode.APP_INSIGHTS_CLASSIC, ("requests", "dependencies", "exceptions"), ("AppRequests", "TimeGenerated >=")),
    ],
)
def test_each_shape_reads_its_own_tables(mode, tables, not_read):
    text = pack.load("destination_health").render(WINDOW, mode)
    assert all(f"= {table}\n" in text for table in tables)
    assert not any(word in text for word in not_read)
