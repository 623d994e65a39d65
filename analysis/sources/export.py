"""``apim-snat export``: the raw gateway-log rows of a window, into one Parquet file, in parts.

The services cut a result at 500,000 rows or 64 MB, and a raw gateway row weighs about
a kilobyte with every column, so a window is fetched in parts of at most
``ROWS_PER_PART`` rows: first the rows per minute are counted (a small aggregate), then
consecutive minutes are grouped into parts under the limit, and each part is fetched in
turn (a part the service still cuts is split again, ``analysis.sources.split``). The
file is written next to its final name and renamed into place once whole, so an
interrupted export never leaves a file that reads as complete. The rows keep the
table's own columns, so ``file:FILE.parquet`` reads them like any export.

The export is not kept in the result cache: it is a kept result itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.errors import KitError
from analysis.query.declaration import Parameter
from analysis.query.modes import Mode
from analysis.query.pack import Query
from analysis.sources.base import Request, Source

#: Rows fetched per request: 64 MB at about 1.5 KB a row, with room to spare.
ROWS_PER_PART = 40_000
_WINDOW = (Parameter("start", "datetime"), Parameter("end", "datetime"))
# The gateway's own rows of the mode's table, as stored.
_ROWS = {
    Mode.RESOURCE: "ApiManagementGatewayLogs\n| where TimeGenerated >= start and TimeGenerated < end",
    Mode.AZURE_DIAGNOSTICS: "AzureDiagnostics\n| where TimeGenerated >= start and TimeGenerated < end\n"
    '| where Category == "GatewayLogs" and ResourceProvider == "MICROSOFT.APIMANAGEMENT"',
}


def rows_query(mode: str) -> Query:
    """The raw rows of a window, oldest first."""
    body = _ROWS[Mode(mode)] + "\n| order by TimeGenerated asc"
    return Query("raw_rows", "Raw gateway log rows of a window, oldest first.", _WINDOW, body)


def counts_query(mode: str) -> Query:
    """Rows per minute of a window: the plan of the export."""
    body = _ROWS[Mode(mode)] + "\n| summarize rows = count() by minute = bin(TimeGenerated, 1m)\n| order by minute asc"
    return Query("raw_row_counts", "Gateway log rows per minute of a window.", _WINDOW, body)


@dataclass(frozen=True)
class Part:
    """A stretch of the window and the rows counted in it."""

    start: pd.Timestamp
    end: pd.Timestamp
    rows: int


def plan(counts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, limit: int = ROWS_PER_PART) -> list[Part]:
    """Consecutive minutes grouped into parts of at most ``limit`` rows (a busier minute is a part alone).

    >>> minutes = pd.date_range("2025-02-25T09:00", periods=4, freq="1min")
    >>> counts = pd.DataFrame({"minute": minutes, "rows": [30, 30, 80, 10]})
    >>> parts = plan(counts, minutes[0], minutes[-1] + pd.Timedelta("1min"), limit=60)
    >>> [(p.start.minute, p.end.minute, p.rows) for p in parts]
    [(0, 2, 60), (2, 3, 80), (3, 4, 10)]
    """
    parts: list[Part] = []
    part_start, rows = start, 0
    for minute, count in zip(counts["minute"], counts["rows"], strict=True):
        minute, count = max(pd.Timestamp(minute), start), int(count)
        if rows and rows + count > limit:
            parts.append(Part(part_start, minute, rows))
            part_start, rows = minute, 0
        rows += count
    if rows:
        parts.append(Part(part_start, end, rows))
    return parts


def export(
    source: Source,
    start: pd.Timestamp,
    end: pd.Timestamp,
    out: Path,
    progress: Callable[[int], None] = lambda rows: None,
    rows_per_part: int = ROWS_PER_PART,
) -> int:
    """Write the window's raw rows to ``out`` (Parquet); returns the number of rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise KitError(f"--out {out.name}: the export is written as Parquet; name it FILE.parquet")
    if out.is_dir():
        raise KitError(f"--out {out} is a folder; name a file such as {out / 'gateway_logs.parquet'}")
    if Mode(source.mode).app_insights:
        raise KitError(
            "apim-snat export writes gateway log rows; Application Insights keeps three tables: export "
            "AppRequests, AppDependencies and AppExceptions of the window from the portal into one folder"
        )
    counts_request = Request(counts_query(source.mode), {"start": start, "end": end}, source.mode)
    parts = plan(source.run_request(counts_request), start, end, rows_per_part)
    if not parts:
        raise KitError(
            f"{source.description} holds no gateway log rows from {start.isoformat()}Z to {end.isoformat()}Z"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.part")
    writer: pq.ParquetWriter | None = None
    written = 0
    try:
        for part in parts:
            frame = source.run_request(
                Request(rows_query(source.mode), {"start": part.start, "end": part.end}, source.mode)
            )
            if frame.attrs.get("complete") is False:
                raise KitError(
                    f"the rows from {part.start.isoformat()}Z stayed cut short: {frame.attrs['warnings'][0]}"
                )
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema)
            writer.write_table(table.cast(writer.schema))
            written += len(frame)
            progress(len(frame))
        assert writer is not None
        writer.close()
        writer = None
        os.chmod(temporary, 0o600)  # raw rows: readable by their user alone, like every output of the kit
        os.replace(temporary, out)
    finally:
        if writer is not None:
            writer.close()
        temporary.unlink(missing_ok=True)
    return written
