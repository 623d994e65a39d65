"""The local engine's refusals in KQL terms: a person typed KQL, so no DuckDB SQL message reaches them.

DuckDB runs the translated query and reports mistakes in its own words (``Binder Error``,
``VARCHAR``, ``FROM clause``); this rewrites the common ones as Kusto would say them, with Kusto's
type names, and names the mistake generically when it does not know it.

>>> print(in_kql_terms('x.parquet: Binder Error: Referenced column "Foo" not found in FROM clause!'))
unknown column 'Foo'
>>> print(in_kql_terms("Conversion Error: Could not convert string 'x' to INT32"))
cannot convert 'x' to int
"""

from __future__ import annotations

import re
from collections.abc import Callable

# DuckDB type -> Kusto type, for the words of a message.
_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "long",
    "INT64": "long",
    "INTEGER": "int",
    "INT32": "int",
    "DOUBLE": "real",
    "FLOAT": "real",
    "DECIMAL": "decimal",
    "BOOLEAN": "bool",
    "TIMESTAMP": "datetime",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "INTERVAL": "timespan",
    "UUID": "guid",
    "JSON": "dynamic",
}
_ENGINE_PREFIX = re.compile(r"^(?:[^:]*: )?(?:[A-Z][A-Za-z]* )+Error: ", re.DOTALL)


def _kusto_type(name: str) -> str:
    return _TYPES.get(name.upper().split("(")[0].strip(), name.lower())


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r'Referenced column "([^"]+)" not found'), lambda m: f"unknown column '{m.group(1)}'"),
    (
        re.compile(r"Table with name (\S+) does not exist"),
        lambda m: f"unknown table '{m.group(1)}': the local engine reads only the export's table and GatewayRequests",
    ),
    (
        re.compile(r"Could not convert string '([^']*)' to (\w+)"),
        lambda m: f"cannot convert '{m.group(1)}' to {_kusto_type(m.group(2))}",
    ),
    (
        re.compile(r"Cannot compare values of type (\w[\w ]*?) and type (\w[\w ]*?)(?: -|$)"),
        lambda m: f"cannot compare a {_kusto_type(m.group(1))} with a {_kusto_type(m.group(2))}",
    ),
    (
        re.compile(r"No function matches the given name and argument types '(\w+)\(([^)]*)\)'"),
        lambda m: f"{m.group(1)}() cannot take ({', '.join(_kusto_type(t) for t in m.group(2).split(', ') if t)})",
    ),
    (re.compile(r"Division by zero"), lambda m: "division by zero"),
]


def in_kql_terms(message: str) -> str:
    """One engine message as a person writing KQL would understand it."""
    for pattern, explain in _RULES:
        match = pattern.search(message)
        if match:
            return explain(match)
    stripped = _ENGINE_PREFIX.sub("", message, count=1)
    if stripped != message:
        return f"the local engine could not run this KQL ({stripped.splitlines()[0].rstrip('!.')})"
    return message


def for_the_writer(message: str, rendered: str, body: str) -> str:
    """A message about the rendered text, with its ``at LINE:COLUMN`` counted in the text the user wrote.

    >>> for_the_writer("KQL syntax error at 3:4: x", "let a = 1;\\nlet b = 2;\\nT | y", "T | y")
    'KQL syntax error at 1:4: x'
    """
    # The parser lists every token it could have taken; past a handful that is no help to a person.
    message = re.sub(
        r"expecting \{([^}]*)\}", lambda m: m.group(0) if m.group(1).count(",") < 6 else "", message
    ).rstrip(": ")
    start = rendered.find(body)
    if start < 0:
        return message
    offset = rendered.count("\n", 0, start)
    return re.sub(r"\bat (\d+):(\d+)", lambda m: f"at {max(int(m.group(1)) - offset, 1)}:{m.group(2)}", message)
