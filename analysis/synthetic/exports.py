"""Write generated logs the ways real data reaches the kit.

The shapes: the legacy ``AzureDiagnostics`` table (same requests, flattened
with type suffixes), the Log Analytics portal's "Export to CSV" text, Parquet,
Application Insights' requests, dependencies and exceptions (sampled by whole
operations), and a self-hosted gateway's JSON log lines. Parquet output is
byte-for-byte repeatable so that the embedded sample does not churn in version
control when regenerated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.query.modes import Mode
from analysis.query.schema import AZURE_DIAGNOSTICS, CLASSIC_COLUMNS, conform
from analysis.sources.archive import SELF_HOSTED_FIELDS, record_sql
from analysis.synthetic.archive import record_value

#: What the portal export holds: a KQL ``project`` of the columns an SNAT diagnosis reads,
#: as people export it (the whole table would be several times larger).
PORTAL_COLUMNS = (
    "TimeGenerated",
    "ApiId",
    "OperationId",
    "Method",
    "BackendUrl",
    "ResponseCode",
    "BackendResponseCode",
    "TotalTime",
    "BackendTime",
    "ClientTime",
    "Cache",
    "IsRequestSuccess",
    "LastErrorReason",
    "LastErrorSource",
    "LastErrorSection",
    "LastErrorMessage",
    "Errors",
    "ApimSubscriptionId",
    "CallerIpAddress",
    "ProductId",
)

#: AzureDiagnostics column <- ApiManagementGatewayLogs column, same value (types are cast by ``conform``).
LEGACY_SAME_VALUE: dict[str, str] = {
    "TenantId": "TenantId",
    "TimeGenerated": "TimeGenerated",
    "SourceSystem": "SourceSystem",
    "CorrelationId": "CorrelationId",
    "CallerIPAddress": "CallerIpAddress",
    "DurationMs": "TotalTime",
    "isRequestSuccess_b": "IsRequestSuccess",
    "Region_s": "Region",
    "method_s": "Method",
    "url_s": "Url",
    "clientProtocol_s": "ClientProtocol",
    "responseCode_d": "ResponseCode",
    "responseSize_d": "ResponseSize",
    "requestSize_d": "RequestSize",
    "cache_s": "Cache",
    "cacheTime_d": "CacheTime",
    "clientTime_d": "ClientTime",
    "backendTime_d": "BackendTime",
    "backendMethod_s": "BackendMethod",
    "backendUrl_s": "BackendUrl",
    "backendProtocol_s": "BackendProtocol",
    "backendResponseCode_d": "BackendResponseCode",
    "backendId_s": "BackendId",
    "apiId_s": "ApiId",
    "apiRevision_s": "ApiRevision",
    "operationId_s": "OperationId",
    "productId_s": "ProductId",
    "userId_s": "UserId",
    "apimSubscriptionId_s": "ApimSubscriptionId",
    "clientTlsVersion_s": "ClientTlsVersion",
    "lastError_elapsed_d": "LastErrorElapsed",
    "lastError_source_s": "LastErrorSource",
    "lastError_section_s": "LastErrorSection",
    "lastError_reason_s": "LastErrorReason",
    "lastError_message_s": "LastErrorMessage",
    "lastError_scope_s": "LastErrorScope",
    "errors_s": "Errors",
}


def _resource_parts(resource_id: str) -> dict[str, str]:
    """Subscription, resource group and name from an APIM resource id.

    >>> parts = _resource_parts("/subscriptions/S/resourcegroups/rg-a/providers/microsoft.apimanagement/service/apim-x")
    >>> parts["SubscriptionId"], parts["ResourceGroup"], parts["Resource"]
    ('S', 'RG-A', 'APIM-X')
    >>> parts["ResourceId"]
    '/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG-A/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APIM-X'
    """
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]

    def after(name: str) -> str:
        return parts[lowered.index(name) + 1] if name in lowered and lowered.index(name) + 1 < len(parts) else ""

    return {
        "SubscriptionId": after("subscriptions"),
        "ResourceGroup": after("resourcegroups").upper(),
        "Resource": after("service").upper(),
        "ResourceId": resource_id.upper(),
    }


def to_azure_diagnostics(logs: pd.DataFrame) -> pd.DataFrame:
    """The same requests as legacy-mode ``AzureDiagnostics`` rows (``Category == "GatewayLogs"``).

    Numbers become ``real`` (``*_d``), ``TotalTime`` becomes ``DurationMs``;
    every column of ``kql/schema/AzureDiagnostics.columns.csv`` is present.
    A projection (an export of some columns only) stays one: the same
    columns under their legacy names.
    """
    kept = {target: source for target, source in LEGACY_SAME_VALUE.items() if source in logs.columns}
    if len(kept) < len(LEGACY_SAME_VALUE):
        projection = pd.DataFrame({target: logs[source] for target, source in kept.items()}, index=logs.index)
        return conform(projection, AZURE_DIAGNOSTICS)[list(kept)]
    frame = pd.DataFrame({target: logs[source] for target, source in LEGACY_SAME_VALUE.items()}, index=logs.index)
    parts = {rid: _resource_parts(rid) for rid in logs["_ResourceId"].unique()}
    for field in ("SubscriptionId", "ResourceGroup", "Resource", "ResourceId"):
        frame[field] = logs["_ResourceId"].map({rid: p[field] for rid, p in parts.items()})
    frame["_ResourceId"] = logs["_ResourceId"]
    frame["Type"] = AZURE_DIAGNOSTICS
    frame["ResourceProvider"] = "MICROSOFT.APIMANAGEMENT"
    frame["ResourceType"] = "SERVICE"
    frame["Category"] = "GatewayLogs"
    frame["OperationName"] = "Microsoft.ApiManagement/GatewayLogs"
    frame["Level"] = "Informational"
    frame["lastError_path_s"] = ""
    frame["truncated_d"] = 0.0
    frame["AdditionalFields"] = ""
    return conform(frame, AZURE_DIAGNOSTICS)


def us_datetime_text(values: pd.Series) -> pd.Series:
    """Times as the portal shows them in US English: ``2/25/2025, 9:19:25.391 AM``; null -> empty.

    >>> times = ["2025-02-25 09:19:25.391", "2025-02-25 00:05:00.000", "2025-02-25 13:00:00.000", None]
    >>> us_datetime_text(pd.Series(pd.to_datetime(times))).tolist()
    ['2/25/2025, 9:19:25.391 AM', '2/25/2025, 12:05:00.000 AM', '2/25/2025, 1:00:00.000 PM', '']
    """
    dt = values.dt
    present = values.notna()
    hour = dt.hour.fillna(0).astype(int)
    twelve = ((hour + 11) % 12 + 1).astype(str)
    ampm = np.where(hour < 12, " AM", " PM")

    def two(series: pd.Series) -> pd.Series:
        return series.fillna(0).astype(int).astype(str).str.zfill(2)

    millis = (dt.microsecond.fillna(0).astype(int) // 1000).astype(str).str.zfill(3)
    text = (
        dt.month.fillna(0).astype(int).astype(str)
        + "/"
        + dt.day.fillna(0).astype(int).astype(str)
        + "/"
        + dt.year.fillna(0).astype(int).astype(str)
        + ", "
        + twelve
        + ":"
        + two(dt.minute)
        + ":"
        + two(dt.second)
        + "."
        + millis
        + ampm
    )
    return text.where(present, "").astype(object)


def _real_text(value: float) -> str:
    """A real as Kusto prints it: no trailing ``.0`` on whole numbers, empty for null.

    >>> [_real_text(v) for v in (1234567.0, 0.25, float("nan"))]
    ['1234567', '0.25', '']
    """
    if pd.isna(value):
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def portal_frame(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The text table the portal's "Export to CSV" would write for ``df``.

    Datetime columns are renamed ``<name> [UTC]`` and written in US-English
    locale; booleans as ``true``/``false``; nulls as empty text.
    """
    chosen = df[list(columns)] if columns is not None else df
    out: dict[str, pd.Series] = {}
    for name in chosen.columns:
        series = chosen[name]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[f"{name} [UTC]"] = us_datetime_text(series)
        elif pd.api.types.is_bool_dtype(series):
            out[name] = series.map({True: "true", False: "false"}).astype(object).where(series.notna(), "")
        elif pd.api.types.is_float_dtype(series):
            out[name] = series.map(_real_text).astype(object)
        else:
            out[name] = series.astype(object).where(series.notna(), "").astype(str)
    return pd.DataFrame(out, index=chosen.index)


