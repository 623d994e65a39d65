"""Gateway logs as JSON records: where each resource-specific column lives in a storage-archive record
and in a self-hosted gateway's log line.

Diagnostic settings that archive to a storage account write one JSON object per request, one
file per hour (``insights-logs-gatewaylogs/resourceId=<ID>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json``).
The record has a few top-level fields and the request's details in a nested ``properties`` object,
the last error in ``properties.lastError``. ``FIELDS`` maps every ``ApiManagementGatewayLogs``
column the archive carries to its path in the record; the local source reads archives through it
and the sample generator writes them through it, so the two cannot disagree.

A self-hosted gateway writes the same request as one JSON line on its container's stdout (with
``telemetry.logs.std`` set to ``json``): the same fields, flat (``timeGenerated``, ``totalTime``,
``region``, ``backendUrl``, ``lastError``, ...; ``SELF_HOSTED_FIELDS``), between lines of its own
diagnostics that are not requests (``level``, ``timestamp``, ``message``). Seen in the gateway's
public issues (Azure/api-management-self-hosted-gateway #226, #230, #278).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from analysis.query.schema import GATEWAY_LOGS, kusto_types

CONTAINER = "insights-logs-gatewaylogs"
BLOB_NAME = "PT1H.json"

#: Resource-specific column -> path of the field in an archived record.
FIELDS: dict[str, tuple[str, ...]] = {
    "TimeGenerated": ("time",),
    "_ResourceId": ("resourceId",),
    "Category": ("category",),
    "OperationName": ("operationName",),
    "TotalTime": ("durationMs",),
    "CallerIpAddress": ("callerIpAddress",),
    "CorrelationId": ("correlationId",),
    "Region": ("location",),
    "IsRequestSuccess": ("isRequestSuccess",),
    "Method": ("properties", "method"),
    "Url": ("properties", "url"),
    "ClientProtocol": ("properties", "clientProtocol"),
    "ResponseCode": ("properties", "responseCode"),
    "ResponseSize": ("properties", "responseSize"),
    "RequestSize": ("properties", "requestSize"),
    "Cache": ("properties", "cache"),
    "CacheTime": ("properties", "cacheTime"),
    "ClientTime": ("properties", "clientTime"),
    "BackendMethod": ("properties", "backendMethod"),
    "BackendUrl": ("properties", "backendUrl"),
    "BackendProtocol": ("properties", "backendProtocol"),
    "BackendResponseCode": ("properties", "backendResponseCode"),
    "BackendTime": ("properties", "backendTime"),
    "BackendId": ("properties", "backendId"),
    "ApiId": ("properties", "apiId"),
    "ApiRevision": ("properties", "apiRevision"),
    "OperationId": ("properties", "operationId"),
    "ProductId": ("properties", "productId"),
    "UserId": ("properties", "userId"),
    "ApimSubscriptionId": ("properties", "apimSubscriptionId"),
    "ClientTlsVersion": ("properties", "clientTlsVersion"),
    "Errors": ("properties", "errors"),
    "LastErrorElapsed": ("properties", "lastError", "elapsed"),
    "LastErrorSource": ("properties", "lastError", "source"),
    "LastErrorScope": ("properties", "lastError", "scope"),
    "LastErrorSection": ("properties", "lastError", "section"),
    "LastErrorReason": ("properties", "lastError", "reason"),
    "LastErrorMessage": ("properties", "lastError", "message"),
}

#: The top-level fields that tell an archived record from a flat export row.
MARKERS = ("time", "properties")

#: An archived record's top-level fields that a self-hosted gateway's log line names otherwise.
_SELF_HOSTED_NAMES = {"time": "timeGenerated", "durationMs": "totalTime", "location": "region"}
#: The archive's top-level fields a self-hosted gateway's log line does not carry (it is no Azure resource).
_NOT_SELF_HOSTED = ("_ResourceId", "OperationName")
#: Resource-specific column -> path of the field in a self-hosted gateway's JSON log line.
SELF_HOSTED_FIELDS: dict[str, tuple[str, ...]] = {
    column: (_SELF_HOSTED_NAMES.get(path[0], path[0]),) if path[0] != "properties" else path[1:]
    for column, path in FIELDS.items()
    if column not in _NOT_SELF_HOSTED
}
#: The fields every request line of a self-hosted gateway has, and its diagnostics lines do not.
SELF_HOSTED_MARKERS = ("timeGenerated", "backendUrl", "responseCode")
#: The field a request line has; the gateway's own diagnostics lines leave it out.
SELF_HOSTED_TIME = "timeGenerated"

#: How the archive spells a value of each Kusto type; JSON has no datetime and no nested text.
_READ_AS = {"datetime": "VARCHAR", "dynamic": "JSON", "string": "VARCHAR", "bool": "VARCHAR"}


def is_archive(columns: Mapping[str, str]) -> bool:
    """Whether a JSON file's top-level fields are those of an archived record.

    >>> is_archive({"time": "VARCHAR", "properties": "STRUCT(backendUrl VARCHAR)"})
    True
    >>> is_archive({"TimeGenerated": "VARCHAR", "BackendUrl": "VARCHAR"})
    False
    """
    return all(marker in columns for marker in MARKERS)


def is_self_hosted(columns: Mapping[str, str]) -> bool:
    """Whether a JSON file's top-level fields are those of a self-hosted gateway's log lines.

    >>> is_self_hosted({"timeGenerated": "VARCHAR", "backendUrl": "VARCHAR", "responseCode": "BIGINT"})
    True
    """
    return all(marker in columns for marker in SELF_HOSTED_MARKERS)


def _tree(leaf: Callable[[str], str], fields: Mapping[str, tuple[str, ...]] = FIELDS) -> dict[str, object]:
    """The record's fields as nested dicts, each leaf the text ``leaf(column)``."""
    tree: dict[str, object] = {}
    for column, path in fields.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[path[-1]] = leaf(column)
    return tree


