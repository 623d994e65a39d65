"""How an export's files become the tables the queries read, inside a DuckDB connection.

Per table, three views, one over the other: ``raw_<table>`` (the files as DuckDB's own readers give
them; an archive's records mapped to columns through ``archive.FIELDS``), ``read_stage_<table>`` (each
documented column read as a number, time, flag or text by ``values.reading``) and the table itself
(each column cleaned into its Kusto type by ``values.cleaning``). CSV and JSON are parsed once, into a
typed Parquet file in the source's private folder, which the read stage then reads. A gateway log
export is one table, named after its logging mode; an Application Insights export is one per table
(``appinsights``).
"""

from __future__ import annotations

import csv
import gzip
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import duckdb

import analysis.sources.archive as archive
from analysis.errors import KitError
from analysis.query.modes import Mode, check_mode
from analysis.query.schema import KUSTO_TO_DUCKDB, kusto_types
from analysis.sources.files import Export
from analysis.sources.values import Reading, cleaning, quote, reading, sql_text

# Without these a file of gateway logs cannot say anything about backend destinations.
REQUIRED_COLUMNS = {
    Mode.RESOURCE: ("TimeGenerated", "BackendUrl", "ResponseCode"),
    Mode.AZURE_DIAGNOSTICS: ("TimeGenerated", "backendUrl_s", "responseCode_d"),
}
GATEWAY_MODES = tuple(REQUIRED_COLUMNS)
# A legacy export projected without these columns still holds gateway rows (only those carry backendUrl_s):
# the mode's query selects them by these values, so they are implied rather than empty.
IMPLIED = {Mode.AZURE_DIAGNOSTICS.table: {"Category": "GatewayLogs", "ResourceProvider": "MICROSOFT.APIMANAGEMENT"}}
#: The portal's "Export to CSV" names datetime columns "TimeGenerated [UTC]".
PORTAL_SUFFIX = " [UTC]"


def schema(mode: str) -> dict[str, str]:
    """Column name -> Kusto type, as documented for the mode's table of requests."""
    return kusto_types(Mode(mode).table)


def detect_mode(columns: list[str]) -> Mode:
    """The gateway log mode whose required columns a file has; the error names what is missing."""
    present = set(columns)
    missing = {mode: [c for c in REQUIRED_COLUMNS[mode] if c not in present] for mode in GATEWAY_MODES}
    for mode, absent in missing.items():
        if not absent:
            return mode
    closer = min(GATEWAY_MODES, key=lambda m: (len(missing[m]), -len(present & set(schema(m)))))
    raise KitError(
        f"not a gateway log export: missing {', '.join(missing[closer])} "
        f"(columns of {closer.table}, the closer logging mode)"
    )


@dataclass(frozen=True)
class Part:
    """One table of an export: the table the kit makes, the export's files of it, and the kit's name of
    each column the files name otherwise (Application Insights' classic names)."""

    table: str
    export: Export
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def raw(self) -> str:
        return f"raw_{self.table}"

    @property
    def read_stage(self) -> str:
        return f"read_stage_{self.table}"

    @property
    def staged_file(self) -> str:
        return f"rows-{self.table}.parquet"


def check_headers(export: Export) -> list[list[str]]:
    """The column names each file declares (none for JSON and gzipped Parquet, which DuckDB describes).

    A column named twice in a file (also once with the portal's `` [UTC]`` suffix) is an error
    naming it: DuckDB would rename the second and the kit would silently read the first."""
    headers = _headers(export)
    for file, names in zip(export.files, headers, strict=False):
        seen: set[str] = set()
        for name in names:
            key = name.removesuffix(PORTAL_SUFFIX)
            if key in seen:
                raise KitError(f"{file.name}: column {key!r} appears twice; keep one and try again")
            seen.add(key)
    return headers


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


