"""The sampling the logs show: how many requests the rows stand for (Application Insights' ``ItemCount``).

Application Insights keeps whole operations at its sampling rate and records in ``ItemCount`` how many
requests each kept one stands for ("Always log errors" keeps every failed one, standing for itself). The
queries weigh every row by it (``kql/modes/appinsights-rows.kql``), so the diagnosis works on the
requests, not the rows; the report says what the rows held and what they stood for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class SamplingSeen:
    """The rows logged and the requests they stand for, per ``ItemCount``."""

    item_counts: tuple[tuple[int, int], ...]
    """(ItemCount, rows logged with it), smallest first."""

    @property
    def logged(self) -> int:
        return sum(rows for _, rows in self.item_counts)

    @property
    def requests(self) -> int:
        return sum(count * rows for count, rows in self.item_counts)

    @property
    def percent(self) -> float:
        """The share of the requests that were logged, in percent (100 with no request)."""
        return 100.0 * self.logged / self.requests if self.requests else 100.0

    @property
    def statement(self) -> str:
        """What was seen, in a sentence.

        >>> print(SamplingSeen(((1, 50), (4, 150))).statement)  # doctest: +NORMALIZE_WHITESPACE
        Application Insights kept 200 rows standing for 650 requests (30.8 %): ItemCount 1 on 25 % of the rows,
        4 on 75 %; every count and percentile is weighted by it.
        """
        if not self.logged:
            return "Application Insights held no request in the window."
        if len(self.item_counts) == 1 and self.item_counts[0][0] == 1:
            return f"Application Insights kept every request ({self.logged:,} rows, ItemCount 1): not sampled."
        shares = ", ".join(
            f"{'ItemCount ' if i == 0 else ''}{count:,} on {100 * rows / self.logged:.3g} %"
            + (" of the rows" if i == 0 else "")
            for i, (count, rows) in enumerate(self.item_counts)
        )
        return (
            f"Application Insights kept {self.logged:,} rows standing for {self.requests:,} requests "
            f"({self.percent:.3g} %): {shares}; every count and percentile is weighted by it."
        )

    def as_dict(self) -> dict[str, Any]:
        """The record as ``findings.json`` carries it."""
        return {
            "rows": self.logged,
            "requests": self.requests,
            "percent": round(self.percent, 3),
            "item_counts": [{"item_count": count, "rows": rows} for count, rows in self.item_counts],
        }


def sampling_seen(result: pd.DataFrame) -> SamplingSeen:
    """The ``sampling`` query's result as a ``SamplingSeen``."""
    rows = result.dropna(subset=["item_count"]).sort_values("item_count")
    return SamplingSeen(tuple((int(c), int(n)) for c, n in zip(rows["item_count"], rows["logged"], strict=True)))
