"""Faster SQL for what duckdb-kql 1.1.2 renders slowly: the local engine's only change to a translation.

The KQL text is the same for Azure and the local engine; duckdb-kql translates it to DuckDB SQL,
and this module rewrites a few of the constructs it renders correctly but slowly, each into SQL
that gives the same answer (``tests/sources/test_rewrites.py`` checks each one against the plain
translation, on the test exports and on generated frames). Each rewrite is one entry of
``REWRITES``: a small function from SQL text to SQL text, which leaves any text it does not
recognise exactly as it was. They read the SQL as text (quoted names and strings are skipped,
parentheses matched), so a change in how duckdb-kql renders a construct turns a rewrite off
rather than wrong; the tests notice that it no longer applies.

- ``merged_percentiles``: ``percentile(x, 50)``, ``percentile(x, 95)`` and ``percentile(x, 99)``
  in one ``summarize`` become one ``quantile_disc(x, [0.5, 0.95, 0.99])`` read three times;
  DuckDB keeps one state (one copy of the values) where it kept one per percentile.
- ``bucketed_bins``: ``bin(t, 1m)`` on a datetime becomes ``time_bucket`` from the Unix epoch,
  instead of arithmetic on the epoch seconds as a double.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class _Call:
    """One call ``name(...)`` in the SQL: where it starts, its parentheses and its top-level arguments."""

    start: int
    open: int
    close: int
    arguments: tuple[tuple[int, int], ...]


class _Sql:
    """SQL text with its quoted spans and matched parentheses found once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.close: dict[int, int] = {}
        self.parent: dict[int, int] = {}
        self.quoted: list[tuple[int, int]] = []
        stack: list[int] = []
        at = 0
        while at < len(text):
            char = text[at]
            if char in "'\"":
                end = _quote_end(text, at)
                self.quoted.append((at, end))
                at = end
                continue
            if char == "(":
                self.parent[at] = stack[-1] if stack else -1
                stack.append(at)
            elif char == ")" and stack:
                self.close[stack.pop()] = at
            at += 1

    @cached_property
    def _quote_starts(self) -> list[int]:
        return [start for start, _ in self.quoted]

    def in_quotes(self, at: int) -> bool:
        from bisect import bisect_right

        index = bisect_right(self._quote_starts, at) - 1
        return index >= 0 and self.quoted[index][0] < at < self.quoted[index][1]

    def calls(self, name: str) -> Iterator[_Call]:
        """Every call of function ``name`` outside quotes, in order."""
        for match in re.finditer(rf"(?<![\w.\"]){re.escape(name)}\(", self.text):
            opening = match.end() - 1
            if self.in_quotes(match.start()) or opening not in self.close:
                continue
            yield _Call(match.start(), opening, self.close[opening], self._arguments(opening))

    def _arguments(self, opening: int) -> tuple[tuple[int, int], ...]:
        """The spans of the top-level comma-separated arguments inside the parentheses at ``opening``."""
        spans, start, at, end = [], opening + 1, opening + 1, self.close[opening]
        while at < end:
            char = self.text[at]
            if char in "'\"":
                at = _quote_end(self.text, at)
                continue
            if char == "(":
                at = self.close[at] + 1
                continue
            if char == ",":
                spans.append((start, at))
                start = at + 1
            at += 1
        spans.append((start, end))
        return tuple(spans)

    def argument(self, span: tuple[int, int]) -> str:
        return self.text[span[0] : span[1]].strip()


def _quote_end(text: str, at: int) -> int:
    """The index just after the quoted string or name starting at ``at`` (a doubled quote stays inside)."""
    quote, at = text[at], at + 1
    while at < len(text):
        if text[at] == quote:
            if text[at + 1 : at + 2] == quote:
                at += 2
                continue
            return at + 1
        at += 1
    return len(text)


def _replaced(text: str, replacements: list[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, new) span replaced; a span inside an earlier one is left as it was
    (the outer one's new text already holds it)."""
    kept: list[tuple[int, int, str]] = []
    for start, end, new in sorted(replacements):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end, new))
    for start, end, new in reversed(kept):
        text = text[:start] + new + text[end:]
    return text


