"""What both Azure sources share: Kusto types to DataFrames, sign-in, one-line errors.

Log Analytics and Azure Data Explorer both answer in Kusto's type system. Kusto's own
pandas helper (``azure.kusto.data.helpers.dataframe_from_result_table``) gives
timezone-aware nanosecond times, ``Int32``/``Int64``/``Float64`` extension types and
null-able strings; the rest of the kit expects what the local engine returns, so the
conversion is done here, once for both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.errors import KitError
from analysis.queries import MODES

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

SIGN_IN_HINT = "run 'az login' or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def default_credential() -> TokenCredential:
    """``DefaultAzureCredential``: ``az login``, a managed identity or the ``AZURE_*`` variables."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def first_line(text: object) -> str:
    """The first non-empty line of an error text: a ``KitError`` is one line, SDK messages are not."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def check_mode(mode: str | None) -> str:
    """The logging mode to query, ``resource`` when not given; an unknown one is a ``KitError``."""
    mode = mode or "resource"
    if mode not in MODES:
        raise KitError(f"unknown logging mode {mode!r} (use one of: {', '.join(MODES)})")
    return mode


def check_server_timeout(seconds: float, maximum: int) -> int:
    """Whole seconds within the service's limit; outside it a ``KitError`` rather than a silent clamp."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 1 <= seconds <= maximum:
        raise KitError(f"server timeout must be between 1 and {maximum} seconds, not {seconds!r}")
    return int(seconds)


def _timespan(value: Any) -> pd.Timedelta:
    if value is None:
        return pd.NaT
    if isinstance(value, (int, float)):
        # Kusto counts timespans in ticks of 100 ns.
        return pd.Timedelta(int(value) * 100, unit="ns")
    match = _TIMESPAN.match(str(value))
    if match is None:
        raise ValueError(value)
    sign, days, hours, minutes, secs = match.groups()
    delta = pd.Timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(secs))
    return -delta if sign else delta


def _real(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _SPECIAL_FLOATS[value] if value in _SPECIAL_FLOATS else float(value)
    return float(value)


def _column(kusto_type: str, values: list[Any]) -> pd.Series:
    kind = kusto_type.lower()
    if kind in ("datetime", "date"):
        times = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        return times.dt.tz_convert(None).astype("datetime64[us]")
    if kind in ("long", "int", "int32", "int64"):
        ints = pd.array(values, dtype="Int64")
        return pd.Series(ints if ints.isna().any() else ints.astype("int64"))
    if kind in ("real", "double", "decimal"):
        return pd.Series(np.array([_real(v) for v in values], dtype="float64"))
    if kind in ("bool", "boolean"):
        if any(v is None for v in values):
            return pd.Series(pd.array([None if v is None else bool(v) for v in values], dtype="boolean"))
        return pd.Series(np.array([bool(v) for v in values], dtype=bool))
    if kind in ("timespan", "time"):
        return pd.Series(pd.to_timedelta([_timespan(v) for v in values])).astype("timedelta64[us]")
    if kind == "string":
        # Kusto strings are never null: a missing one is the empty string, as in the local engine.
        return pd.Series(["" if v is None else str(v) for v in values], dtype="str")
    if kind == "dynamic":
        # Log Analytics sends dynamic values as JSON text, Kusto v2 as JSON: keep the text form.
        return pd.Series([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], dtype="str")
    if kind in ("guid", "uuid", "uniqueid"):
        return pd.Series([None if v is None else str(v) for v in values], dtype="str")
    return pd.Series(values, dtype=object)


def frame_from_rows(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with Kusto types mapped as the kit expects: naive UTC ``datetime64[us]``,
    ``int64`` (``Int64`` when nulls), ``float64``, ``str`` and ``bool``.

    Both Azure sources answer in Kusto types, so one conversion keeps their frames
    identical to what the local engine returns for the same query.
    """
    columns = {}
    for index, (name, kusto_type) in enumerate(zip(names, types)):
        values = [row[index] for row in rows]
        try:
            columns[name] = _column(kusto_type, values)
        except (ValueError, TypeError, KeyError, OverflowError):
            raise KitError(f"column {name!r}: a value is not a valid Kusto {kusto_type}") from None
    frame = pd.DataFrame(columns)
    return frame.reindex(columns=list(names)) if not rows else frame
