"""The report's data-quality section, from the findings document (pure: dict in, Markdown out)."""

from __future__ import annotations

from typing import Any


def markdown(record: dict[str, Any] | None) -> str:
    """The report's data-quality section from ``findings["data_quality"]``; every word is the kit's own.

    >>> print(markdown({"rows": 10, "problems": [], "outlying_rows": None}))
    All 10 rows had a time and plausible values.
    """
    if record is None:
        return "The service aggregated the rows (an Azure source): their values were not read one by one here."
    cut = [f"- **Cut**: {c['detail']}" for c in record.get("cut", [])]
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
    if not record.get("values_read", True):
        values = "The service aggregated the rows (an Azure source): their values were not read one by one here."
    elif not lines:
        values = f"All {record['rows']:,} rows had a time and plausible values."
    else:
        values = "Values no request can have were counted and read as empty, never used as they were:\n\n" + "\n".join(
            lines
        )
    return "\n".join(cut) + "\n\n" + values if cut else values
