"""How an export's files become the table the queries read, inside a DuckDB connection.

Three views, one over the other: ``raw`` (the files as DuckDB's own readers give them; an archive's
records mapped to columns through ``archive.FIELDS``), ``read_stage`` (each documented column read
as a number, time, flag or text by ``values.reading``) and the table named after the logging mode
(each column cleaned into its Kusto type by ``values.cleaning``). CSV and JSON are parsed once, into
a typed Parquet file in the source's private folder, which ``read_stage`` then reads.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analysis.errors import KitError
from analysis.modes import Mode, check_mode
from analysis.schema import KUSTO_TO_DUCKDB, kusto_types
from analysis.sources import archive
from analysis.sources.files import Export
from analysis.sources.values import Reading, cleaning, quote, reading, sql_text

# Without these a file cannot say anything about backend destinations.
REQUIRED_COLUMNS = {
    Mode.RESOURCE: ("TimeGenerated", "BackendUrl", "ResponseCode"),
    Mode.AZURE_DIAGNOSTICS: ("TimeGenerated", "backendUrl_s", "responseCode_d"),
}
# A legacy export projected without these columns still holds gateway rows (only those carry backendUrl_s):
# the mode's query selects them by these values, so they are implied rather than empty.
IMPLIED = {Mode.AZURE_DIAGNOSTICS: {"Category": "GatewayLogs", "ResourceProvider": "MICROSOFT.APIMANAGEMENT"}}
#: The portal's "Export to CSV" names datetime columns "TimeGenerated [UTC]".
PORTAL_SUFFIX = " [UTC]"
STAGED_FILE = "rows.parquet"


def schema(mode: str) -> dict[str, str]:
    """Column name -> Kusto type, as documented for the mode's table."""
    return kusto_types(Mode(mode).table)


def detect_mode(columns: list[str]) -> Mode:
    """The logging mode whose required columns a file has; the error names what is missing."""
    present = set(columns)
    missing = {mode: [c for c in REQUIRED_COLUMNS[mode] if c not in present] for mode in Mode}
    for mode, absent in missing.items():
        if not absent:
            return mode
    closer = min(Mode, key=lambda m: (len(missing[m]), -len(present & set(schema(m)))))
    raise KitError(
        f"not a gateway log export: missing {', '.join(missing[closer])} "
        f"(columns of {closer.table}, the closer logging mode)"
    )


def check_headers(export: Export) -> None:
    """A column named twice in a file (also once with the portal's `` [UTC]`` suffix) is an error
    naming it: DuckDB would rename the second and the kit would silently read the first."""
    for file, names in zip(export.files, _headers(export), strict=False):
        seen: set[str] = set()
        for name in names:
            key = name.removesuffix(PORTAL_SUFFIX)
            if key in seen:
                raise KitError(f"{file.name}: column {key!r} appears twice; keep one and try again")
            seen.add(key)


def _headers(export: Export) -> list[list[str]]:
    """The column names each file declares, before any engine renames a duplicate."""
    if export.kind == "csv":
        names = []
        for file in export.files:
            opener = gzip.open if file.suffix.lower() == ".gz" else open
            try:
                with opener(file, "rt", encoding="utf-8-sig", newline="") as handle:
                    names.append(next(csv.reader(handle), []))
            except (OSError, UnicodeDecodeError, csv.Error):
                raise KitError(f"{file.name}: not a readable CSV file") from None
        return names
    if export.kind == "parquet" and not export.gzipped:
        import pyarrow.parquet as pq

        try:
            return [pq.read_schema(file).names for file in export.files]
        except Exception:  # pyarrow raises several types for a damaged file
            raise KitError(f"{export.name}: not a readable Parquet file") from None
    return []


def file_list(files: list[Path]) -> str:
    """A SQL list of file paths."""
    return "[" + ", ".join(sql_text(str(f)) for f in files) + "]"


def readable_files(export: Export, folder: Path) -> list[Path]:
    """The files DuckDB reads: the export's own, gzipped Parquet unpacked into ``folder`` first
    (DuckDB reads gzipped CSV and JSON itself, not gzipped Parquet)."""
    if export.kind != "parquet":
        return list(export.files)
    files = []
    for number, file in enumerate(export.files):
        if file.suffix.lower() != ".gz":
            files.append(file)
            continue
        target = folder / f"unpacked-{number}.parquet"
        try:
            with gzip.open(file, "rb") as packed, target.open("wb") as plain:
                shutil.copyfileobj(packed, plain)
        except (OSError, EOFError):
            raise KitError(f"{file.name}: not a readable gzip file") from None
        files.append(target)
    return files


