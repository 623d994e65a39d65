"""Reference computations in plain pandas that the KQL results are checked against."""

from __future__ import annotations

import numpy as np
import pandas as pd


def nearest_rank(values: pd.Series, percent: float) -> float:
    """The value at rank ceil(n * p / 100): the percentile definition Kusto documents."""
    ordered = np.sort(values.dropna().to_numpy(dtype="float64"))
    return float(ordered[max(int(np.ceil(len(ordered) * percent / 100)) - 1, 0)]) if len(ordered) else float("nan")
