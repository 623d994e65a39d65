"""The Log Analytics tables the kit reads, and what each Kusto type becomes in DuckDB and pandas.

The CSVs in ``kql/schema`` are the documented columns of each table with their Kusto types; this
module is the only reader of them and the only place that maps a Kusto type to another type system.
The local source builds its DuckDB views from them, the generator its frames, and the Azure sources
read the services' type names through ``kusto_type``. Application Insights' classic tables spell
the workspace tables' columns otherwise (``CLASSIC_COLUMNS``).
"""

from __future__ import annotations

import csv
from functools import cache

import pandas as pd

from analysis.assets import kql_dir
from analysis.query.modes import Mode

GATEWAY_LOGS = Mode.RESOURCE.table
AZURE_DIAGNOSTICS = Mode.AZURE_DIAGNOSTICS.table
APP_REQUESTS, APP_DEPENDENCIES, APP_EXCEPTIONS = Mode.APP_INSIGHTS.tables
#: Every table with a schema in ``kql/schema``.
TABLES = tuple(table for mode in Mode for table in mode.tables)

#: Classic name -> workspace name of the columns all three Application Insights tables share ("Migrate to
#: workspace-based Application Insights resources", azure-docs
#: ``articles/azure-monitor/app/convert-classic-resource.md``; where that page and the table references
#: disagree, the table references' names).
_CLASSIC_SHARED = {
    "timestamp": "TimeGenerated",
    "appId": "ResourceGUID",
    "application_Version": "AppVersion",
    "appName": "_ResourceId",
    "client_Browser": "ClientBrowser",
    "client_City": "ClientCity",
    "client_CountryOrRegion": "ClientCountryOrRegion",
    "client_IP": "ClientIP",
    "client_Model": "ClientModel",
    "client_OS": "ClientOS",
    "client_StateOrProvince": "ClientStateOrProvince",
    "client_Type": "ClientType",
    "cloud_RoleInstance": "AppRoleInstance",
    "cloud_RoleName": "AppRoleName",
    "customDimensions": "Properties",
    "customMeasurements": "Measurements",
    "iKey": "IKey",
    "itemCount": "ItemCount",
    "itemType": "Type",
    "operation_Id": "OperationId",
    "operation_Name": "OperationName",
    "operation_ParentId": "ParentId",
    "operation_SyntheticSource": "SyntheticSource",
    "sdkVersion": "SDKVersion",
    "session_Id": "SessionId",
    "user_AccountId": "UserAccountId",
    "user_AuthenticatedId": "UserAuthenticatedId",
    "user_Id": "UserId",
}
#: Workspace table -> {classic column name: workspace column name}.
CLASSIC_COLUMNS: dict[str, dict[str, str]] = {
    APP_REQUESTS: _CLASSIC_SHARED
    | {"duration": "DurationMs", "id": "Id", "name": "Name", "resultCode": "ResultCode", "source": "Source"}
    | {"success": "Success", "url": "Url"},
    APP_DEPENDENCIES: _CLASSIC_SHARED
    | {"data": "Data", "duration": "DurationMs", "id": "Id", "name": "Name", "resultCode": "ResultCode"}
    | {"success": "Success", "target": "Target", "type": "DependencyType"},
    APP_EXCEPTIONS: _CLASSIC_SHARED
    | {"assembly": "Assembly", "details": "Details", "handledAt": "HandledAt", "message": "Message"}
    | {"innermostAssembly": "InnermostAssembly", "innermostMessage": "InnermostMessage"}
    | {"innermostMethod": "InnermostMethod", "innermostType": "InnermostType", "method": "Method"}
    | {"outerAssembly": "OuterAssembly", "outerMessage": "OuterMessage", "outerMethod": "OuterMethod"}
    | {"outerType": "OuterType", "problemId": "ProblemId", "severityLevel": "SeverityLevel", "type": "ExceptionType"},
}

#: Kusto type -> the DuckDB type of the local engine's column.
KUSTO_TO_DUCKDB: dict[str, str] = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "dynamic": "VARCHAR",
    "guid": "VARCHAR",
    "timespan": "INTERVAL",
}

#: Kusto type -> pandas dtype of a column of a table loaded into pandas, as the generator writes
#: it. ``string`` and ``dynamic`` both become text: dynamic values are kept as their JSON text,
#: as an export carries them.
KUSTO_TO_PANDAS: dict[str, str] = {
    "datetime": "datetime64[us]",
    "long": "Int64",
    "int": "Int32",
    "real": "float64",
    "bool": "boolean",
    "string": "string",
    "dynamic": "string",
}

# Other spellings of the same types in query results (Kusto v2 and Log Analytics answers).
_SYNONYMS = {
    "int32": "int",
    "int64": "long",
    "double": "real",
    "decimal": "real",
    "date": "datetime",
    "boolean": "bool",
    "time": "timespan",
    "uuid": "guid",
    "uniqueid": "guid",
}


def kusto_type(name: str) -> str:
    """A Kusto type name as this module spells it.

    >>> kusto_type("Int64"), kusto_type("double"), kusto_type("string")
    ('long', 'real', 'string')
    """
    lowered = name.lower()
    return _SYNONYMS.get(lowered, lowered)


@cache
def kusto_types(table: str) -> dict[str, str]:
    """Column -> Kusto type for ``table``, in the order of its schema CSV.

    >>> kusto_types("ApiManagementGatewayLogs")["BackendResponseCode"]
    'int'
    """
    path = kql_dir() / "schema" / f"{table}.columns.csv"
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
