"""What to write instead when the local engine refuses a KQL construct.

duckdb-kql refuses by name what it cannot run; this turns its message into one
line that names the construct and a spelling that runs on Azure and locally.

>>> print(explain_unsupported("unsupported KQL construct 'aggregate:percentiles' (no DuckDB mapping)"))
... # doctest: +NORMALIZE_WHITESPACE
the local engine cannot run percentiles(): write one percentile(x, N) per percentile,
e.g. p50 = percentile(x, 50), p95 = percentile(x, 95)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

import duckdb_kql

_PORTABLE = {
    "percentiles()": "write one percentile(x, N) per percentile, e.g. p50 = percentile(x, 50), p95 = percentile(x, 95)",
    "make-series": "use summarize ... by bin(TimeGenerated, 1m) and fill empty bins in the analysis",
    "prev()": "compare with the previous bin in the analysis, or self-join on the bin shifted by one",
    "next()": "compare with the next bin in the analysis, or self-join on the bin shifted by one",
    "row_cumsum()": "aggregate per bin in KQL and take the running sum in the analysis",
    "let function": "inline the function body, or use a plain let of a table expression",
    "column_ifexists()": "the local engine gives every documented column, so name the column directly",
    "evaluate": "plugins run only on Azure; aggregate with summarize instead",
}


def _key(name: str) -> str:
    return re.sub(r"operator$|[^a-z]", "", name.lower())


def explain_unsupported(message: str) -> str:
    """One line: which construct, and a portable way to write it."""
    match = re.search(r"construct '([^']+)'", message)
    construct = match.group(1) if match else "a construct"
    name = "let function" if construct.startswith("let function") else construct.split(":")[-1]
    for label, advice in _PORTABLE.items():
        if _key(label) == _key(name):
            return f"the local engine cannot run {label}: {advice}"
    return f"the local engine cannot run {construct}; rewrite it with summarize/extend/where, which run everywhere"


def _calls(node: Any, name: str) -> Iterator[Any]:
    """Every call of function ``name`` in a duckdb-kql parse tree."""
    if type(node).__name__ == "NamedFunctionCallExpressionContext" and node.getChild(0).getText() == name:
        yield node
    for child in getattr(node, "children", None) or []:
        yield from _calls(child, name)


def resolve_column_ifexists(kql: str, columns: Collection[str]) -> str:
    """Bind ``column_ifexists("name", default)`` against known columns, as Kusto does.

    The local engine has no ``column_ifexists``; the local source knows every
    column of its table, so each call becomes the column or its default.

    >>> kql = 'T | project a = column_ifexists("x_s", ""), b = column_ifexists("y_d", real(null))'
    >>> resolve_column_ifexists(kql, {"x_s"})
    "T | project a = ['x_s'], b = (real(null))"
    """
    if "column_ifexists" not in kql:
        return kql  # parsing costs more than many a query on the local engine
    parsed = duckdb_kql.parse(kql)
    if not parsed.ok:
        return kql
    replacements = []
    for call in _calls(parsed.tree, "column_ifexists"):
        arguments = [child for child in call.children if type(child).__name__ == "ArgumentExpressionContext"]
        if len(arguments) != 2:
            continue
        name = re.fullmatch(r"""(["'])(\w+)\1""", arguments[0].getText())
        if name is None:
            continue
        default = kql[arguments[1].start.start : arguments[1].stop.stop + 1]
        text = f"['{name.group(2)}']" if name.group(2) in columns else f"({default})"
        replacements.append((call.start.start, call.stop.stop + 1, text))
    for begin, end, text in sorted(replacements, reverse=True):
        kql = kql[:begin] + text + kql[end:]
    return kql
