"""The prelude's table of destinations, evaluated once per window by the local engine.

Every packaged query renders the same ``let GatewayDestinations = ...;`` (``kql/modes/destinations.kql``):
each distinct scheme://authority of the window's rows with its destination, a dozen rows. The
service evaluates it per query, and so would DuckDB, reading the whole window once more per query.
The local source instead evaluates it once per window, keeps the rows as a table, and runs each
query with the statement bound to that table: the same text up to one ``let``, the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import duckdb_kql

NAME = "GatewayDestinations"


@cache
def _span(prelude: str) -> tuple[int, int] | None:
    """Where the ``let GatewayDestinations = ...;`` statement is in the prelude, from the parser."""
    parsed = duckdb_kql.parse(prelude + "\nprint 1")
    if not parsed.ok:
        return None
    for statement in parsed.tree.query().statement():
        start, stop = statement.start.start, statement.stop.stop + 1
        if re.match(rf"let\s+{NAME}\s*=", prelude[start:stop]):
            return start, prelude.index(";", stop) + 1
    return None


def _reads(line: str, text: str) -> bool:
    """Whether ``line`` may matter to ``text``: anything but a ``let`` of a name ``text`` never uses."""
    match = re.fullmatch(r"let\s+(\w+)\s*=.*;", line.strip())
    return match is None or re.search(rf"\b{match.group(1)}\b", text) is not None


@dataclass(frozen=True)
class Split:
    """A rendered query whose destinations table can be evaluated apart and reused."""

    key: str
    """The table's whole definition: the parameters it reads and the statements up to it."""
    before: str
    after: str

    @property
    def table_query(self) -> str:
        """KQL giving the destinations table alone."""
        return f"{self.key}\n{NAME}"

    def reading(self, table: str) -> str:
        """The query with the destinations statement bound to ``table``."""
        return f"{self.before}let {NAME} = {table};{self.after}"


def split(kql: str, prelude: str) -> Split | None:
    """The query's destinations statement and what it depends on; None when it has none."""
    at, span = kql.find(prelude), _span(prelude)
    if at < 0 or span is None:
        return None
    start, stop = span
    definition = prelude[:stop]
    lines = [line for line in kql[:at].splitlines() if line.strip() and not line.strip().startswith("//")]
    key = "\n".join([*(line for line in lines if _reads(line, definition)), definition])
    return Split(key=key, before=kql[: at + start], after=kql[at + stop :])
