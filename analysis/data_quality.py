"""What was wrong with the rows a source read, and what the kit did about it.

Logs carry values no request can have: no time, a negative or absurd duration, a status code
of 200.7. Such a value is never used as if it were right (a negative BackendTime would pull a
p95 down and make a slow backend look healthy; 200.7 is not 201) and never dropped without a
word: the source counts each kind per column, reads the value as empty (null), and the count
goes into ``findings.json`` and the report. Rows dated far outside the bulk of the export (one
row in 2225) are counted too and left out of the default window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from analysis.times import iso


@dataclass(frozen=True)
class ValueProblem:
    """One kind of bad value in one column: how many rows had it and how the kit read them."""

    column: str
    problem: str
    rows: int
    treatment: str


@dataclass(frozen=True)
class OutlyingRows:
    """Rows dated far outside the time range that holds the bulk of the export."""

    rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    bulk_start: pd.Timestamp
    bulk_end: pd.Timestamp


@dataclass(frozen=True)
class DataQuality:
    """What a source found wrong in its rows; empty when nothing was."""

    rows: int
    problems: tuple[ValueProblem, ...] = ()
    outlying: OutlyingRows | None = None

    @property
    def clean(self) -> bool:
        return not self.problems and self.outlying is None

    def lines(self) -> list[str]:
        """One sentence per finding, for a person.

        >>> quality = DataQuality(1000, (ValueProblem("BackendTime", "negative", 3, "read as empty"),))
        >>> quality.lines()
        ['BackendTime: 3 of 1,000 rows negative (read as empty)']
        """
        found = [f"{p.column}: {p.rows:,} of {self.rows:,} rows {p.problem} ({p.treatment})" for p in self.problems]
        if self.outlying is not None:
            o = self.outlying
            found.append(
                f"{o.rows:,} rows dated {iso(o.first)} to {iso(o.last)}, far outside the bulk of the export "
                f"({iso(o.bulk_start)} to {iso(o.bulk_end)}): left out of the default window"
            )
        return found

    def as_dict(self) -> dict[str, Any]:
        """The record as ``findings.json`` carries it."""
        outlying = None
        if self.outlying is not None:
            outlying = {k: iso(v) if isinstance(v, pd.Timestamp) else v for k, v in asdict(self.outlying).items()}
        return {"rows": self.rows, "problems": [asdict(p) for p in self.problems], "outlying_rows": outlying}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DataQuality:
        """The record back from ``as_dict`` (kept beside cached results, so a replay still reports it).

        >>> quality = DataQuality(10, (ValueProblem("BackendTime", "negative", 3, "read as empty"),))
        >>> DataQuality.from_dict(quality.as_dict()) == quality
        True
        """
        outlying = record.get("outlying_rows")
        return cls(
            rows=int(record["rows"]),
            problems=tuple(ValueProblem(**problem) for problem in record.get("problems", [])),
            outlying=None
            if outlying is None
            else OutlyingRows(
                rows=int(outlying["rows"]),
                **{k: pd.Timestamp(str(v).removesuffix("Z")) for k, v in outlying.items() if k != "rows"},
            ),
        )


def markdown(record: dict[str, Any] | None) -> str:
    """The report's data-quality section from ``findings["data_quality"]``; every word is the kit's own.

    >>> print(markdown({"rows": 10, "problems": [], "outlying_rows": None}))
    All 10 rows had a time and plausible values.
    """
    if record is None:
        return "The service aggregated the rows (an Azure source): their values were not read one by one here."
    lines = [
        f"- `{p['column']}`: {p['rows']:,} of {record['rows']:,} rows {p['problem']} ({p['treatment']})"
        for p in record["problems"]
    ]
    outlying = record["outlying_rows"]
    if outlying is not None:
        lines.append(
            f"- {outlying['rows']:,} rows dated {outlying['first']} to {outlying['last']}, far outside the bulk of the "
            f"export ({outlying['bulk_start']} to {outlying['bulk_end']}): left out of the default window"
        )
    if not lines:
        return f"All {record['rows']:,} rows had a time and plausible values."
    return "Values no request can have were counted and read as empty, never used as they were:\n\n" + "\n".join(lines)
