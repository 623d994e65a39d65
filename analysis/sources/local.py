"""Run rendered KQL on a local export through duckdb-kql: Parquet, CSV, JSON lines or a storage archive.

Opening finds the export's files (``files``), makes the table named after the logging mode with
every documented column in its Kusto type (``loading``; CSV and JSON parsed once into Parquet),
surveys the rows (``survey``: the data-quality record, the bulk's time range), then locks the
connection: no file but the export's own, no network, no extension loading, no setting changes,
and the translator writes nothing, so a query reads only the table the kit made. DuckDB reads
Parquet itself on every query, only the columns and row groups the query needs; the prelude's
``GatewayRequests`` of a window is made once for all its queries (``destinations``), and what
duckdb-kql renders slowly is rewritten (``rewrites``).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import duckdb_kql
import pandas as pd

import analysis.sources.appinsights as appinsights
import analysis.sources.destinations as destinations
import analysis.sources.loading as loading
from analysis.errors import KitError
from analysis.query.modes import Mode, check_mode
from analysis.query.pack import mode_prelude
from analysis.query.schema import kusto_types
from analysis.sources.base import Source
from analysis.sources.engine_errors import in_kql_terms
from analysis.sources.files import FORMAT_NAMES, Export, find_export
from analysis.sources.portability import explain_unsupported, resolve_column_ifexists
from analysis.sources.quality import DataQuality, ValueProblem
from analysis.sources.rewrites import rewritten
from analysis.sources.survey import survey
from analysis.sources.values import sql_text

#: How many windows' kept tables a source holds at once (the explorer moves through many windows).
KEPT_WINDOWS = 8


@dataclass
class _Window:
    """What the local source made for one window: tables and views, the last one its ``GatewayRequests``."""

    made: list[tuple[str, str]]
    """(kind, name) of each table or view made, in order."""
    bounds: destinations.Bounds | None
    parent: str | None = None
    """The window whose rows this one filters by time (its definition), if any."""

    @property
    def requests(self) -> str:
        return self.made[-1][1]


@dataclass
class LocalSource(Source):
    """A local export as a DuckDB view named after its Log Analytics table."""

    path: Path
    logging_mode: str
    """The export's logging mode, found from its columns or given: ``mode`` (a field without a default cannot
    take the name of a property the base declares)."""
    connection: duckdb.DuckDBPyConnection = field(repr=False)
    data_quality: DataQuality | None = None
    """What was wrong in the rows (counted when the source opened)."""
    absent_columns: tuple[str, ...] = ()
    """Documented columns of the table the export lacks (read as empty): the diagnosis names those it needs."""
    bulk_range: tuple[pd.Timestamp, pd.Timestamp] | None = None
    """First and last time of the rows in the bulk of the export; None when no row has a time."""
    self_hosted: bool = False
    """The rows are a self-hosted gateway's log lines: its host's or cluster's NAT, not Azure's SNAT, carries
    its backend connections."""
    _windows: dict[str, _Window] = field(default_factory=dict, init=False, repr=False)
    """What was made per window (``analysis.sources.destinations``), by the definition of its
    ``GatewayRequests``: the ``KEPT_WINDOWS`` used last, the latest last."""
    _made: int = field(default=0, init=False, repr=False)
    staging: Path | None = field(default=None, repr=False)
    """The private folder of the parsed copy and DuckDB's spill files; removed on close, or when the
    source is garbage-collected or the interpreter exits without closing it."""

    def __post_init__(self) -> None:
        self._cleanup = weakref.finalize(self, _remove, self.connection, self.staging)

    @property
    def mode(self) -> str:
        return self.logging_mode

    @property
    def tables(self) -> tuple[str, ...]:
        return Mode(self.mode).tables

    @property
    def description(self) -> str:
        gateway = ", self-hosted gateway" if self.self_hosted else ""
        return f"local file {self.path.name} ({', '.join(self.tables)}{gateway})"

    def run(self, kql: str) -> pd.DataFrame:
        """Result of the KQL text, as a DataFrame."""
        try:
            found = destinations.split(kql, mode_prelude(self.mode), destinations.WHOLE)
            if found is not None:
                kql = found.reading(self._window(found))
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
            raise KitError(f"{self.path.name}: {in_kql_terms(_first_line(err))}") from None

    def _refusal(self, err: Exception) -> KitError:
        """A query that reached for another table, a file or a URL."""
        return KitError(
            f"the local engine reads only the export's {'tables' if len(self.tables) > 1 else 'table'} "
            f"{', '.join(self.tables)} (and GatewayRequests), "
            f"no other table, file, URL or extension: {_first_line(err).split('Error: ', 1)[-1]}"
        )

    def _execute(self, kql: str) -> duckdb.DuckDBPyConnection:
        """Translate, rewrite what the translation renders slowly (``rewrites``) and execute."""
        translated = self._translated(kql)
        return self.connection.execute(rewritten(translated), translated.parameters or None)

    def _translated(self, kql: str) -> duckdb_kql.TranslationResult:
        """The KQL as DuckDB SQL (no writes), every value it needs bound."""
        text = resolve_column_ifexists(kql, {c for t in self.tables for c in kusto_types(t)})
        translated = duckdb_kql.to_sql(text, schema=self._tables(), allow_write=False)
        if translated.unbound:
            raise KitError(f"KQL error: no value for {', '.join(translated.unbound)}")
        return translated

    def _window(self, found: destinations.Split) -> str:
        """The table or view holding the window's ``GatewayRequests``, made on first use.

        Application Insights: a table (the join and the weights cost more than a query). Gateway logs: a
        view over the export with the window's destinations evaluated once into a table, so each query
        reads the export once and translates only its own body; a window inside one already made is a
        view of that one's rows in its time range.
        """
        if found.key in self._windows:
            return self._used(found.key).requests
        while len(self._windows) >= KEPT_WINDOWS:
            self._forget(next(iter(self._windows)))
        self._made += 1
        bounds = destinations.bounds(found)
        window = self._windows[found.key] = _Window([], bounds)  # listed first: later translations read its tables
        try:
            parent = self._containing(bounds)
            if parent is not None and bounds is not None:
                window.parent = parent
                start, end = (sql_text(str(value)) for value in (bounds.start, bounds.end))
                within = f'"TimeGenerated" >= TIMESTAMP {start} AND "TimeGenerated" < TIMESTAMP {end}'
                name = f"window_requests_{self._made}"
                requests = self._used(parent).requests
                self.connection.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {requests} WHERE {within}")
                window.made.append(("VIEW", name))
            elif Mode(self.mode).app_insights:
                window.made.append(self._make("TABLE", f"window_requests_{self._made}", found.table_query))
            else:
                inner = destinations.split(found.table_query, mode_prelude(self.mode), destinations.NAME)
                assert inner is not None  # the same prelude, split at an earlier statement
                table = self._make("TABLE", f"window_destinations_{self._made}", inner.table_query)
                window.made.append(table)
                known = [row[0] for row in self.connection.execute(f'SELECT "Authority" FROM {table[1]}').fetchall()]
                faster = functools.partial(destinations.known_authorities, authorities=known)
                window.made.append(self._make("VIEW", f"window_requests_{self._made}", inner.reading(table[1]), faster))
        except BaseException:
            self._forget(found.key)
            raise
        return window.requests

    def _containing(self, bounds: destinations.Bounds | None) -> str | None:
        """A window already made (of gateway logs) that holds the window ``bounds``, by its definition."""
        if bounds is None or Mode(self.mode).app_insights:
            return None
        for key, made in self._windows.items():
            if made.made and made.parent is None and made.bounds is not None and bounds.within(made.bounds):
                return key
        return None

    def _used(self, key: str) -> _Window:
        """The window, moved last (used latest), with the window it filters."""
        window = self._windows[key] = self._windows.pop(key)
        if window.parent is not None:
            self._used(window.parent)
        return window

    def _forget(self, key: str) -> None:
        """Drop what was made for a window, and the windows that filter it."""
        for child in [k for k, w in self._windows.items() if w.parent == key]:
            self._forget(child)
        for kind, name in reversed(self._windows.pop(key).made):
            self.connection.execute(f"DROP {kind} IF EXISTS {name}")

    def _make(self, kind: str, name: str, kql: str, faster: Callable[[str], str] | None = None) -> tuple[str, str]:
        """A temporary table or view ``name`` of the KQL's result, its SQL rewritten and then made ``faster``; a view
        of a text that binds values is a table."""
        translated = self._translated(kql)
        if translated.parameters:
            kind = "TABLE"
        sql = rewritten(translated)
        self.connection.execute(
            f"CREATE TEMP {kind} {name} AS {faster(sql) if faster else sql}", translated.parameters or None
        )
        return kind, name

    def _tables(self) -> dict[str, list[str]]:
        """Table -> columns for the translator: the export's tables and the windows' tables and views."""
        tables = {table: list(kusto_types(table)) for table in self.tables}
        for window in self._windows.values():
            for _, name in window.made:
                tables[name] = [row[0] for row in self.connection.execute(f"DESCRIBE {name}").fetchall()]
        return tables

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last ``TimeGenerated`` of the bulk of the rows (outliers left out), or None."""
        return self.bulk_range

    def close(self) -> None:
        """Close the DuckDB connection and remove the private folder; the export itself was only read."""
        self._cleanup()


