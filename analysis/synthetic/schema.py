"""Column lists and pandas dtypes of the two Log Analytics tables the kit reads.

The schema CSVs under ``kql/schema`` are the single source of truth for column
names and Kusto types; this module maps those types to the pandas dtypes the
generator produces, so generated frames look like what a Log Analytics query
returns once loaded into pandas.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pandas as pd

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "kql" / "schema"

GATEWAY_LOGS = "ApiManagementGatewayLogs"
AZURE_DIAGNOSTICS = "AzureDiagnostics"

#: Kusto type -> pandas dtype. ``string`` and ``dynamic`` both become text:
#: dynamic values are kept as their JSON text, as an export would carry them.
KUSTO_TO_PANDAS: dict[str, str] = {
    "datetime": "datetime64[us]",
    "long": "Int64",
    "int": "Int32",
    "real": "float64",
    "bool": "boolean",
    "string": "string",
    "dynamic": "string",
}


@cache
def kusto_types(table: str) -> dict[str, str]:
    """Column -> Kusto type for ``table``, in the order of the schema CSV.

    >>> kusto_types("ApiManagementGatewayLogs")["BackendResponseCode"]
    'int'
    """
    path = SCHEMA_DIR / f"{table}.columns.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["column"]: row["kusto_type"] for row in csv.DictReader(handle)}


def pandas_dtypes(table: str) -> dict[str, str]:
    """Column -> pandas dtype name for ``table``.

    >>> pandas_dtypes("AzureDiagnostics")["responseCode_d"]
    'float64'
    """
    return {name: KUSTO_TO_PANDAS[kind] for name, kind in kusto_types(table).items()}


def columns_of_type(table: str, *kinds: str) -> list[str]:
    """Columns of ``table`` whose Kusto type is one of ``kinds``.

    >>> columns_of_type("ApiManagementGatewayLogs", "datetime")
    ['TimeGenerated', 'Timestamp']
    """
    return [name for name, kind in kusto_types(table).items() if kind in kinds]


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``frame`` with exactly the table's columns, in order, cast to its dtypes.

    Missing text columns become empty strings (Log Analytics returns empty, not
    null, for an unset string); missing columns of other types become null.
    """
    out: dict[str, pd.Series] = {}
    n = len(frame)
    for name, kind in kusto_types(table).items():
        dtype = KUSTO_TO_PANDAS[kind]
        if name in frame.columns:
            series = frame[name]
        elif dtype == "string":
            series = pd.Series([""] * n, index=frame.index)
        else:
            series = pd.Series([None] * n, index=frame.index)
        if dtype == "string":
            series = series.astype("string").fillna("")
        out[name] = series.astype(dtype)
    return pd.DataFrame(out, index=frame.index)
