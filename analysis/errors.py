"""The one exception type for mistakes a user can make, and how a message quotes what it was given."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: How much of a value a message quotes: enough to recognise it, never a file's worth.
EXCERPT_CHARACTERS = 40
#: The longest error line the command line prints.
LINE_CHARACTERS = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


class KitError(Exception):
    """Bad input, said in one line meant for a person.

    The command line prints the message and exits with code 2; anything else
    escaping is a defect in the kit.
    """


def excerpt(value: Any, limit: int = EXCERPT_CHARACTERS) -> str:
    """A value as a message may quote it: short, quoted and escaped; a structure only by its kind.

    Read from an untrusted file, a value can be a megabyte of text, a deeply nested list, or a
    YAML alias that expands to gigabytes when formatted, so only a piece of a text is shown.

    >>> excerpt("it's"), excerpt("a\\nb"), excerpt("x" * 50, 8), excerpt([1, 2]), excerpt({"a": 1}), excerpt(3)
    ('"it\\'s"', "'a\\\\nb'", "'xxxxxxxx'... (50 characters)", 'a list', 'a mapping', '3')
    >>> excerpt(10**5000)
    'a number of 5001 digits'
    """
    if isinstance(value, str):
        shown = repr(value[:limit])
        return shown if len(value) <= limit else f"{shown}... ({len(value)} characters)"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        digits = len(str(abs(value))) if value.bit_length() < 10_000 else int(value.bit_length() * 0.30103) + 1
        return repr(value) if digits <= limit else f"a number of {digits} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def one_line(message: str, limit: int = LINE_CHARACTERS) -> str:
    """``message`` as one printable line of at most ``limit`` characters (control characters as spaces).

    >>> one_line("a\\nb\\x1b[31m c"), one_line("x" * 30, 10)
    ('a b [31m c', 'xxxxxxxxx…')
    """
    line = _CONTROL.sub(" ", message)
    return line if len(line) <= limit else line[: limit - 1] + "…"
