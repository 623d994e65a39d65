"""Run rendered KQL on a local export through duckdb-kql: Parquet, CSV, JSON lines or a storage archive.

The export is exposed under its Log Analytics table name as a view with every documented column
in its Kusto type (``analysis.sources.values`` reads and cleans each one); columns the export
lacks are typed nulls, so the queries run on any export that has the few columns they need.
DuckDB reads Parquet itself on every query, with only the columns and row groups the query needs.
CSV and JSON are parsed once, when the source opens, into a typed Parquet file in a private
folder, so each query reads columns instead of parsing text again.

While opening, one pass over the rows counts the values no request can have (the data-quality
record) and finds the time range of the bulk of the export. Then the connection is locked: no
file but the export's own, no network, no extension loading, no setting changes, no writes, so
a query can read only the table the kit made.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import duckdb_kql
import pandas as pd

from analysis.data_quality import DataQuality, OutlyingRows, ValueProblem
from analysis.errors import KitError
from analysis.modes import Mode, check_mode
from analysis.queries import mode_prelude
from analysis.schema import KUSTO_TO_DUCKDB, kusto_types
from analysis.sources import archive, destinations
from analysis.sources.files import FORMAT_NAMES, Export, find_export
from analysis.sources.portability import explain_unsupported, resolve_column_ifexists
from analysis.sources.values import cleaning, quote, reading, rules_for, sql_text

# Without these a file cannot say anything about backend destinations.
REQUIRED_COLUMNS = {
    Mode.RESOURCE: ("TimeGenerated", "BackendUrl", "ResponseCode"),
    Mode.AZURE_DIAGNOSTICS: ("TimeGenerated", "backendUrl_s", "responseCode_d"),
}
_PORTAL_SUFFIX = " [UTC]"
#: The bulk of an export lies between these quantiles of TimeGenerated; a row further than the
#: bulk's own span (at least an hour) outside it is an outlier, left out of the default window.
BULK_QUANTILES = (0.001, 0.999)
MIN_MARGIN = pd.Timedelta(hours=1)
_STAGED = "rows.parquet"


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


@dataclass
class LocalSource:
    """A local export as a DuckDB view named after its Log Analytics table."""

    path: Path
    mode: str
    connection: duckdb.DuckDBPyConnection = field(repr=False)
    data_quality: DataQuality | None = None
    """What was wrong in the rows (counted when the source opened)."""
    bulk_range: tuple[pd.Timestamp, pd.Timestamp] | None = None
    """First and last time of the rows in the bulk of the export; None when no row has a time."""
    _destination_tables: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    """Destination table per window (``analysis.sources.destinations``), by its definition."""
    staging: Path | None = field(default=None, repr=False)
    """The private folder of the parsed copy and DuckDB's spill files; removed on close."""
    open_s: float = 0.0

    @property
    def table(self) -> str:
        return Mode(self.mode).table

    @property
    def description(self) -> str:
        return f"local file {self.path} ({self.table})"

    def run(self, kql: str) -> pd.DataFrame:
        """Result of the KQL text, as a DataFrame."""
        try:
            found = destinations.split(kql, mode_prelude(self.mode))
            if found is not None:
                kql = found.reading(self._destinations(found))
            return self._execute(kql).df()
        except duckdb_kql.KqlSyntaxError as err:
            raise KitError(f"KQL syntax error: {_first_line(err)}") from None
        except duckdb_kql.KqlUnsupportedError as err:
            raise KitError(explain_unsupported(str(err))) from None
        except duckdb_kql.KqlSchemaError as err:
            known = "unknown table" in str(err)
            raise (self._refusal(err) if known else KitError(f"KQL error: {_first_line(err)}")) from None
        except duckdb_kql.KqlError as err:
            raise KitError(f"KQL error: {_first_line(err)}") from None
        except (duckdb.PermissionException, duckdb.CatalogException) as err:
            raise self._refusal(err) from None
        except duckdb.Error as err:
            raise KitError(f"{self.path.name}: {_first_line(err)}") from None

    def _refusal(self, err: Exception) -> KitError:
        """A query that reached for another table, a file or a URL."""
        return KitError(
            f"the local engine reads only the export's table {self.table} (and GatewayRequests), "
            f"no other table, file, URL or extension: {_first_line(err).split('Error: ', 1)[-1]}"
        )

    def _execute(self, kql: str, prefix: str = "") -> duckdb.DuckDBPyConnection:
        """Translate (no writes) and execute; ``prefix`` goes before the SQL (``CREATE TABLE x AS``)."""
        text = resolve_column_ifexists(kql, schema(self.mode))
        translated = duckdb_kql.to_sql(text, schema=self._tables(), allow_write=False)
        if translated.unbound:
            raise KitError(f"KQL error: no value for {', '.join(translated.unbound)}")
        return self.connection.execute(f"{prefix}{translated}", translated.parameters or None)

    def _destinations(self, found: destinations.Split) -> str:
        """The table holding the prelude's destinations for one window, evaluated on first use."""
        if found.key not in self._destination_tables:
            name = f"window_destinations_{len(self._destination_tables) + 1}"
            self._execute(found.table_query, f"CREATE TEMP TABLE {name} AS ")
            self._destination_tables[found.key] = name
        return self._destination_tables[found.key]

    def _tables(self) -> dict[str, list[str]]:
        """Table -> columns for the translator: the export's table and the destination tables made."""
        tables = {self.table: list(schema(self.mode))}
        for name in self._destination_tables.values():
            tables[name] = [row[0] for row in self.connection.execute(f"DESCRIBE {name}").fetchall()]
        return tables

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last ``TimeGenerated`` of the bulk of the rows (outliers left out), or None."""
        return self.bulk_range

    def close(self) -> None:
        """Close the DuckDB connection and remove the private folder; the export itself was only read."""
        self.connection.close()
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


def _first_line(err: Exception) -> str:
    """The first line of an engine message, without its parser's list of expected tokens."""
    line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return line.split(" expecting {")[0]


