"""What the local source learns about an export when it opens: the data-quality record and the
time range of the bulk of the rows.

One pass counts, per column, the rows each value rule catches (``values.RULES``; a value is counted
under the first rule it breaks), estimates the 0.1 % and 99.9 % quantiles of ``TimeGenerated`` and
finds its first and last value. The bulk lies between the quantiles; a row further outside than the
bulk's own span (an hour at least) is an outlier: counted, reported, and left out of the default
window, so one row dated 2225 cannot stretch a two-hour export into two centuries. Only when the
first or the last time is such an outlier does a second pass over the times alone find the bulk's
first and last row and the outliers.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from analysis.sources.loading import Column, Part
from analysis.sources.quality import DataQuality, OutlyingRows, ValueProblem
from analysis.sources.values import quote, rules_for

BULK_QUANTILES = (0.001, 0.999)
MIN_MARGIN = pd.Timedelta(hours=1)
_TIME = quote("TimeGenerated")


def survey(
    con: duckdb.DuckDBPyConnection, part: Part, columns: list[Column]
) -> tuple[DataQuality, tuple[pd.Timestamp, pd.Timestamp] | None]:
    """The data-quality record of the part's read stage and its bulk time range (None when no row has a time).

    Columns whose reading can fail are read whole here, so that a value that cannot be read stops
    the opening with its one line rather than a later query.
    """
    checks, select = [], ["count(*)", f"approx_quantile(epoch_us({_TIME}), {list(BULK_QUANTILES)})"]
    select += [f"min({_TIME})", f"max({_TIME})"]
    for column in columns:
        earlier: list[str] = []
        for rule in rules_for(column.name, column.kusto_type, column.reading.read_type):
            condition = rule.condition(quote(column.name))
            select.append(f"count(*) FILTER (WHERE ({condition}){''.join(f' AND NOT ({e})' for e in earlier)})")
            checks.append((column.name, rule))
            earlier.append(condition)
    select += [f"count({quote(c.name)})" for c in columns if c.reading.can_fail]
    row = con.execute(f"SELECT {', '.join(select)} FROM {part.read_stage}").fetchone()
    assert row is not None
    rows, quantiles, first, last, counts = row[0], row[1], row[2], row[3], row[4 : 4 + len(checks)]
    found = zip(checks, counts, strict=True)
    problems = tuple(ValueProblem(name, rule.problem, n, rule.treatment) for (name, rule), n in found if n)
    if quantiles is None or quantiles[0] is None:
        return DataQuality(rows, problems), None
    low, high = (pd.Timestamp(value, unit="us") for value in quantiles)
    margin = max(high - low, MIN_MARGIN)
    if low - margin <= pd.Timestamp(first) and pd.Timestamp(last) <= high + margin:
        return DataQuality(rows, problems), (pd.Timestamp(first), pd.Timestamp(last))
    inside = f"{_TIME} BETWEEN $1 AND $2"
    bounds = con.execute(
        f"SELECT min({_TIME}) FILTER (WHERE {inside}), max({_TIME}) FILTER (WHERE {inside}), "
        f"count({_TIME}) FILTER (WHERE NOT {inside}), min({_TIME}) FILTER (WHERE NOT {inside}), "
        f"max({_TIME}) FILTER (WHERE NOT {inside}) FROM {part.read_stage}",
        [low - margin, high + margin],
    ).fetchone()
    assert bounds is not None
    first, last, outside, outside_first, outside_last = bounds
    bulk = (pd.Timestamp(first), pd.Timestamp(last))
    return DataQuality(
        rows, problems, OutlyingRows(outside, pd.Timestamp(outside_first), pd.Timestamp(outside_last), *bulk)
    ), bulk
