"""An Application Insights export: which of its files hold which table, under which column names.

APIM's Application Insights logger writes a request per frontend call, a dependency per backend
call and an exception per failed request. People export each table from the portal (CSV, the
table's name in the file name as they save it), or as Parquet or JSON lines; a folder of such files
is one export. A file's table is the one its name names (``AppRequests``, ``requests``, ...) or,
when it names none, the one its columns tell; the classic tables' column names (``timestamp``,
``operation_Id``, ``customDimensions``) are read as the workspace tables' (``schema.CLASSIC_COLUMNS``),
so the local engine always holds ``AppRequests``, ``AppDependencies`` and ``AppExceptions``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from analysis.errors import KitError
from analysis.query.modes import Mode
from analysis.query.schema import APP_DEPENDENCIES, APP_EXCEPTIONS, APP_REQUESTS, CLASSIC_COLUMNS
from analysis.sources.files import Export
from analysis.sources.loading import PORTAL_SUFFIX, Part

TABLES = Mode.APP_INSIGHTS.tables
#: Workspace table -> its classic name.
CLASSIC_TABLES = dict(zip(TABLES, Mode.APP_INSIGHTS_CLASSIC.tables, strict=True))
#: Columns no gateway log has, in either spelling: a file with one holds Application Insights rows.
APP_INSIGHTS_COLUMNS = frozenset(
    {"ItemCount", "itemCount", "ResultCode", "resultCode", "operation_Id", "customDimensions", "ExceptionType"}
)
#: Columns only dependencies, or only exceptions, have (either spelling); any other App Insights file holds requests.
_ONLY_IN = {
    APP_DEPENDENCIES: frozenset({"Target", "target", "DependencyType", "Data", "data"}),
    APP_EXCEPTIONS: frozenset({"ExceptionType", "ProblemId", "problemId", "OuterMessage", "outerMessage", "outerType"}),
}
#: Without these (workspace names) the rows of a table cannot be joined to their request or placed in a window.
REQUIRED = {
    APP_REQUESTS: ("TimeGenerated", "OperationId", "ResultCode"),
    APP_DEPENDENCIES: ("TimeGenerated", "OperationId"),
    APP_EXCEPTIONS: ("TimeGenerated", "OperationId", "ExceptionType"),
}
#: Tables an export must hold: without backend calls there are no destinations to judge.
NEEDED = (APP_REQUESTS, APP_DEPENDENCIES)


def named_table(file: Path) -> str | None:
    """The Application Insights table a file's name names (workspace or classic name), if one.

    >>> named_table(Path("AppDependencies.csv")), named_table(Path("incident-requests.parquet"))
    ('AppDependencies', 'AppRequests')
    >>> named_table(Path("query_data.csv")) is None, named_table(Path("gatewayrequests.csv")) is None
    (True, True)
    """
    words = re.split(r"[^A-Za-z]+", file.name.split(".")[0])
    for table in TABLES:
        if any(word.lower() in (table.lower(), CLASSIC_TABLES[table]) for word in words):
            return table
    return None


def holds_app_insights(columns: Sequence[str]) -> bool:
    """Whether a file's columns are those of an Application Insights table, not of gateway logs.

    >>> holds_app_insights(["TimeGenerated [UTC]", "OperationId", "ItemCount"]), holds_app_insights(["BackendUrl"])
    (True, False)
    """
    return bool(APP_INSIGHTS_COLUMNS & {c.removesuffix(PORTAL_SUFFIX) for c in columns})


def table_of(file: Path, columns: Sequence[str]) -> str:
    """The table a file of an Application Insights export holds: the one its name names, else its columns'."""
    named = named_table(file)
    if named is not None:
        return named
    present = {c.removesuffix(PORTAL_SUFFIX) for c in columns}
    for table, only in _ONLY_IN.items():
        if only & present:
            return table
    return APP_REQUESTS


def classic_names(table: str, columns: Sequence[str]) -> dict[str, str]:
    """Classic column name -> workspace name, for a file of ``table`` written with the classic names."""
    present = {c.removesuffix(PORTAL_SUFFIX) for c in columns}
    classic = CLASSIC_COLUMNS[table]
    return {name: classic[name] for name in present if name in classic and classic[name] not in present}


def parts(export: Export, columns: Sequence[Sequence[str]]) -> list[Part]:
    """The export's files grouped by table, one ``Part`` per table it holds (``columns``: each file's).

    An export without requests or without dependencies is a ``KitError`` naming what it lacks.
    """
    grouped: dict[str, list[tuple[Path, Sequence[str]]]] = {}
    for file, header in zip(export.files, columns, strict=True):
        grouped.setdefault(table_of(file, header), []).append((file, header))
    lacking = [table for table in NEEDED if table not in grouped]
    if lacking:
        raise KitError(
            f"{export.name}: an Application Insights export needs the requests and their dependencies; "
            f"no file of {' or '.join(lacking)} (name each file after its table, e.g. {lacking[0]}.csv)"
        )
    found = []
    for table in TABLES:
        if table not in grouped:
            continue
        files = [file for file, _ in grouped[table]]
        renamed: dict[str, str] = {}
        for _, header in grouped[table]:
            renamed |= classic_names(table, header)
        found.append(Part(table, replace(export, files=tuple(files)), renamed))
    return found


def check_required(part: Part, present: Sequence[str]) -> None:
    """A table lacking a column its rows need to be joined or placed in time is a ``KitError`` naming it."""
    missing = [c for c in REQUIRED[part.table] if c not in present]
    if missing:
        raise KitError(f"{part.export.name}: {part.table} rows without {', '.join(missing)} cannot be read")
