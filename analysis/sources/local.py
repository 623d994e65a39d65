"""Run rendered KQL on a local export (Parquet, CSV, JSON lines) through duckdb-kql.

DuckDB reads the file itself; the file is exposed under its Log Analytics table
name as a view with every documented column in its Kusto type. Columns the
export lacks (a KQL ``project`` keeps only what it names) are typed nulls, so
the packaged queries run on any export that has the few columns they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import duckdb_kql
import pandas as pd

from analysis.errors import KitError
from analysis.modes import Mode, check_mode
from analysis.schema import KUSTO_TO_DUCKDB, kusto_types
from analysis.sources.portability import explain_unsupported, resolve_column_ifexists

# Without these a file cannot say anything about backend destinations.
REQUIRED_COLUMNS = {
    Mode.RESOURCE: ("TimeGenerated", "BackendUrl", "ResponseCode"),
    Mode.AZURE_DIAGNOSTICS: ("TimeGenerated", "backendUrl_s", "responseCode_d"),
}
# A legacy export projected without these columns still holds gateway rows (only those carry backendUrl_s):
# the mode's query selects them by these values, so they are implied rather than empty.
IMPLIED = {Mode.AZURE_DIAGNOSTICS: {"Category": "GatewayLogs", "ResourceProvider": "MICROSOFT.APIMANAGEMENT"}}
_READERS = {
    ".parquet": ("read_parquet", "Parquet"),
    ".csv": ("read_csv", "CSV"),
    ".jsonl": ("read_json", "JSON lines"),
    ".ndjson": ("read_json", "JSON lines"),
    ".json": ("read_json", "JSON"),
}
# The Log Analytics portal writes times in the browser's locale; these are the ones read here.
PORTAL_TIME_FORMATS = ("%m/%d/%Y, %I:%M:%S.%g %p", "%m/%d/%Y, %I:%M:%S %p")
_PORTAL_SUFFIX = " [UTC]"


def schema(mode: str) -> dict[str, str]:
    """Column name -> Kusto type, as documented for the mode's table."""
    return kusto_types(Mode(mode).table)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
    absent_columns: tuple[str, ...] = ()
    """Documented columns of the table the file lacks (read as empty): the diagnosis names those it needs."""

    @property
    def table(self) -> str:
        return Mode(self.mode).table

    @property
    def description(self) -> str:
        return f"local file {self.path} ({self.table})"

    def run(self, kql: str) -> pd.DataFrame:
        """Result of the KQL text, as a DataFrame."""
        try:
            return duckdb_kql.df(self.connection, resolve_column_ifexists(kql, schema(self.mode)))
        except duckdb_kql.KqlSyntaxError as err:
            raise KitError(f"KQL syntax error: {str(err).splitlines()[0]}") from None
        except duckdb_kql.KqlUnsupportedError as err:
            raise KitError(explain_unsupported(str(err))) from None
        except duckdb_kql.KqlError as err:
            raise KitError(f"KQL error: {str(err).splitlines()[0]}") from None
        except duckdb.Error as err:
            raise KitError(f"{self.path.name}: {str(err).splitlines()[0]}") from None

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last ``TimeGenerated`` in the file, or None when it holds no rows."""
        row = self.connection.execute(f"SELECT min(TimeGenerated), max(TimeGenerated) FROM {self.table}").fetchone()
        if row is None or row[0] is None:
            return None
        first, last = row
        return pd.Timestamp(first), pd.Timestamp(last)

    def close(self) -> None:
        """Close the DuckDB connection; the file itself was only read."""
        self.connection.close()


def _reader(path: Path) -> tuple[str, str]:
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise KitError(f"{path.name}: unknown file type {suffix or '(none)'}; use .parquet, .csv, .jsonl or .json")
    return _READERS[suffix]


def _column_expression(con: duckdb.DuckDBPyConnection, raw: str, source_type: str, kusto_type: str) -> str:
    """SQL that reads one column in its Kusto type, after checking every value converts."""
    target = KUSTO_TO_DUCKDB.get(kusto_type, "VARCHAR")
    column = _quote(raw)
    if target == "VARCHAR":
        # Kusto strings are never null; an empty dynamic value is null.
        if kusto_type == "string":
            return f"coalesce(CAST({column} AS VARCHAR), '')"
        return f"NULLIF(trim(CAST({column} AS VARCHAR)), '')"
    if source_type == target:
        return column
    if target == "TIMESTAMP":
        if source_type.startswith("TIMESTAMP"):
            return f"CAST({column} AS TIMESTAMP)"
        formats = "[" + ", ".join(_sql_string(f) for f in PORTAL_TIME_FORMATS) + "]"
        text = f"CAST({column} AS VARCHAR)"
        convert = f"coalesce(CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP), try_strptime({text}, {formats}))"
        expected = "a time (ISO 8601, or the portal's US English format such as '2/25/2025, 9:19:25.391 AM')"
    elif target == "BOOLEAN":
        convert = f"TRY_CAST({column} AS BOOLEAN)"
        expected = "true or false"
    elif target in ("INTEGER", "BIGINT", "DOUBLE"):
        # Log Analytics writes whole numbers of real columns as 200 or 200.0; both are fine.
        convert = (
            f"TRY_CAST(TRY_CAST({column} AS DOUBLE) AS {target})"
            if target != "DOUBLE"
            else f"TRY_CAST({column} AS DOUBLE)"
        )
        expected = "a number"
    else:
        return f"CAST({column} AS {target})"
    empty = f"({column} IS NULL OR trim(CAST({column} AS VARCHAR)) = '')"
    bad = con.execute(
        f"SELECT CAST({column} AS VARCHAR) FROM src WHERE NOT {empty} AND {convert} IS NULL LIMIT 1"
    ).fetchone()
    if bad is not None:
        raise KitError(f"column {raw!r}: cannot read {bad[0]!r} as {expected}")
    return f"CASE WHEN {empty} THEN NULL ELSE {convert} END"


def open_local(path: str | Path, mode: str | None = None) -> LocalSource:
    """Expose a gateway log export to KQL; every problem with the file is a ``KitError``."""
    path = Path(path)
    if not path.is_file():
        raise KitError(f"{path}: no such file")
    function, kind = _reader(path)
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as err:
        raise KitError(f"{path}: cannot read ({err.strerror})") from None
    con = duckdb_kql.connect()
    options = ", all_varchar = true, header = true" if function == "read_csv" else ""
    try:
        con.sql(f"CREATE VIEW src AS SELECT * FROM {function}({_sql_string(str(path))}{options})")
        described = con.sql("DESCRIBE src").fetchall()
    except duckdb.Error:
        raise KitError(f"{path.name}: not a readable {kind} file") from None
    source_types = {row[0]: row[1] for row in described}
    # The portal's "Export to CSV" names datetime columns "TimeGenerated [UTC]".
    renamed = {raw.removesuffix(_PORTAL_SUFFIX): raw for raw in source_types}
    detected = detect_mode(list(renamed))
    if mode is not None and check_mode(mode) != detected:
        raise KitError(f"{path.name}: holds {detected.table} rows, not {Mode(mode).table} (mode {mode!r})")
    select = []
    for name, kusto_type in schema(detected).items():
        if name in renamed:
            raw = renamed[name]
            expression = _column_expression(con, raw, source_types[raw], kusto_type)
        elif name in IMPLIED.get(detected, {}):
            expression = _sql_string(IMPLIED[detected][name])
        elif kusto_type == "string":
            expression = "''"
        else:
            expression = f"CAST(NULL AS {KUSTO_TO_DUCKDB.get(kusto_type, 'VARCHAR')})"
        select.append(f"{expression} AS {_quote(name)}")
    con.sql(f"CREATE VIEW {detected.table} AS SELECT {', '.join(select)} FROM src")
    absent = tuple(name for name in schema(detected) if name not in renamed)
    return LocalSource(path=path, mode=detected, connection=con, absent_columns=absent)