def create_raw(con: duckdb.DuckDBPyConnection, export: Export, files: list[Path]) -> None:
    """The ``raw`` view: every file of the export through DuckDB's reader; archives mapped to columns."""
    listed = file_list(files)
    if export.kind == "parquet":
        relation = f"SELECT * FROM read_parquet({listed}, union_by_name = true)"
    elif export.kind == "csv":
        relation = f"SELECT * FROM read_csv({listed}, all_varchar = true, header = true, union_by_name = true)"
    else:
        first = file_list(files[:1])
        top = {row[0]: row[1] for row in con.sql(f"DESCRIBE SELECT * FROM read_json({first})").fetchall()}
        if archive.is_archive(top):
            kinds = "{" + ", ".join(f"{sql_text(k)}: {sql_text(v)}" for k, v in archive.json_columns().items()) + "}"
            fields = ", ".join(f"{archive.column_sql(c)} AS {quote(c)}" for c in archive.FIELDS)
            relation = f"SELECT {fields} FROM read_json({listed}, format = 'newline_delimited', columns = {kinds})"
        else:
            relation = f"SELECT * FROM read_json({listed}, union_by_name = true)"
    con.execute(f"CREATE VIEW raw AS {relation}")


@dataclass(frozen=True)
class Column:
    """One documented column the export has, and how it is read."""

    name: str
    kusto_type: str
    reading: Reading


def documented_columns(con: duckdb.DuckDBPyConnection, export: Export, mode: str | None) -> tuple[Mode, list[Column]]:
    """The logging mode of ``raw`` and, for each documented column it has, how to read it."""
    source_types = {row[0]: row[1] for row in con.sql("DESCRIBE raw").fetchall()}
    renamed = {raw.removesuffix(PORTAL_SUFFIX): raw for raw in source_types}
    detected = detect_mode(list(renamed))
    if mode is not None and check_mode(mode) != detected:
        raise KitError(f"{export.name}: holds {detected.table} rows, not {Mode(mode).table} (mode {mode!r})")
    columns = []
    for name, kusto_type in schema(detected).items():
        if name in renamed:
            raw, source_type = renamed[name], source_types[renamed[name]]
            portal = kusto_type == "datetime" and source_type == "VARCHAR" and _portal_times(con, raw)
            columns.append(Column(name, kusto_type, reading(raw, source_type, kusto_type, portal)))
    return detected, columns


def _portal_times(con: duckdb.DuckDBPyConnection, raw: str) -> bool:
    """Whether a text time column's first value is not ISO 8601 (the portal writes its own format)."""
    column = quote(raw)
    first = con.execute(f"SELECT {column} FROM raw WHERE trim({column}) <> '' LIMIT 1").fetchone()
    if first is None:
        return False
    return con.execute("SELECT TRY_CAST(? AS TIMESTAMPTZ) IS NULL", [first[0]]).fetchone() == (True,)


def create_read_stage(
    con: duckdb.DuckDBPyConnection, columns: list[Column], folder: Path | None
) -> tuple[list[Column], list[Path]]:
    """The ``read_stage`` view. With ``folder``, the values are parsed once into Parquet there (a value
    that cannot be read stops it) and the view reads that file. Returns the columns as the view
    holds them and the files it reads after this (None: the export's own)."""
    select = ", ".join(f"{c.reading.sql} AS {quote(c.name)}" for c in columns)
    if folder is None:
        con.execute(f"CREATE VIEW read_stage AS SELECT {select} FROM raw")
        return columns, []
    target = folder / STAGED_FILE
    con.execute(f"COPY (SELECT {select} FROM raw) TO {sql_text(str(target))} (FORMAT parquet, COMPRESSION lz4_raw)")
    con.execute(f"CREATE VIEW read_stage AS SELECT * FROM read_parquet({sql_text(str(target))})")
    parsed = [Column(c.name, c.kusto_type, Reading(quote(c.name), c.reading.read_type)) for c in columns]
    return parsed, [target]


def absent_columns(table: Mode, columns: list[Column]) -> tuple[str, ...]:
    """Documented columns of ``table`` the export lacks (read as empty): the diagnosis names those it needs."""
    present = {c.name for c in columns}
    return tuple(name for name in schema(table) if name not in present)


def create_table(con: duckdb.DuckDBPyConnection, table: Mode, columns: list[Column]) -> None:
    """The mode's table over ``read_stage``: every documented column, cleaned, in its Kusto type."""
    present = {c.name: c for c in columns}
    select = []
    for name, kusto_type in schema(table).items():
        column = present.get(name)
        if column is not None:
            expression = cleaning(name, kusto_type, column.reading.read_type)
        elif name in IMPLIED.get(table, {}):
            expression = sql_text(IMPLIED[table][name])
        elif kusto_type == "string":
            expression = "''"
        else:
            expression = f"CAST(NULL AS {KUSTO_TO_DUCKDB.get(kusto_type, 'VARCHAR')})"
        select.append(f"{expression} AS {quote(name)}")
    con.execute(f"CREATE VIEW {table.table} AS SELECT {', '.join(select)} FROM read_stage")
