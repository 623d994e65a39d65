"""The storage-account archive of gateway logs: where each resource-specific column lives in it.

Diagnostic settings that archive to a storage account write one JSON object per request, one
file per hour (``insights-logs-gatewaylogs/resourceId=<ID>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json``).
The record has a few top-level fields and the request's details in a nested ``properties`` object,
the last error in ``properties.lastError``. ``FIELDS`` maps every ``ApiManagementGatewayLogs``
column the archive carries to its path in the record; the local source reads archives through it
and the sample generator writes them through it, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from analysis.schema import GATEWAY_LOGS, kusto_types

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


def _tree(leaf: Callable[[str], str]) -> dict[str, object]:
    """The record's fields as nested dicts, each leaf the text ``leaf(column)``."""
    tree: dict[str, object] = {}
    for column, path in FIELDS.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[path[-1]] = leaf(column)
    return tree


def _struct_type(node: Mapping[str, object]) -> str:
    parts = [f'"{name}" {_struct_type(v) if isinstance(v, dict) else v}' for name, v in node.items()]
    return "STRUCT(" + ", ".join(parts) + ")"


def json_columns() -> dict[str, str]:
    """DuckDB ``read_json`` column types for an archive: every value as it may appear, typed later.

    Numbers are read as DOUBLE so that the local source sees a fractional status code as one
    (and says so) instead of DuckDB rounding it while reading; times are read as text.
    """
    types = kusto_types(GATEWAY_LOGS)
    tree = _tree(lambda column: _READ_AS.get(types[column], "DOUBLE"))
    return {name: _struct_type(v) if isinstance(v, dict) else str(v) for name, v in tree.items()}


def column_sql(column: str) -> str:
    """SQL reading one resource-specific column from an archived record.

    >>> column_sql("LastErrorReason")
    '"properties"."lastError"."reason"'
    """
    return ".".join(f'"{part}"' for part in FIELDS[column])


def record_sql(value: Callable[[str], str], present: Mapping[str, str] | None = None) -> str:
    """SQL select list building an archived record, ``value(column)`` giving each field's value.

    ``present`` maps a nested object's name (``lastError``) to the condition under which the
    record has it; otherwise the object is null, as the gateway leaves it out.
    """
    conditions = dict(present or {})

    def build(name: str, node: object) -> str:
        if not isinstance(node, dict):
            return str(node)
        struct = "struct_pack(" + ", ".join(f'"{k}" := {build(k, v)}' for k, v in node.items()) + ")"
        return f"CASE WHEN {conditions[name]} THEN {struct} END" if name in conditions else struct

    return ", ".join(f'{build(name, node)} AS "{name}"' for name, node in _tree(value).items())