def raw_relation(
    con: duckdb.DuckDBPyConnection, export: Export, files: list[Path], shapes: dict[Path, JsonShape] | None = None
) -> str:
    """SQL reading every file of ``export`` (``files``, as DuckDB may read them) through DuckDB's reader;
    an archive's records mapped to columns (``shapes``: what ``json_shape`` found so far)."""
    listed = file_list(files)
    if export.kind == "parquet":
        return f"SELECT * FROM read_parquet({listed}, union_by_name = true)"
    if export.kind == "csv":
        return f"SELECT * FROM read_csv({listed}, all_varchar = true, header = true, union_by_name = true)"
    shape = json_shape(con, files[0], shapes)
    if shape == JsonShape.ROWS:
        return f"SELECT * FROM read_json({listed}, union_by_name = true)"
    layout = archive.FIELDS if shape == JsonShape.ARCHIVE else archive.SELF_HOSTED_FIELDS
    kinds = "{" + ", ".join(f"{sql_text(k)}: {sql_text(v)}" for k, v in archive.json_columns(layout).items()) + "}"
    fields = ", ".join(f"{archive.column_sql(c, layout)} AS {quote(c)}" for c in layout)
    if shape == JsonShape.ARCHIVE:
        return f"SELECT {fields} FROM read_json({listed}, format = 'newline_delimited', columns = {kinds})"
    # Lines of the gateway's own diagnostics are no request; a line that is no JSON is skipped (and counted).
    return (
        f"SELECT {fields} FROM read_json({listed}, format = 'newline_delimited', ignore_errors = true, "
        f"columns = {kinds}) WHERE {quote(archive.SELF_HOSTED_TIME)} IS NOT NULL"
    )


class JsonShape(StrEnum):
    """How a JSON lines file lays out gateway log rows."""

    ROWS = "rows"
    """One flat row per request, with the table's column names (a KQL export)."""
    ARCHIVE = "archive"
    """A diagnostic setting's storage archive (``archive.FIELDS``)."""
    SELF_HOSTED = "self-hosted"
    """A self-hosted gateway's log lines (``archive.SELF_HOSTED_FIELDS``)."""


def unreadable_lines(con: duckdb.DuckDBPyConnection, files: list[Path]) -> int:
    """How many non-empty lines of ``files`` are no JSON: a self-hosted gateway's writes can interleave on
    stdout and cut a line short, and those lines are skipped, never read as requests."""
    lines = f"read_csv({file_list(files)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01', "
    lines += "quote = '', escape = '', auto_detect = false)"
    found = con.execute(f"SELECT count(*) FROM {lines} WHERE trim(line) <> '' AND NOT json_valid(line)").fetchall()
    return int(found[0][0])


def json_shape(con: duckdb.DuckDBPyConnection, file: Path, known: dict[Path, JsonShape] | None = None) -> JsonShape:
    """The layout of a JSON lines file, from the top-level fields DuckDB finds in a sample of it.

    ``known`` keeps the shape of each file looked at: DuckDB reads thousands of records to tell.
    """
    if known is not None and file in known:
        return known[file]
    described = f"DESCRIBE SELECT * FROM read_json({file_list([file])}, ignore_errors = true)"
    top = {row[0]: row[1] for row in con.sql(described).fetchall()}
    shape = JsonShape.ROWS
    if archive.is_archive(top):
        shape = JsonShape.ARCHIVE
    elif archive.is_self_hosted(top):
        shape = JsonShape.SELF_HOSTED
    if known is not None:
        known[file] = shape
    return shape


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """The columns ``relation`` (SQL) gives."""
    return [row[0] for row in con.sql(f"DESCRIBE {relation}").fetchall()]


def create_raw(con: duckdb.DuckDBPyConnection, part: Part, relation: str) -> None:
    """The part's raw view over ``relation`` (``raw_relation``)."""
    con.execute(f"CREATE VIEW {part.raw} AS {relation}")


@dataclass(frozen=True)
class Column:
    """One documented column the export has, and how it is read."""

    name: str
    kusto_type: str
    reading: Reading


def raw_columns(part: Part, described: Mapping[str, str]) -> dict[str, str]:
    """Each column of the part's raw view (``described``: name -> type) by the name the kit knows it by (no
    portal suffix, no classic name) -> its name in the view."""
    names = {raw.removesuffix(PORTAL_SUFFIX): raw for raw in described}
    return {part.names.get(name, name): raw for name, raw in names.items()}