def _remove(connection: duckdb.DuckDBPyConnection, folder: Path | None) -> None:
    connection.close()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _first_line(err: Exception) -> str:
    """The first line of an engine message, without its parser's list of expected tokens."""
    line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return line.split(" expecting {")[0]


def _lock(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """From here the connection reads only ``files`` (through the kit's views): no other file, no
    URL, no extension install or load, and no setting can be changed back."""
    con.execute(f"SET allowed_paths = {loading.file_list(files)}")
    for setting in ("enable_external_access", "autoinstall_known_extensions", "autoload_known_extensions"):
        con.execute(f"SET {setting} = false")
    con.execute("SET lock_configuration = true")


def _engine_error(err: duckdb.Error, export: Export) -> KitError:
    """A DuckDB failure while opening, as one line: a value the reading refused names itself."""
    line = _first_line(err)
    if ": cannot read '" in line:
        return KitError(line.split("Error: ", 1)[-1])
    return KitError(f"{export.name}: not a readable {FORMAT_NAMES[export.kind]} file ({line})")


def _parts(
    con: duckdb.DuckDBPyConnection,
    export: Export,
    files: dict[Path, Path],
    headers: list[list[str]],
    mode: str | None,
    shapes: dict[Path, loading.JsonShape],
) -> tuple[Mode, list[tuple[loading.Part, str]]]:
    """The export's logging mode and its tables, each with the SQL reading its files: one table of gateway
    logs, or the Application Insights ones (``shapes``: the JSON files' shapes found so far)."""

    def relation(of: Export) -> str:
        return loading.raw_relation(con, of, [files[f] for f in of.files], shapes)

    def columns(file: Path, header: list[str]) -> list[str]:
        return header or loading.relation_columns(con, relation(replace(export, files=(file,))))

    declared = headers or [[] for _ in export.files]
    if not appinsights.holds_app_insights(columns(export.files[0], declared[0])):
        whole = relation(export)
        detected = loading.gateway_mode(export, loading.relation_columns(con, whole), mode)
        return detected, [(loading.Part(detected.table, export), whole)]
    if mode is not None and not check_mode(mode).app_insights:
        raise KitError(f"{export.name}: holds Application Insights tables, not {Mode(mode).table} rows (mode {mode!r})")
    found = appinsights.parts(export, [columns(f, h) for f, h in zip(export.files, declared, strict=True)])
    return Mode.APP_INSIGHTS, [(part, relation(part.export)) for part in found]


def _read_part(
    con: duckdb.DuckDBPyConnection, part: loading.Part, relation: str, folder: Path
) -> tuple[list[loading.Column], list[Path]]:
    """Make the part's views and table; its columns, and the files its read stage reads (none: the export's)."""
    loading.create_raw(con, part, relation)
    columns = loading.documented_columns(con, part)
    if part.table in appinsights.REQUIRED:
        appinsights.check_required(part, [c.name for c in columns])
    staging = None if part.export.kind == "parquet" else folder
    columns, staged = loading.create_read_stage(con, part, columns, staging)
    loading.create_table(con, part, columns)
    return columns, staged


def open_local(path: str | Path, mode: str | None = None) -> LocalSource:
    """Expose a gateway log or Application Insights export to KQL; every problem with the files is a ``KitError``."""
    export = find_export(path)
    headers = loading.check_headers(export)
    folder = Path(tempfile.mkdtemp(prefix="apim-snat-"))
    con = duckdb_kql.connect()
    try:
        con.execute(f"SET temp_directory = {sql_text(str(folder))}")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        try:
            files = dict(zip(export.files, loading.readable_files(export, folder), strict=True))
            first, shapes = files[export.files[0]], dict[Path, loading.JsonShape]()
            shape = loading.json_shape(con, first, shapes) if export.kind == "json" else None
            self_hosted = shape == loading.JsonShape.SELF_HOSTED
            skipped = loading.unreadable_lines(con, list(files.values())) if self_hosted else 0
            detected, parts = _parts(con, export, files, headers, mode, shapes)
            surveyed, allowed, absent = [], [], list[str]()
            for part, relation in parts:
                columns, staged = _read_part(con, part, relation, folder)
                surveyed.append((part.table, survey(con, part, columns)))
                allowed += staged or [files[f] for f in part.export.files]
                absent += _qualified(detected, part.table, loading.absent_columns(part.table, columns))
            for table in set(detected.tables) - {part.table for part, _ in parts}:
                loading.create_empty_table(con, table)
                absent += _qualified(detected, table, tuple(kusto_types(table)))
        except duckdb.Error as err:
            raise _engine_error(err, export) from None
        _lock(con, allowed)
    except BaseException:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    quality, bulk = _combined(detected, surveyed)
    if skipped:
        cut = ValueProblem("log line", "not JSON (writes interleaved on stdout, a line cut short)", skipped, "skipped")
        quality = replace(quality, problems=(*quality.problems, cut))
    return LocalSource(
        path=Path(export.spec),
        logging_mode=detected,
        connection=con,
        data_quality=quality,
        absent_columns=tuple(absent),
        bulk_range=bulk,
        self_hosted=self_hosted,
        staging=folder,
    )


def _qualified(mode: Mode, table: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    """Columns as ``absent_columns`` names them: ``Table.Column`` where the mode reads several tables."""
    return tuple(f"{table}.{c}" for c in columns) if len(mode.tables) > 1 else columns


def _combined(
    mode: Mode, surveyed: list[tuple[str, tuple[DataQuality, tuple[pd.Timestamp, pd.Timestamp] | None]]]
) -> tuple[DataQuality, tuple[pd.Timestamp, pd.Timestamp] | None]:
    """One data-quality record and time range for the export: the rows of every table, each problem under
    its qualified column, the outlying rows and time range of the requests."""
    if len(surveyed) == 1:
        return surveyed[0][1]
    requests = dict(surveyed)[mode.table]
    problems = tuple(
        replace(problem, column=f"{table}.{problem.column}")
        for table, (quality, _) in surveyed
        for problem in quality.problems
    )
    rows = sum(quality.rows for _, (quality, _) in surveyed)
    return DataQuality(rows, problems, requests[0].outlying), requests[1]
