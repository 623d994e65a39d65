"""Write gateway logs as a storage-account archive: one ``PT1H.json`` of JSON lines per hour.

The tree is the one diagnostic settings write to a storage account::

    insights-logs-gatewaylogs/resourceId=/SUBSCRIPTIONS/<S>/RESOURCEGROUPS/<RG>/PROVIDERS/
        MICROSOFT.APIMANAGEMENT/SERVICE/<NAME>/y=2025/m=02/d=25/h=08/m=00/PT1H.json

DuckDB writes the records (the field layout is ``analysis.sources.archive.FIELDS``), so a day of
ten million rows streams from a Parquet dataset to disk without sitting in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from analysis.query.schema import GATEWAY_LOGS, kusto_types
from analysis.sources.archive import BLOB_NAME, CONTAINER, record_sql


def record_value(column: str) -> str:
    """A column's value as the archive (and a self-hosted gateway's log line) writes it: ISO times with seven
    digits, absent text as null."""
    kind = kusto_types(GATEWAY_LOGS)[column]
    quoted = f'"{column}"'
    if column == "_ResourceId":
        return f"upper({quoted})"
    if kind == "datetime":
        return f"strftime({quoted}, '%Y-%m-%dT%H:%M:%S.%f') || '0Z'"
    if kind == "dynamic":
        return f"CAST(NULLIF({quoted}, '') AS JSON)"
    if kind == "string":
        return f"NULLIF({quoted}, '')"
    return quoted


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def blob_folder(root: Path, resource_id: str) -> Path:
    """Where the hourly blobs of one APIM instance go under ``root``.

    >>> blob_folder(Path("a"), "/subscriptions/s/resourcegroups/rg/providers/x/service/apim").as_posix()
    'a/insights-logs-gatewaylogs/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/X/SERVICE/APIM'
    """
    return root / CONTAINER / ("resourceId=/" + resource_id.strip("/").upper())


def write_archive(logs: Any, root: Path, compress: bool = False) -> list[Path]:
    """Write ``logs`` (``ApiManagementGatewayLogs`` rows: a DataFrame, an Arrow table or dataset)
    under ``root`` as the storage archive; ``compress`` writes ``PT1H.json.gz`` instead.

    Returns the blobs written, in time order. A blob already there is replaced.
    """
    root = Path(root)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
        con.register("logs", logs)
        select = record_sql(record_value, present={"lastError": "\"LastErrorReason\" <> ''"})
        hours = con.execute(
            'SELECT DISTINCT "_ResourceId", date_trunc(\'hour\', "TimeGenerated") AS hour FROM logs ORDER BY 2, 1'
        ).fetchall()
        written = []
        for resource, hour in hours:
            blob = blob_folder(root, resource) / hour.strftime("y=%Y/m=%m/d=%d/h=%H/m=00") / BLOB_NAME
            blob = blob.with_name(blob.name + ".gz") if compress else blob
            blob.parent.mkdir(parents=True, exist_ok=True)
            # One pass per hour: a partitioned COPY buffers every hour at once.
            con.execute(
                f'COPY (SELECT {select} FROM logs WHERE "_ResourceId" = $1 '
                'AND "TimeGenerated" >= $2 AND "TimeGenerated" < $2 + INTERVAL 1 HOUR) '
                f"TO '{_sql_text(blob.as_posix())}' (FORMAT JSON, COMPRESSION {'gzip' if compress else 'none'})",
                [resource, hour],
            )
            written.append(blob)
        return written
    finally:
        con.close()