# ---------------------------------------------------------------------------------------------
# Opening: find the files, read them as the table, count what is wrong, lock the connection
# ---------------------------------------------------------------------------------------------


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


def _check_duplicates(names: list[str], where: str) -> None:
    """A column named twice (also once with the portal's `` [UTC]`` suffix) is an error naming it."""
    seen: set[str] = set()
    for name in names:
        key = name.removesuffix(_PORTAL_SUFFIX)
        if key in seen:
            raise KitError(f"{where}: column {key!r} appears twice; keep one and try again")
        seen.add(key)


def _file_list(files: tuple[Path, ...] | list[Path]) -> str:
    return "[" + ", ".join(sql_text(str(f)) for f in files) + "]"


def _gunzipped(export: Export, folder: Path) -> list[Path]:
    """Parquet cannot be read compressed: gzipped files are unpacked into ``folder`` first."""
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


def _raw_relation(con: duckdb.DuckDBPyConnection, export: Export, readable: list[Path]) -> str:
    """SQL reading every file of the export with the engine's own reader; archives mapped to columns."""
    files = _file_list(readable)
    if export.kind == "parquet":
        return f"SELECT * FROM read_parquet({files}, union_by_name = true)"
    if export.kind == "csv":
        return f"SELECT * FROM read_csv({files}, all_varchar = true, header = true, union_by_name = true)"
    first = _file_list(export.files[:1])
    top = {row[0]: row[1] for row in con.sql(f"DESCRIBE SELECT * FROM read_json({first})").fetchall()}
    if not archive.is_archive(top):
        return f"SELECT * FROM read_json({files}, union_by_name = true)"
    columns = "{" + ", ".join(f"{sql_text(k)}: {sql_text(v)}" for k, v in archive.json_columns().items()) + "}"
    fields = ", ".join(f"{archive.column_sql(c)} AS {quote(c)}" for c in archive.FIELDS)
    return f"SELECT {fields} FROM read_json({files}, format = 'newline_delimited', columns = {columns})"


