"""Read a query's ``declare query_parameters(...)`` statement: where it is, names, types, defaults.

The statement's grammar is small (``name: type [= literal]``, comma-separated, ``//`` comments
between), so it is read here rather than by a KQL engine: rendering a query for Log Analytics or
Azure Data Explorer must not need the local engine.

>>> found = declaration_of('declare query_parameters(start: datetime, top: long = 10);\\nT | take top', "q")
>>> [(p.name, p.kql_type, p.default) for p in found.parameters], found.end
([('start', 'datetime', None), ('top', 'long', 10)], 58)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from analysis.errors import KitError
from analysis.times import parse_utc

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_NUMBER_WITH_UNIT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)")
_WRAPPED = re.compile(r"([A-Za-z]+)\s*\((.*)\)", re.S)
_ESCAPED = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
# Kusto's timespan units (https://learn.microsoft.com/kusto/query/scalar-data-types/timespan).
_TIMESPAN_UNITS = {
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("m", "min", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("s", "sec", "second", "seconds"), "seconds"),
    **dict.fromkeys(("ms", "milli", "millis", "millisecond", "milliseconds"), "milliseconds"),
    **dict.fromkeys(("microsecond", "microseconds"), "microseconds"),
}


@dataclass(frozen=True)
class Parameter:
    """One declared query parameter; ``default`` is None when the caller must supply it."""

    name: str
    kql_type: str
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Declaration:
    """The statement's parameters, and where it starts and ends (after its ``;``) in the text."""

    start: int
    end: int
    parameters: tuple[Parameter, ...]


def _skip_string(text: str, pos: int) -> int:
    """The position after the string literal starting at ``pos`` (``"..."``, ``'...'``, ``@"..."``)."""
    verbatim = text[pos] == "@"
    quote = text[pos + verbatim]
    pos += 1 + verbatim
    while pos < len(text):
        if text[pos] == quote:
            if verbatim and text[pos + 1 : pos + 2] == quote:
                pos += 2
                continue
            return pos + 1
        if text[pos] == "\\" and not verbatim:
            pos += 1
        elif text[pos] == "\n":
            break
        pos += 1
    raise ValueError("a string literal is not closed")


def _starts_string(text: str, pos: int) -> bool:
    return text[pos] in "\"'" or (text[pos] == "@" and text[pos + 1 : pos + 2] in ('"', "'"))


def _skip_space(text: str, pos: int) -> int:
    """The next position that is neither white space nor inside a ``//`` comment."""
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text.startswith("//", pos):
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else newline + 1
        else:
            break
    return pos


def _find(text: str) -> tuple[int, int] | None:
    """Where ``declare`` starts and ``query_parameters`` ends, when a statement begins with them."""
    pos, statement_start = _skip_space(text, 0), True
    while pos < len(text):
        word = _IDENTIFIER.match(text, pos)
        if word:
            if statement_start and word.group() == "declare":
                keyword = _IDENTIFIER.match(text, _skip_space(text, word.end()))
                if keyword and keyword.group() == "query_parameters":
                    return pos, keyword.end()
            statement_start, pos = False, word.end()
        elif _starts_string(text, pos):
            statement_start, pos = False, _skip_string(text, pos)
        else:
            statement_start, pos = text[pos] == ";", pos + 1
        pos = _skip_space(text, pos)
    return None


def _literal_text(text: str, pos: int) -> tuple[str, int]:
    """A default's text: up to the ``,`` or ``)`` that ends it, outside strings and parentheses."""
    start, depth = pos, 0
    while pos < len(text):
        char = text[pos]
        if _starts_string(text, pos):
            pos = _skip_string(text, pos)
            continue
        if text.startswith("//", pos) or (depth == 0 and char in ",)"):
            break
        depth += {"(": 1, ")": -1}.get(char, 0)
        pos += 1
    return text[start:pos].strip(), pos


