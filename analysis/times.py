"""Times in and out of the kit: every instant is naive UTC inside, ISO 8601 with ``Z`` outside.

Kusto's ``datetime`` has no zone, and the logs are in UTC, so a time a user types
with an offset is converted once, here, and compared with the logs as it is.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.errors import KitError


def utc_naive(value: Any) -> pd.Timestamp:
    """A timestamp in UTC without zone; a zoned value is converted, a naive one is taken as UTC.

    >>> utc_naive("2025-02-25T10:00:00+01:00"), utc_naive(pd.Timestamp("2025-02-25 09:00"))
    (Timestamp('2025-02-25 09:00:00'), Timestamp('2025-02-25 09:00:00'))
    """
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def parse_utc(text: str) -> pd.Timestamp:
    """An ISO 8601 time as a UTC timestamp without zone; ``ValueError`` when the text is not one.

    >>> parse_utc("2025-02-25T10:00:00+01:00")
    Timestamp('2025-02-25 09:00:00')
    """
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"expected an ISO 8601 time such as 2025-02-25T09:00:00Z, got {text!r}") from None
    if ts is pd.NaT:
        raise ValueError(f"expected an ISO 8601 time, got {text!r}")
    return utc_naive(ts)


def optional_time(name: str, text: str | None) -> pd.Timestamp | None:
    """A time parameter of the CLI or a notebook: ``""`` or None means "not given".

    >>> optional_time("start", ""), optional_time("start", "2025-02-25T09:00Z")
    (None, Timestamp('2025-02-25 09:00:00'))
    """
    if text is None or str(text).strip() == "":
        return None
    try:
        return parse_utc(str(text))
    except ValueError as err:
        raise KitError(f"{name}: {err}") from None


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with a ``Z`` (as findings.json writes times), or None.

    >>> iso(pd.Timestamp("2025-02-25 09:19:00")), iso(None)
    ('2025-02-25T09:19:00Z', None)
    """
    if value is None or value is pd.NaT:
        return None
    return utc_naive(value).isoformat() + "Z"