def write_portal_csv(df: pd.DataFrame, path: str | Path, columns: Sequence[str] | None = None) -> None:
    """Write ``df`` as the Log Analytics portal's "Export to CSV" does (optionally a projection).

    A KQL ``project`` before exporting keeps only some columns; ``columns``
    reproduces that.
    """
    portal_frame(df, columns).to_csv(path, index=False, lineterminator="\r\n", encoding="utf-8")


def write_portal_export(logs: pd.DataFrame, path: str | Path) -> None:
    """The gateway logs as people export them from the portal: ``PORTAL_COLUMNS``, as CSV."""
    write_portal_csv(logs, path, PORTAL_COLUMNS)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` to Parquet with fixed settings, so equal frames give equal bytes.

    No index is stored, one row group per 65,536 rows, zstd compression,
    statistics on, and the pandas metadata (which records dtypes such as
    ``Int32``) is kept as pandas writes it, which depends only on the frame.
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(
        table,
        path,
        row_group_size=65_536,
        compression="zstd",
        compression_level=9,
        use_dictionary=True,
        write_statistics=True,
        data_page_size=1 << 20,
        version="2.6",
    )


#: The ``customDimensions`` (workspace: ``Properties``) keys APIM's Application Insights logger writes on a
#: request, and the gateway log column each value is: "API Management" as ``Service Type``, the API,
#: operation, subscription, region, method and cache (``FACTS.md``, "Application Insights").
REQUEST_PROPERTIES = {
    "API Name": "ApiId",
    "Operation Name": "OperationId",
    "Subscription Name": "ApimSubscriptionId",
    "Region": "Region",
    "HTTP Method": "Method",
    "Cache": "Cache",
}
#: Workspace table -> classic table name.
CLASSIC_TABLE_NAMES = dict(zip(Mode.APP_INSIGHTS.tables, Mode.APP_INSIGHTS_CLASSIC.tables, strict=True))
#: Stream of the random generator that decides which operations Application Insights keeps.
SAMPLING_STREAM = 2


def _operation_ids(rows: pd.DataFrame) -> pd.Series:
    """A W3C trace id per request (32 hex digits), from its gateway ``CorrelationId``."""
    return rows["CorrelationId"].str.replace("-", "", regex=False)


def _properties(rows: pd.DataFrame, service: str) -> pd.Series:
    """The request's ``Properties`` as JSON text; built once per distinct combination of values."""
    keys = list(REQUEST_PROPERTIES.values())
    values = rows[keys].astype(object).where(rows[keys].notna(), "").astype(str)
    values["Cache"] = values["Cache"].str.capitalize()
    combos = values.drop_duplicates()
    text = {
        tuple(combo): json.dumps(
            {"Service Type": "API Management", "Service ID": service}
            | dict(zip(REQUEST_PROPERTIES, combo, strict=True)),
            separators=(",", ":"),
        )
        for combo in combos.itertuples(index=False, name=None)
    }
    return pd.Series([text[tuple(v)] for v in values.itertuples(index=False, name=None)], index=rows.index)


def _path(url: pd.Series) -> pd.Series:
    """The path of each URL, without scheme, authority or query.

    >>> _path(pd.Series(["https://a.com/orders/7?page=1", "http://b.com:8080/"])).tolist()
    ['/orders/7', '/']
    """
    return url.str.replace(r"^[a-zA-Z]+://[^/]*", "", regex=True).str.split("?").str[0]


def _authority(url: pd.Series) -> pd.Series:
    """``host``, or ``host:port`` when the port is not the scheme's default: a dependency's ``Target``.

    >>> _authority(pd.Series(["https://a.com/x", "http://b.com:8080/", "https://c.com:443"])).tolist()
    ['a.com', 'b.com:8080', 'c.com']
    """
    parts = url.str.extract(r"^(?P<scheme>[a-zA-Z]+)://(?P<host>[^/:?#]*)(?::(?P<port>\d+))?")
    default = parts["scheme"].str.lower().map({"http": "80", "https": "443"})
    shown = parts["port"].notna() & (parts["port"] != default)
    return parts["host"].where(~shown, parts["host"] + ":" + parts["port"]).fillna("")


def sampled_operations(rows: pd.DataFrame, percent: float, always_log_errors: bool, seed: int) -> pd.Series:
    """``ItemCount`` of each request Application Insights keeps (0: not kept), sampling whole operations.

    At ``percent`` a kept operation stands for ``100 / percent`` requests; with ``always_log_errors`` every
    failed request is kept and stands for itself.
    """
    weight = round(100.0 / percent)
    rng = np.random.default_rng([seed, SAMPLING_STREAM])
    kept = rng.random(len(rows)) * 100.0 < percent
    counts = np.where(kept, weight, 0)
    if always_log_errors:
        failed = ~rows["IsRequestSuccess"].fillna(False).to_numpy(dtype=bool)
        counts = np.where(failed, 1, counts)
    return pd.Series(counts, index=rows.index, dtype="int32")


def to_app_insights(
    rows: pd.DataFrame,
    service: str = "contoso-apim",
    sampling_percent: float = 100.0,
    always_log_errors: bool = True,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The same requests as APIM's Application Insights logger writes them: ``AppRequests``,
    ``AppDependencies`` (the calls forwarded to a backend) and ``AppExceptions`` (the failed requests
    with an error reason), tied by the operation id and sampled by whole operations (``ItemCount``).

    ``rows`` are ``ApiManagementGatewayLogs`` rows with every column (``Incident.all_requests``).
    Every column of the workspace tables' schemas is present.
    """
    counts = sampled_operations(rows, sampling_percent, always_log_errors, seed)
    rows = rows.loc[counts > 0]
    counts = counts.loc[rows.index]
    operation = _operation_ids(rows)
    requests = pd.DataFrame(
        {
            "TimeGenerated": rows["TimeGenerated"],
            "Id": operation.str[:16],
            "OperationId": operation,
            "Name": rows["Method"] + " " + _path(rows["Url"]),
            "OperationName": rows["ApiId"] + ";rev=" + rows["ApiRevision"] + " - " + rows["OperationId"],
            "Url": rows["Url"],
            "ResultCode": rows["ResponseCode"].astype("string").fillna(""),
            "DurationMs": rows["TotalTime"].astype("float64"),
            "Success": rows["IsRequestSuccess"],
            "ItemCount": counts,
            "Properties": _properties(rows, service),
            "ClientIP": rows["CallerIpAddress"],
            "AppRoleName": service,
            "Type": "AppRequests",
        }
    )
    called = rows["BackendTime"].notna()
    backend = rows.loc[called]
    answered = backend["BackendResponseCode"]
    offset = pd.to_timedelta(
        (backend["TotalTime"] - backend["BackendTime"] - backend["ClientTime"]).clip(lower=0) // 2, unit="ms"
    )
    dependencies = pd.DataFrame(
        {
            "TimeGenerated": backend["TimeGenerated"] + offset,
            "Id": operation.loc[called].str[16:],
            "ParentId": operation.loc[called].str[:16],
            "OperationId": operation.loc[called],
            "Name": backend["BackendMethod"] + " " + _path(backend["BackendUrl"]),
            "Target": _authority(backend["BackendUrl"]),
            "Data": backend["BackendUrl"],
            "DependencyType": "HTTP",
            "ResultCode": answered.astype("string").fillna(""),
            "DurationMs": backend["BackendTime"].astype("float64"),
            "Success": answered.notna() & (answered < 400),
            "ItemCount": counts.loc[called],
            "AppRoleName": service,
            "Type": "AppDependencies",
        }
    )
    failed = rows["LastErrorReason"].fillna("") != ""
    errors = rows.loc[failed]
    elapsed = pd.to_timedelta(errors["LastErrorElapsed"].fillna(errors["TotalTime"]), unit="ms")
    exceptions = pd.DataFrame(
        {
            "TimeGenerated": errors["TimeGenerated"] + elapsed,
            "OperationId": operation.loc[failed],
            "ParentId": operation.loc[failed].str[:16],
            "ExceptionType": errors["LastErrorReason"] + " at " + errors["LastErrorSource"],
            "OuterType": errors["LastErrorReason"],
            "OuterMessage": errors["LastErrorMessage"],
            "Message": errors["LastErrorMessage"],
            "ProblemId": errors["LastErrorReason"] + " at " + errors["LastErrorSource"],
            "SeverityLevel": 3,
            "ItemCount": counts.loc[failed],
            "AppRoleName": service,
            "Type": "AppExceptions",
        }
    )
    tables = {"AppRequests": requests, "AppDependencies": dependencies, "AppExceptions": exceptions}
    return {name: conform(frame.reset_index(drop=True), name) for name, frame in tables.items()}


def classic(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A workspace table's rows under the classic Application Insights column names."""
    names = {workspace: classic_name for classic_name, workspace in CLASSIC_COLUMNS[table].items()}
    return frame[[c for c in frame.columns if c in names]].rename(columns=names)


def write_app_insights(
    tables: dict[str, pd.DataFrame], folder: str | Path, kind: str = "parquet", classic_names: bool = False
) -> list[Path]:
    """Write each table to ``folder`` as people export it, the table's name in the file name: Parquet,
    the portal's CSV (``kind="csv"``) or JSON lines (``"jsonl"``); ``classic_names`` writes the classic
    tables (``requests.csv`` with ``timestamp``, ``operation_Id``, ``customDimensions``, ...)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for table, frame in tables.items():
        name = CLASSIC_TABLE_NAMES[table] if classic_names else table
        rows = classic(table, frame) if classic_names else frame
        path = target / f"{name}.{kind}"
        if kind == "parquet":
            write_parquet(rows, path)
        elif kind == "csv":
            write_portal_csv(rows, path)
        else:
            rows.to_json(path, orient="records", lines=True, date_format="iso", date_unit="us")
        written.append(path)
    return written


#: Lines of a self-hosted gateway's own diagnostics, around its request lines (shapes from its public issues).
SELF_HOSTED_DIAGNOSTICS = (
    '{"level":"Informational","timestamp":"%s","message":"Gateway started","source":"GatewayService"}',
    '{"level":"Verbose","timestamp":"%s","eventType":"ChannelLeaseReturned","source":"Http1Connections"}',
)


def write_self_hosted_log(logs: pd.DataFrame, path: str | Path, region: str = "on-premises") -> Path:
    """``logs`` (``ApiManagementGatewayLogs`` rows) as a self-hosted gateway writes them on stdout with JSON
    logging: one line per request (``archive.SELF_HOSTED_FIELDS``, the gateway's location as ``region``),
    lines of its own diagnostics around them, and one line cut short as when two writes interleave."""
    target = Path(path)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
        con.register("logs", logs.assign(Region=region))
        select = record_sql(record_value, present={"lastError": "\"LastErrorReason\" <> ''"}, fields=SELF_HOSTED_FIELDS)
        rows = con.execute(f'SELECT to_json(r) FROM (SELECT {select} FROM logs ORDER BY "TimeGenerated") r').fetchall()
    finally:
        con.close()
    first = pd.Timestamp(logs["TimeGenerated"].min()).isoformat() + "Z" if len(logs) else "2025-01-01T00:00:00Z"
    lines = [SELF_HOSTED_DIAGNOSTICS[0] % first]
    for number, (line,) in enumerate(rows):
        lines.append(line)
        if number % 1000 == 500:
            lines.append(SELF_HOSTED_DIAGNOSTICS[1] % first)
    lines.insert(len(lines) // 2, '{"level":"Verbose","timestamp":"' + first + '","eventType":"Res')
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
