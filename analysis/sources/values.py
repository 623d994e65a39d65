"""How the local engine reads each column of an export: parse it, then keep only values a request can have.

Two steps per column. *Reading* turns what the file holds (text in a CSV, numbers of any width,
a time in the portal's US English format) into a number, a time, a flag or text; a value that
cannot be read at all (``OK`` as a status code, a time in an unknown locale) stops the run with
one line naming the column and the value. *Cleaning* then reads every value a request cannot
have as empty (null): each such kind of value is a ``Rule`` below, and the local source counts
the rows each rule caught (``analysis.sources.quality``). Adding a check is one more rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.errors import EXCERPT_CHARACTERS, excerpt
from analysis.query.schema import KUSTO_TO_DUCKDB

DAY_MS = 86_400_000
#: Columns holding an HTTP status code, in both logging modes.
STATUS_CODES = frozenset({"ResponseCode", "BackendResponseCode", "responseCode_d", "backendResponseCode_d"})
#: Columns holding a duration in milliseconds, in both logging modes.
DURATIONS_MS = frozenset(
    {
        "TotalTime",
        "BackendTime",
        "ClientTime",
        "CacheTime",
        "LastErrorElapsed",
        "DurationMs",
        "backendTime_d",
        "clientTime_d",
        "cacheTime_d",
        "lastError_elapsed_d",
    }
)
#: The Log Analytics portal writes times in the browser's locale; these are the ones read here.
PORTAL_TIME_FORMATS = ("%m/%d/%Y, %I:%M:%S.%g %p", "%m/%d/%Y, %I:%M:%S %p")
_WHOLE = {"int": "INTEGER", "long": "BIGINT"}
_NUMBERS = ("int", "long", "real")
_REAL = frozenset({"DOUBLE"})
INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"})


def quote(name: str) -> str:
    """A SQL identifier.

    >>> quote('TimeGenerated [UTC]'), quote('a"b')
    ('"TimeGenerated [UTC]"', '"a""b"')
    """
    return '"' + name.replace('"', '""') + '"'


def sql_text(text: str) -> str:
    """A SQL string literal.

    >>> sql_text("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Rule:
    """A kind of value no request can have, in the columns it applies to."""

    problem: str
    applies: Callable[[str, str], bool]
    """(column, Kusto type) -> whether the rule checks that column."""
    condition: Callable[[str], str]
    """SQL over the column's read value: true when the value has the problem."""
    read_as: frozenset[str] | None = None
    """The read types that can hold the problem (an integer is always whole and finite); None: any."""
    treatment: str = "read as empty"


RULES: tuple[Rule, ...] = (
    Rule("with no time", lambda c, k: c == "TimeGenerated", lambda v: f"{v} IS NULL", treatment="in no window"),
    Rule("not a finite number", lambda c, k: k in _NUMBERS, lambda v: f"NOT isfinite({v})", _REAL),
    Rule(
        "not a whole number (a status code of 200.7 is not 201)",
        lambda c, k: k in _WHOLE or c in STATUS_CODES,
        lambda v: f"isfinite({v}) AND {v} <> trunc({v})",
        _REAL,
    ),
    Rule("outside the int range", lambda c, k: k == "int", lambda v: f"abs({v}) >= {2**31}", _REAL | {"BIGINT"}),
    Rule("outside the long range", lambda c, k: k == "long", lambda v: f"abs({v}) >= {float(2**63)}", _REAL),
    Rule("a negative duration", lambda c, k: c in DURATIONS_MS, lambda v: f"{v} < 0"),
    Rule(f"a duration over a day ({DAY_MS:,} ms)", lambda c, k: c in DURATIONS_MS, lambda v: f"{v} > {DAY_MS}"),
)
NO_TIME = RULES[0]


def rules_for(column: str, kusto_type: str, read_type: str) -> list[Rule]:
    """The rules that check one column, read as ``read_type``."""
    return [r for r in RULES if r.applies(column, kusto_type) and (r.read_as is None or read_type in r.read_as)]


@dataclass(frozen=True)
class Reading:
    """SQL reading one column of an export, the DuckDB type it reads it as, and whether a value can
    fail to read (the SQL then raises an error naming the column and the value)."""

    sql: str
    read_type: str
    can_fail: bool = False


def reading(raw: str, source_type: str, kusto_type: str, portal_times: bool = False) -> Reading:
    """How to read the export's column ``raw`` (of DuckDB type ``source_type``) for a column of ``kusto_type``.

    Numbers are read as DOUBLE unless the file already holds integers, so that 200.7 stays 200.7
    until cleaning; a non-empty value that cannot be read at all is an ``error()`` naming the
    column and the value. ``portal_times`` tries the portal's time format before ISO 8601 (the
    faster order when the file's times are in it).
    """
    column = quote(raw)
    text = f"CAST({column} AS VARCHAR)"
    if kusto_type == "string":
        return Reading(f"coalesce({text}, '')", "VARCHAR")
    if kusto_type in ("dynamic", "guid"):
        return Reading(f"NULLIF(trim({text}), '')", "VARCHAR")
    if kusto_type == "datetime":
        if source_type.startswith("TIMESTAMP") or source_type == "DATE":
            return Reading(f"CAST({column} AS TIMESTAMP)", "TIMESTAMP")
        formats = "[" + ", ".join(sql_text(f) for f in PORTAL_TIME_FORMATS) + "]"
        ways = [f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)", f"try_strptime({text}, {formats})"]
        convert = f"coalesce({', '.join(reversed(ways) if portal_times else ways)})"
        expected = "a time (ISO 8601, or the portal's US English format such as '2/25/2025, 9:19:25.391 AM')"
        return Reading(_strict(raw, convert, expected), "TIMESTAMP", True)
    if kusto_type == "bool":
        if source_type == "BOOLEAN":
            return Reading(column, "BOOLEAN")
        return Reading(_strict(raw, f"TRY_CAST({column} AS BOOLEAN)", "true or false"), "BOOLEAN", True)
    if kusto_type in _NUMBERS:
        if source_type == _WHOLE.get(kusto_type):
            return Reading(column, source_type)
        if source_type in INTEGER_TYPES:
            return Reading(f"CAST({column} AS BIGINT)", "BIGINT")
        if source_type in ("DOUBLE", "FLOAT") or source_type.startswith("DECIMAL"):
            return Reading(f"CAST({column} AS DOUBLE)", "DOUBLE")
        return Reading(_strict(raw, f"TRY_CAST({column} AS DOUBLE)", "a number"), "DOUBLE", True)
    target = KUSTO_TO_DUCKDB.get(kusto_type, "VARCHAR")
    return Reading(f"CAST({column} AS {target})", target)


def _strict(raw: str, convert: str, expected: str) -> str:
    """``convert``, or an error naming the column and the value (its first characters) when a non-empty
    value does not convert."""
    column = quote(raw)
    empty = f"({column} IS NULL OR trim(CAST({column} AS VARCHAR)) = '')"
    text, most = f"CAST({column} AS VARCHAR)", EXCERPT_CHARACTERS
    excerpted = f"CASE WHEN length({text}) > {most} THEN left({text}, {most}) || '...' ELSE {text} END"
    said = f"{sql_text(f'column {excerpt(raw)}: cannot read ' + chr(39))} || {excerpted}"
    fail = f"error({said} || {sql_text(chr(39) + ' as ' + expected)})"
    return f"coalesce({convert}, CASE WHEN {empty} THEN NULL ELSE {fail} END)"


def cleaning(column: str, kusto_type: str, read_type: str) -> str:
    """SQL giving a column its Kusto type from its read value; a value any rule catches is null."""
    value = quote(column)
    target = KUSTO_TO_DUCKDB.get(kusto_type, "VARCHAR")
    typed = value if target == read_type else f"CAST({value} AS {target})"
    checks = [r.condition(value) for r in rules_for(column, kusto_type, read_type) if r is not NO_TIME]
    if not checks:
        return typed
    return f"CASE WHEN {' OR '.join(f'({c})' for c in checks)} THEN NULL ELSE {typed} END"