def _string_value(literal: str) -> str:
    if not literal or not _starts_string(literal, 0) or _skip_string(literal, 0) != len(literal):
        raise ValueError(f"expected a string literal, got {literal!r}")
    if literal[0] == "@":
        return literal[2:-1].replace(literal[1] * 2, literal[1])
    value, pos, body = [], 0, literal[1:-1]
    while pos < len(body):
        if body[pos] == "\\":
            if body[pos + 1 : pos + 2] not in _ESCAPED:
                raise ValueError(f"unknown escape in {literal!r}")
            value.append(_ESCAPED[body[pos + 1]])
            pos += 2
        else:
            value.append(body[pos])
            pos += 1
    return "".join(value)


def _timespan_value(literal: str) -> dt.timedelta:
    match = _NUMBER_WITH_UNIT.fullmatch(literal)
    unit = match.group(2).lower() if match else ""
    if match is None or (unit not in _TIMESPAN_UNITS and unit not in ("tick", "ticks")):
        raise ValueError(f"expected a timespan such as 1m or 30s, got {literal!r}")
    number = float(match.group(1))
    return (
        dt.timedelta(microseconds=number / 10)
        if unit.startswith("tick")
        else dt.timedelta(**{_TIMESPAN_UNITS[unit]: number})
    )


def _value(literal: str, kql_type: str) -> Any:
    """The Python value of a default written as a KQL literal of ``kql_type``."""
    kind = kql_type.lower()
    if kind == "string":
        return _string_value(literal)
    wrapped = _WRAPPED.fullmatch(literal)
    if wrapped and wrapped.group(1).lower() in (kind, "time", "double", "boolean", "date"):
        literal = wrapped.group(2).strip()
    if kind in ("long", "int"):
        if not _INTEGER.fullmatch(literal):
            raise ValueError(f"expected a whole number, got {literal!r}")
        return int(literal)
    if kind in ("real", "double"):
        if not _NUMBER.fullmatch(literal):
            raise ValueError(f"expected a number, got {literal!r}")
        return float(literal)
    if kind in ("bool", "boolean"):
        if literal.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {literal!r}")
        return literal.lower() == "true"
    if kind in ("timespan", "time"):
        return _timespan_value(literal)
    if kind in ("datetime", "date"):
        return parse_utc(literal)
    raise ValueError(f"a default of type {kql_type} is not supported")


def declaration_of(text: str, origin: str) -> Declaration:
    """The ``declare query_parameters(...)`` statement of ``text``; a ``KitError`` names what is wrong."""
    try:
        found = _find(text)
    except ValueError as err:
        raise KitError(f"{origin}: {err}") from None
    if found is None:
        raise KitError(f"{origin}: no 'declare query_parameters(...)' statement")
    start, pos = found
    parameters: list[Parameter] = []
    try:
        pos = _skip_space(text, pos)
        if text[pos : pos + 1] != "(":
            raise ValueError("expected '(' after query_parameters")
        pos = _skip_space(text, pos + 1)
        while text[pos : pos + 1] != ")":
            name = _IDENTIFIER.match(text, pos)
            colon = _skip_space(text, name.end()) if name else pos
            kind = _IDENTIFIER.match(text, _skip_space(text, colon + 1)) if text[colon : colon + 1] == ":" else None
            if name is None or kind is None:
                raise ValueError(f"expected 'name: type' at {text[pos : pos + 20]!r}")
            pos, default = _skip_space(text, kind.end()), None
            if text[pos : pos + 1] == "=":
                literal, pos = _literal_text(text, _skip_space(text, pos + 1))
                default = _value(literal, kind.group())
                pos = _skip_space(text, pos)
            parameters.append(Parameter(name.group(), kind.group(), default))
            if text[pos : pos + 1] == ",":
                pos = _skip_space(text, pos + 1)
            elif text[pos : pos + 1] != ")":
                raise ValueError(f"expected ',' or ')' at {text[pos : pos + 20]!r}")
    except ValueError as err:
        raise KitError(f"{origin}: declare query_parameters: {err}") from None
    end = pos + 1
    rest = text[end:]
    gap = len(rest) - len(rest.lstrip())
    if rest[gap : gap + 1] == ";":
        end += gap + 1
    return Declaration(start, end, tuple(parameters))
