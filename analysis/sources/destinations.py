"""The prelude's tables made once per window by the local engine.

Every packaged query renders its logging mode's prelude (``kql/modes``) in front of its body: the
statements that make ``GatewayRequests``, ending with ``let GatewayDestinations = ...;`` (each
distinct scheme://authority of the window's rows with its destination, a dozen rows) and ``let
GatewayRequests = ...;``. The service evaluates them per query, and so would DuckDB, reading the
whole window once more per query for the destinations; duckdb-kql would parse and translate the
prelude per query too, which costs more than a query on the sample. The local source instead makes
``GatewayRequests`` once per window and runs each query with the prelude replaced by one ``let``
bound to it: the same answer. Gateway logs make it a view over the export and the window's
destinations, evaluated once into a table (``NAME``); in the Application Insights modes it is a
table (``WHOLE``): joining the three tables and repeating each row by its weight costs more than any
query that reads the result.

Once the window's destinations are known, its view finds each row's authority among them with
prefix tests (``known_authorities``) rather than the regular expression the prelude asks for: the
same authority, a third of the work on the day of the benchmark.

A gateway log prelude keeps the rows of its window and normalises each row alone, so the
``GatewayRequests`` of a window inside one already made are that one's rows in the narrower time
range (``Bounds``): the explorer's windows and the load drivers' spans inside the report's window
are a filter, not another reading of the export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import duckdb_kql
import pandas as pd

from analysis.sources.values import sql_text

NAME = "GatewayDestinations"
#: The prelude's last table: every row of the window, normalised, with its destination.
WHOLE = "GatewayRequests"


@cache
def _span(prelude: str, name: str) -> tuple[int, int] | None:
    """Where the ``let <name> = ...;`` statement is in the prelude, from the parser."""
    parsed = duckdb_kql.parse(prelude + "\nprint 1")
    if not parsed.ok:
        return None
    for statement in parsed.tree.query().statement():
        start, stop = statement.start.start, statement.stop.stop + 1
        if re.match(rf"let\s+{name}\s*=", prelude[start:stop]):
            return start, prelude.index(";", stop) + 1
    return None


@cache
def _words(text: str) -> frozenset[str]:
    """The tokens of KQL text as the parser reads them: comments left out, a string one token."""
    parsed = duckdb_kql.parse(text + "\nprint 1")
    if not parsed.ok:
        return frozenset(re.findall(r"\w+", text))  # a superset: every word, comments included
    found, nodes = set(), [parsed.tree]
    while nodes:
        node = nodes.pop()
        children = getattr(node, "children", None)
        if children:
            nodes += children
        else:
            found.add(node.getText())
    return frozenset(found)


def _needed(head: str, definition: str) -> list[str] | None:
    """The statements of ``head`` (what the query says before the prelude) that ``definition`` may
    read: every one but a ``let`` of a name it never uses. None when the parser cannot split them."""
    parsed = duckdb_kql.parse(head + "\nprint 1")
    if not parsed.ok:
        return None
    kept = []
    for statement in parsed.tree.query().statement()[:-1]:
        text = head[statement.start.start : statement.stop.stop + 1]
        name = re.match(r"let\s+(\w+)\s*=", text)
        if name is None or name.group(1) in _words(definition):
            kept.append(text + ";")
    return kept


@dataclass(frozen=True)
class Split:
    """A rendered query whose table ``name`` can be evaluated apart and reused."""

    name: str
    key: str
    """The table's whole definition: the parameters it reads and the statements up to it."""
    before: str
    after: str
    lines: int = 0
    """Line breaks of the statements replaced, kept so a message's ``LINE:COLUMN`` still points into the query."""

    @property
    def table_query(self) -> str:
        """KQL giving the table alone."""
        return f"{self.key}\n{self.name}"

    def reading(self, table: str) -> str:
        """The query with the table's statement bound to ``table``."""
        return f"{self.before}let {self.name} = {table};{chr(10) * self.lines}{self.after}"


def split(kql: str, prelude: str, name: str = NAME) -> Split | None:
    """The query's statement of table ``name`` and what it depends on; None when it has none.

    Bound to a table, ``WHOLE`` replaces every statement of the prelude up to it (nothing after it
    reads them); ``NAME`` replaces its own statement, which the statements after it read.
    """
    at, span = kql.find(prelude), _span(prelude, name)
    if at < 0 or span is None:
        return None
    start, stop = span
    definition = prelude[:stop]
    needed = _needed(kql[:at], definition)
    if needed is None:
        return None
    first = 0 if name == WHOLE else start
    return Split(
        name=name,
        key="\n".join([*needed, definition]),
        before=kql[: at + first],
        after=kql[at + stop :],
        lines=prelude.count("\n", first, stop),
    )


_BOUND = re.compile(r"let (start|end) = datetime\(([0-9T:.-]+)Z\);")


@dataclass(frozen=True)
class Bounds:
    """A definition's window, when its ``start`` and ``end`` are datetime literals, and the rest of it."""

    start: pd.Timestamp
    end: pd.Timestamp
    rest: str
    """The definition without the two bounds: windows with the same rest differ only in their time range."""

    def within(self, other: Bounds) -> bool:
        """Whether this window lies inside ``other``, the rest of the definition the same."""
        return self.rest == other.rest and other.start <= self.start and self.end <= other.end


def bounds(found: Split) -> Bounds | None:
    """The window of the split's definition, or None when its bounds are not both datetime literals."""
    lines = found.key.split("\n")
    values = {}
    for line in lines:
        match = _BOUND.fullmatch(line.strip())
        if match:
            values[match.group(1)] = pd.Timestamp(match.group(2))
    if set(values) != {"start", "end"}:
        return None
    rest = "\n".join(line for line in lines if not _BOUND.fullmatch(line.strip()))
    return Bounds(values["start"], values["end"], rest)


#: The prelude's authority of a row (``extract(@"^[^:/?#]+://[^/?#]*", 0, BackendUrl)``) as duckdb-kql renders it.
AUTHORITY_SQL = "regexp_extract(\"BackendUrl\", '^[^:/?#]+://[^/?#]*', CAST(CAST(0 AS BIGINT) AS INTEGER))"
#: Up to this many destinations, a row's authority is found by prefix tests; beyond, by the expression.
MOST_KNOWN = 64


def known_authorities(sql: str, authorities: list[str]) -> str:
    """The SQL with the prelude's per-row authority found among ``authorities`` (the window's) first.

    The regular expression takes the scheme, ``://`` and everything up to the first ``/``, ``?`` or
    ``#``; so a URL's authority is ``A`` exactly when the URL starts with ``A`` followed by one of
    those or by nothing. Each known authority is tested so, by its bytes; a URL matching none (none in
    the window the authorities come from) is read by the regular expression as before.
    """
    known = [authority for authority in authorities if authority]
    if not known or len(known) > MOST_KNOWN or AUTHORITY_SQL not in sql:
        return sql
    url, branches = '"BackendUrl"', []
    for authority in known:
        whole = sql_text(authority)
        ends = " OR ".join(f"starts_with({url}, {sql_text(authority + end)})" for end in "/?#")
        branches.append(f"WHEN starts_with({url}, {whole}) AND ({url} = {whole} OR {ends}) THEN {whole}")
    return sql.replace(AUTHORITY_SQL, f"CASE {' '.join(branches)} ELSE {AUTHORITY_SQL} END")
