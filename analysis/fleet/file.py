"""The fleet file of ``apim-snat batch``: one report per entry, checked whole before anything runs.

YAML, with one key ``reports``: a list of entries, each with ``name`` (also the entry's folder),
``source``, and optionally ``start``, ``end``, ``mode``, ``params`` (a mapping of assumptions)
and ``annotations`` (a list of ``{time, end?, label}``)::

    reports:
      - name: contoso-weu
        source: loganalytics:00000000-0000-0000-0000-000000000000
        start: 2025-02-25T09:00Z
        end: 2025-02-25T11:00Z
        params: {units: 2}
        annotations:
          - {time: 2025-02-25T09:40Z, label: scaled out to 2 units}

A mistake in the file is a ``KitError`` naming the entry and the field; whether an entry's source
can be read is found out when it runs, and fails that entry only. The file is untrusted input: at
most ``Bound.FLEET`` bytes, and no bigger once its YAML aliases are expanded (a "billion laughs" of
nested aliases is refused before any value is formatted), nested at most ``MAX_DEPTH`` deep; every
field must have its type, and a message quotes at most a short excerpt of a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from analysis.diagnosis.annotations import Annotation, annotation, only_known, time_text
from analysis.diagnosis.assumptions import from_params
from analysis.errors import KitError, excerpt
from analysis.query.modes import check_mode
from analysis.safety.untrusted import MAX_DEPTH, Bound, read_text
from analysis.times import iso, user_window

FIELDS = ("name", "source", "start", "end", "mode", "params", "annotations")
# A folder name on every system, and never a hidden or relative one.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The longest text a field of an entry may hold (a source, a time, a mode, a parameter's value).
MAX_FIELD = 2048
# What YAML reads an unquoted time, a number or a flag as: anything else in a scalar field is refused.
_SCALARS = (str, int, float, bool, date)


@dataclass(frozen=True)
class Entry:
    """One report of the fleet, as the report command will be given it."""

    name: str
    source: str
    start: str | None = None
    end: str | None = None
    mode: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    annotations: tuple[Annotation, ...] = ()


def entry(item: Any, number: int) -> Entry:
    """One entry of ``reports``, checked; ``number`` (1-based) names it until its name is known."""
    where = f"reports entry {number}"
    if not isinstance(item, Mapping):
        raise KitError(f"{where}: expected a mapping with name and source")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise KitError(f"{where}: name must be a folder name (letters, digits, '.', '_', '-'), got {excerpt(name)}")
    where = f"reports entry {name!r}"
    only_known(item, FIELDS, where)
    for field in ("source", "start", "end", "mode"):
        _scalar(item.get(field), f"{where} {field}")
    source = item.get("source")
    if not isinstance(source, str) or not source.strip():
        raise KitError(f"{where}: needs a source, e.g. sample or file:PATH")
    first, last = user_window(
        time_text(item.get("start")), time_text(item.get("end")), (f"{where} start", f"{where} end")
    )
    if first is not None and last is not None and not first < last:
        raise KitError(f"{where}: start {iso(first)} is not before end {iso(last)}")
    mode = item.get("mode")
    if mode is not None:
        try:
            check_mode(str(mode))
        except KitError as err:
            raise KitError(f"{where}: {err}") from None
    params = item.get("params") or {}
    if not isinstance(params, Mapping):
        raise KitError(f"{where}: params must be a mapping, e.g. {{units: 2}}")
    for key, value in params.items():
        _scalar(key, f"{where} params key")
        _scalar(value, f"{where} params {excerpt(key)}")
    texts = {str(key): str(value) for key, value in params.items()}
    try:
        from_params(texts)
    except KitError as err:
        raise KitError(f"{where}: {err}") from None
    notes = item.get("annotations") or []
    if not isinstance(notes, list):
        raise KitError(f"{where}: annotations must be a list of {{time, end?, label}}")
    for n, note in enumerate(notes, 1):
        for field in ("time", "end", "label") if isinstance(note, Mapping) else ():
            _scalar(note.get(field), f"{where} annotation {n} {field}")
    return Entry(
        name=name,
        source=source.strip(),
        start=iso(first),  # a relative time is read once, here, not again by each report
        end=iso(last),
        mode=None if mode is None else str(mode),
        params=tuple(sorted(texts.items())),
        annotations=tuple(annotation(note, f"{where} annotation {n}") for n, note in enumerate(notes, 1)),
    )


def _scalar(value: Any, where: str) -> None:
    """A ``KitError`` unless ``value`` is one short text, number, flag or time (or absent)."""
    if value is not None and not isinstance(value, _SCALARS):
        raise KitError(f"{where}: expected a text, number or time, found {excerpt(value)}")
    if isinstance(value, str) and len(value) > MAX_FIELD:
        raise KitError(f"{where}: {excerpt(value)} is longer than any value of a fleet file")


def expanded_size(document: Any, limit: int = Bound.FLEET) -> int:
    """How big ``document`` is with every YAML alias written out (a node counts 1, a text its length),
    counted up to just past ``limit``; a ``KitError`` when it nests deeper than ``MAX_DEPTH``.

    YAML shares an aliased node, so a file of 435 bytes can stand for gigabytes of text once anything
    formats it. Counting stops as soon as the limit is passed, so the count itself stays cheap.

    >>> expanded_size({"a": ["xy", "xy"]}), expanded_size([["x" * 10] * 10] * 10, 50)
    (7, 51)
    """
    size, stack = 0, [(document, 0)]
    while stack and size <= limit:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise KitError(f"nested deeper than {MAX_DEPTH} levels")
        size += len(item) if isinstance(item, str) else 1
        if isinstance(item, Mapping):
            stack.extend((part, level + 1) for pair in item.items() for part in pair)
        elif isinstance(item, (list, tuple)):
            stack.extend((part, level + 1) for part in item)
    return min(size, limit + 1)


def parse(text: str, origin: str = "fleet file") -> list[Entry]:
    """Every entry of a fleet file's text, in order; names are unique."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise KitError(f"{origin}: not valid YAML{at}: {excerpt(problem, 120)}") from None
    except RecursionError:
        raise KitError(f"{origin}: nested deeper than YAML can be read") from None
    try:
        if expanded_size(document) > Bound.FLEET:
            raise KitError(f"larger than {Bound.FLEET // 1024 // 1024} MiB once its aliases are expanded")
    except KitError as err:
        raise KitError(f"{origin}: {err}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("reports"), list):
        raise KitError(f"{origin}: expected a mapping with 'reports:', a list of entries")
    only_known(document, ("reports",), origin, "key")
    if not document["reports"]:
        raise KitError(f"{origin}: 'reports' is empty")
    entries = [entry(item, n) for n, item in enumerate(document["reports"], 1)]
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise KitError(f"{origin}: two entries are named {twice[0]!r}; names are folders and must differ")
    return entries


def load(path: str) -> list[Entry]:
    """The entries of the fleet file at ``path`` (a regular file of at most ``Bound.FLEET`` bytes)."""
    return parse(read_text(Path(path), Bound.FLEET, Path(path).name, follow=True), Path(path).name)