def _struct_type(node: Mapping[str, object]) -> str:
    parts = [f'"{name}" {_struct_type(v) if isinstance(v, dict) else v}' for name, v in node.items()]
    return "STRUCT(" + ", ".join(parts) + ")"


def json_columns(fields: Mapping[str, tuple[str, ...]] = FIELDS) -> dict[str, str]:
    """DuckDB ``read_json`` column types for records laid out as ``fields``: every value as it may
    appear, typed later.

    Numbers are read as DOUBLE so that the local source sees a fractional status code as one
    (and says so) instead of DuckDB rounding it while reading; times are read as text.
    """
    types = kusto_types(GATEWAY_LOGS)
    tree = _tree(lambda column: _READ_AS.get(types[column], "DOUBLE"), fields)
    return {name: _struct_type(v) if isinstance(v, dict) else str(v) for name, v in tree.items()}


def column_sql(column: str, fields: Mapping[str, tuple[str, ...]] = FIELDS) -> str:
    """SQL reading one resource-specific column from a record laid out as ``fields``.

    >>> column_sql("LastErrorReason"), column_sql("TotalTime", SELF_HOSTED_FIELDS)
    ('"properties"."lastError"."reason"', '"totalTime"')
    """
    return ".".join(f'"{part}"' for part in fields[column])


def record_sql(
    value: Callable[[str], str],
    present: Mapping[str, str] | None = None,
    fields: Mapping[str, tuple[str, ...]] = FIELDS,
) -> str:
    """SQL select list building a record laid out as ``fields``, ``value(column)`` giving each field's value.

    ``present`` maps a nested object's name (``lastError``) to the condition under which the
    record has it; otherwise the object is null, as the gateway leaves it out.
    """
    conditions = dict(present or {})

    def build(name: str, node: object) -> str:
        if not isinstance(node, dict):
            return str(node)
        struct = "struct_pack(" + ", ".join(f'"{k}" := {build(k, v)}' for k, v in node.items()) + ")"
        return f"CASE WHEN {conditions[name]} THEN {struct} END" if name in conditions else struct

    return ", ".join(f'{build(name, node)} AS "{name}"' for name, node in _tree(value, fields).items())