def merged_percentiles(sql: str) -> str:
    """Several ``quantile_disc(x, q)`` over the same ``x`` in one select list as one list quantile.

    duckdb-kql renders each ``percentile(x, p)`` as ``quantile_disc(x, p / 100.0)``, and DuckDB keeps
    a state per call, each holding every value of ``x`` of its group. ``quantile_disc(x, [q1, q2])``
    computes both from one state, and DuckDB computes identical aggregates of a select list once,
    so each call becomes the same list quantile read at its own position.
    """
    parsed = _Sql(sql)
    groups: dict[tuple[int, str], list[tuple[_Call, str]]] = {}
    for call in parsed.calls("quantile_disc"):
        if len(call.arguments) != 2 or re.match(r"\s*(FILTER|OVER)\b", sql[call.close + 1 :]):
            continue
        value, fraction = (parsed.argument(span) for span in call.arguments)
        if fraction.startswith("["):
            continue
        groups.setdefault((parsed.parent[call.open], value), []).append((call, fraction))
    replacements = []
    for (_, value), calls in groups.items():
        fractions = list(dict.fromkeys(fraction for _, fraction in calls))
        if len(fractions) < 2:
            continue
        listed = f"quantile_disc({value}, [{', '.join(fractions)}])"
        for call, fraction in calls:
            replacements.append((call.start, call.close + 1, f"{listed}[{fractions.index(fraction) + 1}]"))
    return _replaced(sql, replacements)


#: A bin size the epoch arithmetic computes exactly: a positive whole number of seconds, minutes,
#: hours or days, as duckdb-kql renders a timespan literal or a ``let`` of one.
_WHOLE_INTERVAL = re.compile(r"INTERVAL '[1-9][0-9]*[smhd]'")
_AT_UTC = " AT TIME ZONE 'UTC'"


def bucketed_bins(sql: str) -> str:
    """``bin(datetime, timespan)`` as ``time_bucket`` from the Unix epoch.

    duckdb-kql renders it as ``to_timestamp(floor(epoch(t) / epoch(r)) * epoch(r)) AT TIME ZONE
    'UTC'``: per row a conversion to seconds as a double, a division, a multiplication and a
    conversion back. ``time_bucket(r, t, TIMESTAMP '1970-01-01')`` bins on the integer microseconds
    from the same origin. Only whole-second sizes are rewritten: those the double arithmetic gets
    exactly right, so both give the same minute for every time Kusto can hold up to the year 2242
    (beyond it a double no longer holds a microsecond, and only ``time_bucket`` stays exact).
    """
    parsed = _Sql(sql)
    replacements = []
    for call in parsed.calls("to_timestamp"):
        if not sql.startswith(_AT_UTC, call.close + 1) or len(call.arguments) != 1:
            continue
        found = _binned(parsed, call)
        if found is not None:
            value, size = found
            bucket = f"time_bucket({size}, CAST({value} AS TIMESTAMP), TIMESTAMP '1970-01-01 00:00:00')"
            replacements.append((call.start, call.close + 1 + len(_AT_UTC), bucket))
    result = _replaced(sql, replacements)
    return result if result == sql else bucketed_bins(result)  # a bin inside a bin's value is rewritten next


def _binned(parsed: _Sql, call: _Call) -> tuple[str, str] | None:
    """The value and the bin size of ``to_timestamp(floor(epoch(VALUE) / epoch(SIZE)) * epoch(SIZE))``."""
    text, start = parsed.text, call.open + 1
    if not text.startswith("floor(epoch(", start):
        return None
    floor_open, epoch_open = start + len("floor"), start + len("floor(epoch")
    floor_close, epoch_close = parsed.close[floor_open], parsed.close[epoch_open]
    divided = re.fullmatch(r" / epoch\((INTERVAL '[^']*')\)", text[epoch_close + 1 : floor_close])
    multiplied = re.fullmatch(r" \* epoch\((INTERVAL '[^']*')\)", text[floor_close + 1 : call.close])
    if divided is None or multiplied is None or divided.group(1) != multiplied.group(1):
        return None
    size = divided.group(1)
    if not _WHOLE_INTERVAL.fullmatch(size):
        return None
    return text[epoch_open + 1 : epoch_close], size


#: Each rewrite, in the order they apply.
REWRITES: tuple[Callable[[str], str], ...] = (merged_percentiles, bucketed_bins)


def rewritten(sql: str) -> str:
    """The SQL with every rewrite applied."""
    for rewrite in REWRITES:
        sql = rewrite(sql)
    return sql