@dataclass(frozen=True)
class _Column:
    """One documented column as the export has it: its SQL when read, and the type it is read as."""

    name: str
    kusto_type: str
    read_sql: str
    read_type: str


def _columns(con: duckdb.DuckDBPyConnection, export: Export, mode: str | None) -> tuple[Mode, list[_Column]]:
    """The logging mode and, for each documented column the export has, how to read it."""
    described = con.sql("DESCRIBE raw").fetchall()
    source_types = {row[0]: row[1] for row in described}
    # The portal's "Export to CSV" names datetime columns "TimeGenerated [UTC]".
    renamed = {raw.removesuffix(_PORTAL_SUFFIX): raw for raw in source_types}
    detected = detect_mode(list(renamed))
    if mode is not None and check_mode(mode) != detected:
        raise KitError(f"{export.name}: holds {detected.table} rows, not {Mode(mode).table} (mode {mode!r})")
    columns = []
    for name, kusto_type in schema(detected).items():
        if name in renamed:
            raw, source_type = renamed[name], source_types[renamed[name]]
            portal = kusto_type == "datetime" and source_type == "VARCHAR" and _portal_times(con, raw)
            sql, read_type = reading(raw, source_type, kusto_type, portal)
            columns.append(_Column(name, kusto_type, sql, read_type))
    return detected, columns


def _portal_times(con: duckdb.DuckDBPyConnection, raw: str) -> bool:
    """Whether a text time column's first value is not ISO 8601 (the portal writes its own format)."""
    column = quote(raw)
    first = con.execute(f"SELECT {column} FROM raw WHERE trim({column}) <> '' LIMIT 1").fetchone()
    return first is not None and con.execute("SELECT TRY_CAST(? AS TIMESTAMPTZ) IS NULL", [first[0]]).fetchone() == (
        True,
    )


def _stage(con: duckdb.DuckDBPyConnection, columns: list[_Column], folder: Path) -> Path:
    """Parse a text format once into typed Parquet; a value that cannot be read stops it here."""
    target = folder / _STAGED
    select = ", ".join(f"{c.read_sql} AS {quote(c.name)}" for c in columns)
    con.execute(f"COPY (SELECT {select} FROM raw) TO {sql_text(str(target))} (FORMAT parquet, COMPRESSION lz4_raw)")
    return target


def _view(table: Mode, columns: list[_Column]) -> str:
    """The table's view over the read values: every documented column, cleaned, in its Kusto type."""
    present = {c.name: c for c in columns}
    select = []
    for name, kusto_type in schema(table).items():
        column = present.get(name)
        if column is not None:
            expression = cleaning(name, kusto_type, column.read_type)
        elif kusto_type == "string":
            expression = "''"
        else:
            expression = f"CAST(NULL AS {KUSTO_TO_DUCKDB.get(kusto_type, 'VARCHAR')})"
        select.append(f"{expression} AS {quote(name)}")
    return f"CREATE VIEW {table.table} AS SELECT {', '.join(select)} FROM read_stage"


