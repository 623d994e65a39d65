"""What to write instead when the local engine refuses a KQL construct.

duckdb-kql refuses by name what it cannot run; this turns its message into one
line that names the construct and a spelling that runs on Azure and locally.

>>> print(explain_unsupported("unsupported KQL construct 'aggregate:percentiles' (no DuckDB mapping)"))
the local engine cannot run percentiles(): write one percentile(x, N) per percentile, e.g. p50 = percentile(x, 50), p95 = percentile(x, 95)
"""

from __future__ import annotations

import re

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