def gateway_mode(export: Export, columns: list[str], mode: str | None) -> Mode:
    """The gateway log mode of an export of one table with ``columns``, checked against the ``mode`` asked for."""
    detected = detect_mode([c.removesuffix(PORTAL_SUFFIX) for c in columns])
    if mode is not None and check_mode(mode) != detected:
        raise KitError(f"{export.name}: holds {detected.table} rows, not {Mode(mode).table} (mode {mode!r})")
    return detected


def create_empty_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """``table`` with every documented column and no row: a table the export does not hold."""
    select = ", ".join(
        f"CAST(NULL AS {KUSTO_TO_DUCKDB.get(kind, 'VARCHAR')}) AS {quote(name)}"
        for name, kind in kusto_types(table).items()
    )
    con.execute(f"CREATE VIEW {quote(table)} AS SELECT {select} WHERE false")


def documented_columns(con: duckdb.DuckDBPyConnection, part: Part) -> list[Column]:
    """For each documented column of the part's table that its raw view has, how to read it."""
    source_types = {row[0]: row[1] for row in con.sql(f"DESCRIBE {part.raw}").fetchall()}
    found = raw_columns(part, source_types)
    columns = []
    for name, kusto_type in kusto_types(part.table).items():
        if name in found:
            raw, source_type = found[name], source_types[found[name]]
            portal = kusto_type == "datetime" and source_type == "VARCHAR" and _portal_times(con, part, raw)
            columns.append(Column(name, kusto_type, reading(raw, source_type, kusto_type, portal)))
    return columns


def _portal_times(con: duckdb.DuckDBPyConnection, part: Part, raw: str) -> bool:
    """Whether a text time column's first value is not ISO 8601 (the portal writes its own format)."""
    column = quote(raw)
    first = con.execute(f"SELECT {column} FROM {part.raw} WHERE trim({column}) <> '' LIMIT 1").fetchone()
    if first is None:
        return False
    return con.execute("SELECT TRY_CAST(? AS TIMESTAMPTZ) IS NULL", [first[0]]).fetchone() == (True,)


def create_read_stage(
    con: duckdb.DuckDBPyConnection, part: Part, columns: list[Column], folder: Path | None
) -> tuple[list[Column], list[Path]]:
    """The part's read stage view. With ``folder``, the values are parsed once into Parquet there (a
    value that cannot be read stops it) and the view reads that file. Returns the columns as the view
    holds them and the files it reads after this (none: the export's own)."""
    select = ", ".join(f"{c.reading.sql} AS {quote(c.name)}" for c in columns)
    if folder is None:
        con.execute(f"CREATE VIEW {part.read_stage} AS SELECT {select} FROM {part.raw}")
        return columns, []
    target = folder / part.staged_file
    con.execute(
        f"COPY (SELECT {select} FROM {part.raw}) TO {sql_text(str(target))} (FORMAT parquet, COMPRESSION lz4_raw)"
    )
    con.execute(f"CREATE VIEW {part.read_stage} AS SELECT * FROM read_parquet({sql_text(str(target))})")
    parsed = [Column(c.name, c.kusto_type, Reading(quote(c.name), c.reading.read_type)) for c in columns]
    return parsed, [target]


def absent_columns(table: str, columns: list[Column]) -> tuple[str, ...]:
    """Documented columns of ``table`` the export lacks (read as empty): the diagnosis names those it needs."""
    present = {c.name for c in columns}
    return tuple(name for name in kusto_types(table) if name not in present)


def create_table(con: duckdb.DuckDBPyConnection, part: Part, columns: list[Column]) -> None:
    """The part's table over its read stage: every documented column, cleaned, in its Kusto type."""
    present = {c.name: c for c in columns}
    implied = IMPLIED.get(part.table, {})
    select = []
    for name, kusto_type in kusto_types(part.table).items():
        column = present.get(name)
        if column is not None:
            expression = cleaning(name, kusto_type, column.reading.read_type)
        elif name in implied:
            expression = sql_text(implied[name])
        elif kusto_type == "string":
            expression = "''"
        else:
            expression = f"CAST(NULL AS {KUSTO_TO_DUCKDB.get(kusto_type, 'VARCHAR')})"
        select.append(f"{expression} AS {quote(name)}")
    con.execute(f"CREATE VIEW {quote(part.table)} AS SELECT {', '.join(select)} FROM {part.read_stage}")