def _survey(con: duckdb.DuckDBPyConnection, columns: list[_Column]) -> tuple[DataQuality, tuple | None]:
    """One pass counting each rule's rows per column (and reading every value, so an unreadable one
    stops the run here), then one over the times: the bulk's range and the rows far outside it."""
    checks, select = [], ["count(*)", f"approx_quantile(epoch_us({quote('TimeGenerated')}), {list(BULK_QUANTILES)})"]
    for column in columns:
        earlier: list[str] = []  # a value is counted under the first rule it breaks
        for rule in rules_for(column.name, column.kusto_type, column.read_type):
            condition = rule.condition(quote(column.name))
            select.append(f"count(*) FILTER (WHERE ({condition}){''.join(f' AND NOT ({e})' for e in earlier)})")
            checks.append((column.name, rule))
            earlier.append(condition)
    select += [f"count({quote(c.name)})" for c in columns]
    row = con.execute(f"SELECT {', '.join(select)} FROM read_stage").fetchone()
    assert row is not None
    rows, quantiles, counts = row[0], row[1], row[2 : 2 + len(checks)]
    problems = tuple(
        ValueProblem(name, rule.problem, count, rule.treatment)
        for (name, rule), count in zip(checks, counts, strict=True)
        if count
    )
    if quantiles is None or quantiles[0] is None:
        return DataQuality(rows, problems), None
    low, high = (pd.Timestamp(value, unit="us") for value in quantiles)
    margin = max(high - low, MIN_MARGIN)
    time = quote("TimeGenerated")
    inside = f"{time} BETWEEN $1 AND $2"
    bounds = con.execute(
        f"SELECT min({time}) FILTER (WHERE {inside}), max({time}) FILTER (WHERE {inside}), "
        f"count({time}) FILTER (WHERE NOT {inside}), min({time}) FILTER (WHERE NOT {inside}), "
        f"max({time}) FILTER (WHERE NOT {inside}) FROM read_stage",
        [low - margin, high + margin],
    ).fetchone()
    assert bounds is not None
    first, last, outside, outside_first, outside_last = bounds
    bulk = (pd.Timestamp(first), pd.Timestamp(last))
    outlying = (
        OutlyingRows(outside, pd.Timestamp(outside_first), pd.Timestamp(outside_last), *bulk) if outside else None
    )
    return DataQuality(rows, problems, outlying), bulk


def _lock(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """From here the connection reads only ``files`` (through the kit's views): no other file, no
    URL, no extension install or load, and no setting can be changed back."""
    con.execute(f"SET allowed_paths = {_file_list(files)}")
    for setting in ("enable_external_access", "autoinstall_known_extensions", "autoload_known_extensions"):
        con.execute(f"SET {setting} = false")
    con.execute("SET lock_configuration = true")


def _engine_error(err: duckdb.Error, export: Export) -> KitError:
    """A DuckDB failure while opening, as one line: a value the reading refused names itself."""
    line = _first_line(err)
    if ": cannot read '" in line:
        return KitError(line.split("Error: ", 1)[-1])
    return KitError(f"{export.name}: not a readable {FORMAT_NAMES[export.kind]} file ({line})")


def open_local(path: str | Path, mode: str | None = None) -> LocalSource:
    """Expose a gateway log export to KQL; every problem with the files is a ``KitError``."""
    began = time.perf_counter()
    export = find_export(path)
    for names, file in zip(_headers(export), export.files, strict=False):
        _check_duplicates(names, file.name)
    folder = Path(tempfile.mkdtemp(prefix="apim-snat-"))
    con = duckdb_kql.connect()
    try:
        con.execute(f"SET temp_directory = {sql_text(str(folder))}")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        try:
            readable = _gunzipped(export, folder) if export.kind == "parquet" else list(export.files)
            con.execute(f"CREATE VIEW raw AS {_raw_relation(con, export, readable)}")
            table, columns = _columns(con, export, mode)
            if export.kind == "parquet":
                select = ", ".join(f"{c.read_sql} AS {quote(c.name)}" for c in columns)
                con.execute(f"CREATE VIEW read_stage AS SELECT {select} FROM raw")
            else:
                staged = _stage(con, columns, folder)
                columns = [_Column(c.name, c.kusto_type, quote(c.name), c.read_type) for c in columns]
                con.execute(f"CREATE VIEW read_stage AS SELECT * FROM read_parquet({sql_text(str(staged))})")
                readable = [staged]
            con.execute(_view(table, columns))
            quality, bulk = _survey(con, columns)
        except duckdb.Error as err:
            raise _engine_error(err, export) from None
        _lock(con, readable)
    except BaseException:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return LocalSource(
        path=Path(export.spec),
        mode=table,
        connection=con,
        data_quality=quality,
        bulk_range=bulk,
        staging=folder,
        open_s=time.perf_counter() - began,
    )
