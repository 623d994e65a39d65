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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.errors import KitError
from analysis.times import user_time, utc_naive

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LONG_RANGE = range(-(2**63), 2**63)
_INT_RANGE = range(-(2**31), 2**31)


def string_literal(value: str) -> str:
    """Double-quoted KQL string; only the characters Kusto treats specially are escaped.

    >>> string_literal('a"b\\\\c')
    '"a\\\\"b\\\\\\\\c"'
    """
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return string_literal(value)


def _whole(value: Any, allowed: range, named: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    if value not in allowed:
        raise ValueError(f"{value} does not fit {named}")
    return value


def _long(value: Any) -> str:
    return str(_whole(value, _LONG_RANGE, "a long"))


def _int(value: Any) -> str:
    return f"int({_whole(value, _INT_RANGE, 'an int')})"


def _real(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    number = float(value)
    if math.isnan(number):
        return "real(nan)"
    if math.isinf(number):
        return "real(+inf)" if number > 0 else "real(-inf)"
    return f"real({number!r})"


def _bool(value: Any) -> str:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return "true" if value else "false"


def _datetime(value: Any) -> str:
    if not isinstance(value, (dt.datetime, dt.date, str)):
        raise ValueError(f"expected a date and time, got {value!r}")
    return f"datetime({utc_naive(value).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z)"


def _timespan(value: Any) -> str:
    if not isinstance(value, (dt.timedelta, str)):
        raise ValueError(f"expected a duration, got {value!r}")
    micros = int(pd.Timedelta(value) / pd.Timedelta(microseconds=1))
    if micros % 1_000_000 == 0:
        return f"{micros // 1_000_000}s"
    if micros % 1_000 == 0:
        return f"{micros // 1_000}ms"
    return f"{micros}microsecond"


def _dynamic_value(value: Any) -> str:
    """The JSON-like text inside ``dynamic(...)``."""
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
        items = ", ".join(f"{string_literal(str(k))}: {_dynamic_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_dynamic_value(v) for v in value) + "]"
    raise ValueError(f"{type(value).__name__} cannot be a dynamic value")


def _dynamic(value: Any) -> str:
    return f"dynamic({_dynamic_value(value)})"


# One renderer per Kusto type; a renderer refuses a value that is not of its type.
_RENDERERS: dict[str, Callable[[Any], str]] = {
    "string": _string,
    "long": _long,
    "int": _int,
    "real": _real,
    "bool": _bool,
    "datetime": _datetime,
    "timespan": _timespan,
    "dynamic": _dynamic,
}


def kql_literal(value: Any, kql_type: str) -> str:
    """Render ``value`` as a literal of ``kql_type``; ``ValueError`` when it is not one.

    None is the typed null of every type but ``string``, which Kusto cannot make null.
    """
    render = _RENDERERS.get(kql_type)
    if render is None:
        raise ValueError(f"unsupported KQL type {kql_type!r}")
    if value is None and kql_type != "string":
        return f"{kql_type}(null)"
    return render(value)


def _parse_whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def _parse_real(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {text!r}")
    return number


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return lowered == "true"


def _parse_timespan(text: str) -> pd.Timedelta:
    try:
        return pd.Timedelta(text)
    except ValueError:
        raise ValueError(f"expected a duration such as 4m or 00:04:00, got {text!r}") from None


def _parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# One reader of command-line text per Kusto type.
_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "long": _parse_whole,
    "int": _parse_whole,
    "real": _parse_real,
    "bool": _parse_bool,
    "datetime": user_time,
    "timespan": _parse_timespan,
    "dynamic": _parse_list,
}


def parse_value(text: str, kql_type: str) -> Any:
    """Read a command-line value (``k=v``) as ``kql_type``; ``ValueError`` when it is not one.

    >>> parse_value("2048", "long"), parse_value("1.5", "real"), parse_value("4m", "timespan")
    (2048, 1.5, Timedelta('0 days 00:04:00'))
    >>> parse_value("a,b", "dynamic")
    ['a', 'b']
    """
    parse = _PARSERS.get(kql_type)
    if parse is None:
        raise ValueError(f"unsupported KQL type {kql_type!r}")
    return parse(text.strip())


def check_param(name: str, value: Any, kql_type: str) -> str:
    """``kql_literal`` with the parameter's name in the error, as a ``KitError``."""
    try:
        return kql_literal(value, kql_type)
    except ValueError as err:
        raise KitError(f"parameter {name!r} ({kql_type}): {err}") from None
