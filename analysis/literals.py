"""Python values -> typed KQL literals: the one place in the kit that escapes.

Query parameters reach Kusto as ``let name = <literal>;`` lines in front of the
query body. Each literal carries its Kusto type, so a value can never change the
shape of the query: a string stays exactly one string literal, whatever it holds.

>>> kql_literal("O'Brien \\"quoted\\"", "string")
'"O\\'Brien \\\\"quoted\\\\""'
>>> kql_literal(pd.Timestamp("2025-02-25 09:19:25.391"), "datetime")
'datetime(2025-02-25T09:19:25.391000Z)'
>>> kql_literal(pd.Timedelta(minutes=4), "timespan")
'240s'
>>> kql_literal(["a", "b"], "dynamic")
'dynamic(["a", "b"])'
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.errors import KitError

KQL_TYPES = ("string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic")

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(value: str) -> str:
    """Double-quoted KQL string; only the characters Kusto treats specially are escaped.

    >>> string_literal('a"b\\\\c')
    '"a\\\\"b\\\\\\\\c"'
    """
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def _datetime_literal(value: Any) -> str:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return f"datetime({ts.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z)"


def _timespan_literal(value: Any) -> str:
    micros = int(pd.Timedelta(value) / pd.Timedelta(microseconds=1))
    if micros % 1_000_000 == 0:
        return f"{micros // 1_000_000}s"
    if micros % 1_000 == 0:
        return f"{micros // 1_000}ms"
    return f"{micros}microsecond"


def _real_literal(value: float) -> str:
    if math.isnan(value):
        return "real(nan)"
    if math.isinf(value):
        return "real(+inf)" if value > 0 else "real(-inf)"
    return f"real({value!r})"


def _dynamic_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("dynamic values must be finite numbers")
        return repr(value)
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{string_literal(str(k))}: {_dynamic_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_dynamic_literal(v) for v in value) + "]"
    raise ValueError(f"{type(value).__name__} cannot be a dynamic value")


def kql_literal(value: Any, kql_type: str) -> str:
    """Render ``value`` as a literal of ``kql_type``; ``ValueError`` when it is not one."""
    if kql_type not in KQL_TYPES:
        raise ValueError(f"unsupported KQL type {kql_type!r}")
    if kql_type == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        return string_literal(value)
    if kql_type == "dynamic":
        return f"dynamic({_dynamic_literal(value)})"
    if value is None:
        return f"{kql_type}(null)"
    if kql_type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return "true" if value else "false"
    if kql_type in ("long", "int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if kql_type == "int" and not -(2**31) <= value < 2**31:
            raise ValueError(f"{value} does not fit an int")
        if kql_type == "long" and not -(2**63) <= value < 2**63:
            raise ValueError(f"{value} does not fit a long")
        return str(value) if kql_type == "long" else f"int({value})"
    if kql_type == "real":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return _real_literal(float(value))
    if kql_type == "datetime":
        if not isinstance(value, (dt.datetime, dt.date, str)):
            raise ValueError(f"expected a date and time, got {value!r}")
        return _datetime_literal(value)
    if not isinstance(value, (dt.timedelta, str)):
        raise ValueError(f"expected a duration, got {value!r}")
    return _timespan_literal(value)


def parse_value(text: str, kql_type: str) -> Any:
    """Read a command-line value (``k=v``) as ``kql_type``; ``ValueError`` when it is not one.

    >>> parse_value("2048", "long"), parse_value("1.5", "real"), parse_value("4m", "timespan")
    (2048, 1.5, Timedelta('0 days 00:04:00'))
    >>> parse_value("a,b", "dynamic")
    ['a', 'b']
    """
    text = text.strip()
    if kql_type == "string":
        return text
    if kql_type in ("long", "int"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if kql_type == "real":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {text!r}")
        return number
    if kql_type == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return lowered == "true"
    if kql_type == "datetime":
        return parse_utc(text)
    if kql_type == "timespan":
        try:
            return pd.Timedelta(text)
        except ValueError:
            raise ValueError(f"expected a duration such as 4m or 00:04:00, got {text!r}") from None
    if kql_type == "dynamic":
        return [item.strip() for item in text.split(",") if item.strip()]
    raise ValueError(f"unsupported KQL type {kql_type!r}")


def parse_utc(text: str) -> pd.Timestamp:
    """An ISO 8601 time as a UTC timestamp without zone (Kusto's datetime has none).

    >>> parse_utc("2025-02-25T10:00:00+01:00")
    Timestamp('2025-02-25 09:00:00')
    """
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"expected an ISO 8601 time such as 2025-02-25T09:00:00Z, got {text!r}") from None
    if ts is pd.NaT:
        raise ValueError(f"expected an ISO 8601 time, got {text!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def check_param(name: str, value: Any, kql_type: str) -> str:
    """``kql_literal`` with the parameter's name in the error, as a ``KitError``."""
    try:
        return kql_literal(value, kql_type)
    except ValueError as err:
        raise KitError(f"parameter {name!r} ({kql_type}): {err}") from None
