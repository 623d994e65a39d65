"""Strings from the logs shown as data: escaped for Markdown, HTML tables and chart labels.

Whoever calls the API writes the logs, so a destination, an API id or an error
message may hold markup. The report's own Markdown is written by the kit; every
value from a source goes through one of these functions on its way in, so it
reads as the text it is and never becomes a tag, a link, an image or a heading.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# CommonMark lets a backslash escape any ASCII punctuation; escaping all of it is simpler than
# knowing which characters start a link, an image, emphasis, a heading, a list or a table.
_MARKDOWN = {char: "\\" + char for char in string.punctuation if char not in _ENTITIES}
_MARKDOWN.update(_ENTITIES)
_LABEL_MAX = 80


def md(value: object) -> str:
    """``value`` as literal Markdown text: no markup, link or line break survives.

    >>> md("evil<script>alert(1)</script>.com")
    'evil&lt;script&gt;alert\\\\(1\\\\)&lt;\\\\/script&gt;\\\\.com'
    >>> md("[x](javascript:alert(1))\\n# not a heading")
    '\\\\[x\\\\]\\\\(javascript\\\\:alert\\\\(1\\\\)\\\\) \\\\# not a heading'
    """
    text = _CONTROL.sub(" ", str(value))
    return "".join(_MARKDOWN.get(char, char) for char in text)


def code(value: object) -> str:
    """``value`` as inline code. Not backticks, in which escapes do not work: an HTML element whose
    text is still Markdown, so ``md`` escapes it.

    >>> print(code("a<b>*c"))
    <code>a&lt;b&gt;\\*c</code>
    """
    return f"<code>{md(value)}</code>"


def code_block(text: str, language: str = "") -> str:
    """A fenced code block that no backtick run inside ``text`` can close early.

    >>> code_block("a ``` b", "kusto").splitlines()[0]
    '````kusto'
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def table(
    frame: pd.DataFrame,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
    precision: int | None = None,
    thousands: str | None = None,
) -> Styler:
    """A Styler for the report: no index, ``-`` for missing values, every cell and header HTML-escaped.

    ``formats`` maps columns to a format string or function, applied after escaping; ``precision``
    is the digits of the other numbers (pandas' default when None), ``thousands`` their separator.

    >>> html = table(pd.DataFrame({"<b>": ["<i>x</i>"]})).to_html()
    >>> "<i>" in html or "<b>" in html, "&lt;i&gt;x&lt;/i&gt;" in html
    (False, True)
    """
    styler = frame.style.hide(axis="index").format(precision=precision, na_rep="-", escape="html", thousands=thousands)
    if formats:
        # A second format call formats every column again: the other columns keep the same rules.
        styler = styler.format(dict(formats), na_rep="-", escape="html", precision=precision, thousands=thousands)
    return styler.format_index(escape="html", axis="columns")


#: A text cell kept on one line: a host name, an id, a time; words (a reason, a title) may wrap.
_ONE_LINE = re.compile(r"^\S{1,80}( \d\d:\d\d(:\d\d)?)?$")


def report_table(
    frame: pd.DataFrame,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
    precision: int | None = None,
) -> Styler:
    """``table`` laid out for the report: text to the left and numbers to the right, each heading over its column,
    numbers with a thousands separator, and a host name, an id or a time never broken across lines.

    The page's style sheet (the report template) reads the classes: ``kit`` on the table, ``rN`` for each numeric
    column N (its heading goes right), ``num`` and ``nowrap`` on cells; the sanitiser keeps classes and nothing
    else, so no style travels with the table.

    >>> html = report_table(pd.DataFrame({"destination": ["a.b:443"], "what": ["slow backend"], "n": [3]})).to_html()
    >>> 'class="kit r2"' in html, "col0 nowrap" in html, "col1 text" in html, "col2 num" in html
    (True, True, True, True)
    """
    numeric = [n for n, column in enumerate(frame.columns) if pd.api.types.is_numeric_dtype(frame[column])]
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for n, column in enumerate(frame.columns):
        if n in numeric:
            classes[column] = "num"
        else:
            values = frame[column].dropna().astype(str)
            one_line = len(values) > 0 and values.map(lambda v: bool(_ONE_LINE.match(v))).all()
            classes[column] = "nowrap" if one_line else "text"
    attributes = " ".join(["kit", *(f"r{n}" for n in numeric)])
    styled = table(frame, formats, precision, thousands=",").set_td_classes(classes)
    return styled.set_table_attributes(f'class="{attributes}"')


def chart_labels(values: list[str]) -> dict[str, str]:
    """Each value as a distinct legend label: one line, not hidden by a leading underscore, not endless.

    The charts turn mathtext off while they draw (``plots``), so a ``$`` is a dollar sign.

    >>> labels = chart_labels(["a$b$c", "_x", "y" * 500, "y" * 501])
    >>> labels["a$b$c"], labels["_x"], len(labels["y" * 500]), labels["y" * 501][-3:]
    ('a$b$c', ' _x', 80, '(2)')
    """
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for value in values:
        text = _CONTROL.sub(" ", str(value))
        if len(text) > _LABEL_MAX:
            text = text[: _LABEL_MAX - 1] + "\N{HORIZONTAL ELLIPSIS}"
        text = " " + text if text.startswith("_") else text  # matplotlib hides labels that start with _
        label, n = text, 1
        while label in taken:
            n += 1
            label = f"{text} ({n})"
        taken.add(label)
        labels[value] = label
    return labels
