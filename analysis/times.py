"""Times in and out of the kit: every instant is naive UTC inside, ISO 8601 with ``Z`` outside.

Kusto's ``datetime`` has no zone, and the logs are in UTC, so a time a user types
with an offset is converted once, here, and compared with the logs as it is.

A time a person types (``--start``, the explorer's boxes, a fleet file, an annotation, a
``--param`` of type datetime) is read by ``user_time`` alone, and only in forms that cannot
be read two ways: ISO 8601 with a date, or a time relative to now (``-2h``, ``now-1d``).
``03/02/2025`` (March or February?), ``25.02.2025 09:00`` or ``9:00`` (which day?) are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

from analysis.errors import KitError

#: What a person may type, said by every refusal.
ACCEPTED = (
    "an ISO 8601 time with a date, e.g. 2025-02-25T09:00Z (UTC unless an offset such as +01:00 is given), "
    "or one relative to now: -2h, now-1d, now (units s, m, h, d; now is the current minute, UTC)"
)
_RELATIVE = re.compile(r"(?P<now>now)?\s*(?:(?P<sign>[+-])\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[smhd]))?")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# ISO 8601 as datetime.fromisoformat reads it, less the week and basic forms nobody types by accident.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")


def utc_naive(value: Any) -> pd.Timestamp:
    """A timestamp in UTC without zone; a zoned value is converted, a naive one is taken as UTC.

    >>> utc_naive("2025-02-25T10:00:00+01:00"), utc_naive(pd.Timestamp("2025-02-25 09:00"))
    (Timestamp('2025-02-25 09:00:00'), Timestamp('2025-02-25 09:00:00'))
    """
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def utc_now() -> pd.Timestamp:
    """The current time, naive UTC like every time in the kit."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def current_minute() -> pd.Timestamp:
    """The start of the current minute, naive UTC: what ``now`` means in a time a person types."""
    return utc_now().floor("min")


def parse_utc(text: str) -> pd.Timestamp:
    """An ISO 8601 time with a date, as a UTC timestamp without zone; ``ValueError`` for any other text.

    Read by the standard library's ISO 8601 parser, never by a guesser: ``03/02/2025`` is no time.

    >>> parse_utc("2025-02-25T10:00:00+01:00"), parse_utc("2025-02-25 09:00Z")
    (Timestamp('2025-02-25 09:00:00'), Timestamp('2025-02-25 09:00:00'))
    """
    stripped = str(text).strip()
    try:
        if not _ISO_DATE.fullmatch(stripped):
            raise ValueError
        parsed = dt.datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time such as 2025-02-25T09:00:00Z, got {text!r}") from None
    return utc_naive(parsed)


def user_time(text: str, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """A time a person typed: ISO 8601 with a date, or relative to ``now`` (default: the current minute).

    Any other form is a ``ValueError`` that names the accepted ones.

    >>> user_time("2025-02-25T10:00+01:00")
    Timestamp('2025-02-25 09:00:00')
    >>> noon = pd.Timestamp("2025-02-25 12:00")
    >>> user_time("-2h", noon), user_time("now-1d", noon), user_time("now", noon), user_time("now + 90m", noon)
    (Timestamp('2025-02-25 10:00:00'), Timestamp('2025-02-24 12:00:00'), Timestamp('2025-02-25 12:00:00'), \
Timestamp('2025-02-25 13:30:00'))
    """
    stripped = str(text).strip()
    relative = _RELATIVE.fullmatch(stripped.lower())
    if relative and stripped and (relative["now"] or relative["sign"]):
        base = current_minute() if now is None else now
        if not relative["sign"]:
            return base
        offset = pd.Timedelta(**{_UNITS[relative["unit"]]: float(relative["amount"])})
        return base + offset if relative["sign"] == "+" else base - offset
    try:
        return parse_utc(stripped)
    except ValueError:
        raise ValueError(f"expected {ACCEPTED}; got {text!r}") from None


def optional_time(name: str, text: str | None, now: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """A time the user typed for ``name``: ``""`` or None means "not given"; a bad one is a ``KitError``.

    >>> optional_time("start", ""), optional_time("start", "2025-02-25T09:00Z")
    (None, Timestamp('2025-02-25 09:00:00'))
    """
    if text is None or str(text).strip() == "":
        return None
    try:
        return user_time(str(text), now)
    except ValueError as err:
        raise KitError(f"{name}: {err}") from None


def user_window(
    start: str | None, end: str | None, names: tuple[str, str] = ("start", "end"), now: pd.Timestamp | None = None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A start and an end the user typed, relative ones against one ``now``; either may be absent.

    >>> user_window("-1h", "now", now=pd.Timestamp("2025-02-25 12:00"))
    (Timestamp('2025-02-25 11:00:00'), Timestamp('2025-02-25 12:00:00'))
    """
    now = current_minute() if now is None else now
    return optional_time(names[0], start, now), optional_time(names[1], end, now)


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with a ``Z`` (as findings.json writes times), or None.

    >>> iso(pd.Timestamp("2025-02-25 09:19:00")), iso(None)
    ('2025-02-25T09:19:00Z', None)
    """
    if value is None or value is pd.NaT:
        return None
    return utc_naive(value).isoformat() + "Z"


def window_text(start: Any, end: Any) -> str:
    """A window as every command prints it: both ends ISO 8601 UTC, and how long it is.

    >>> window_text(pd.Timestamp("2025-02-25 09:00"), pd.Timestamp("2025-02-25 11:30"))
    '2025-02-25T09:00:00Z to 2025-02-25T11:30:00Z (2 h 30 min)'
    """
    minutes = int((utc_naive(end) - utc_naive(start)) / pd.Timedelta(minutes=1))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    length = " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n) or "0 min"
    return f"{iso(start)} to {iso(end)} ({length})"
