"""What was wrong with the rows a source read, and what the kit did about it.

Logs carry values no request can have: no time, a negative or absurd duration, a status code
of 200.7. Such a value is never used as if it were right (a negative BackendTime would pull a
p95 down and make a slow backend look healthy; 200.7 is not 201) and never dropped without a
word: the source counts each kind per column, reads the value as empty (null), and the count
goes into ``findings.json`` and the report. Rows dated far outside the bulk of the export (one
row in 2225) are counted too and left out of the default window.

Data can also be cut (``analysis.investigation.cuts`` finds how); the record keeps each cut with
its reason, whatever the source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from analysis.times import iso

#: Row counts at which a service stops handing out rows: an export of exactly this size was cut.
ROW_CAPS = {
    30_000: "the Log Analytics portal exports at most 30,000 rows",
    500_000: "the query API returns at most 500,000 rows",
}


class CutKind(StrEnum):
    """How the data was cut; the findings.json strings."""

    ROW_CAP = "row_cap"
    STARTS_INSIDE_EPISODE = "starts_inside_episode"
    ENDS_INSIDE_EPISODE = "ends_inside_episode"


@dataclass(frozen=True)
class Cut:
    """One way the data lacks part of the incident, and why that is known."""

    kind: CutKind
    detail: str


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
    cut: tuple[Cut, ...] = ()
    values_read: bool = True
    """False for a source whose rows the service aggregated (Azure): only the cuts are known then."""

    @property
    def clean(self) -> bool:
        return not self.problems and self.outlying is None and not self.cut

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
        return found + [cut.detail for cut in self.cut]

    def as_dict(self) -> dict[str, Any]:
        """The record as ``findings.json`` carries it."""
        outlying = None
        if self.outlying is not None:
            outlying = {k: iso(v) if isinstance(v, pd.Timestamp) else v for k, v in asdict(self.outlying).items()}
        return {
            "rows": self.rows,
            "problems": [asdict(p) for p in self.problems],
            "outlying_rows": outlying,
            "cut": [{"kind": c.kind.value, "detail": c.detail} for c in self.cut],
            "values_read": self.values_read,
        }

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
            cut=tuple(Cut(CutKind(c["kind"]), str(c["detail"])) for c in record.get("cut", [])),
            values_read=bool(record.get("values_read", True)),
            outlying=None
            if outlying is None
            else OutlyingRows(
                rows=int(outlying["rows"]),
                **{k: pd.Timestamp(str(v).removesuffix("Z")) for k, v in outlying.items() if k != "rows"},
            ),
        )
