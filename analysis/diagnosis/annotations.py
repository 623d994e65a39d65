"""Annotations: what people did during the incident (a deploy, a scale-out, a mitigation), shown in the report.

Each is a time, an optional end and a label, given as ``--annotate TIME[/END]=LABEL`` or as a
mapping in a fleet file. They travel to the report notebook as JSON text (papermill parameters
are plain values) and are shown beside the timeline; the label is the user's text, so it is
escaped like everything else shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.errors import KitError, excerpt
from analysis.safety.untrusted import loads_json
from analysis.times import iso, user_window

FIELDS = ("time", "end", "label")
#: A note that names a number of units ("scaled out to 2 units", "3 units"), read to compare with the assumption.
_UNITS = re.compile(r"\b(\d{1,3})\s+units?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Annotation:
    """One thing that happened at ``time`` (until ``end``, when it lasted), named by ``label``."""

    time: pd.Timestamp
    label: str
    end: pd.Timestamp | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"time": iso(self.time), "end": iso(self.end) if self.end is not None else None, "label": self.label}


def only_known(item: Mapping[str, Any], known: tuple[str, ...], where: str, what: str = "field") -> None:
    """A ``KitError`` naming the first key of ``item`` (a mapping read from a file) that is not ``known``."""
    unknown = sorted(set(map(str, item)) - set(known))
    if unknown:
        raise KitError(f"{where}: unknown {what} {excerpt(unknown[0])} (known: {', '.join(known)})")


def annotation(item: Mapping[str, Any], where: str = "annotation") -> Annotation:
    """An ``Annotation`` from ``{time, end?, label}``; a ``KitError`` naming ``where`` when it is not one."""
    if not isinstance(item, Mapping):
        raise KitError(f"{where}: expected a mapping with time, optional end, and label")
    only_known(item, FIELDS, where)
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise KitError(f"{where}: needs a label (text)")
    time, end = user_window(time_text(item.get("time")), time_text(item.get("end")), (f"{where} time", f"{where} end"))
    if time is None:
        raise KitError(f"{where}: needs a time (ISO 8601)")
    if end is not None and not time < end:
        raise KitError(f"{where}: end {iso(end)} is not after time {iso(time)}")
    return Annotation(time=time, label=label.strip(), end=end)


def time_text(value: Any) -> str | None:
    """A time as text (None stays None); YAML reads an unquoted ISO time as a datetime already."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def from_option(text: str) -> Annotation:
    """``--annotate TIME[/END]=LABEL``.

    >>> from_option("2025-02-25T09:40Z/2025-02-25T09:50Z=scaled out to 2 units").as_dict()
    {'time': '2025-02-25T09:40:00Z', 'end': '2025-02-25T09:50:00Z', 'label': 'scaled out to 2 units'}
    """
    when, sep, label = text.partition("=")
    if not sep:
        raise KitError(f"--annotate takes TIME[/END]=LABEL, got {text!r}")
    time, _, end = when.partition("/")
    return annotation({"time": time.strip(), "end": end.strip() or None, "label": label}, f"--annotate {text!r}")


def dumps(annotations: list[Annotation]) -> str:
    """The notebook parameter: JSON text ("" for none)."""
    return json.dumps([a.as_dict() for a in annotations]) if annotations else ""


def loads(text: str) -> list[Annotation]:
    """The notebook parameter back as annotations."""
    if not text:
        return []
    try:
        items = loads_json(text, "annotations")
    except KitError:
        raise KitError("annotations: not JSON text (a list of {time, end?, label})") from None
    if not isinstance(items, list):
        raise KitError("annotations: expected a list of {time, end?, label}")
    return [annotation(item, f"annotation {n}") for n, item in enumerate(items, 1)]


def table(annotations: list[Annotation]) -> pd.DataFrame:
    """The annotations in time order, as the report lists them."""
    rows = [
        {
            "time (UTC)": a.time.strftime("%Y-%m-%d %H:%M"),
            "until (UTC)": a.end.strftime("%Y-%m-%d %H:%M") if a.end is not None else "",
            "what happened": a.label,
        }
        for a in sorted(annotations, key=lambda a: a.time)
    ]
    return pd.DataFrame(rows, columns=["time (UTC)", "until (UTC)", "what happened"])


def units_noted(
    notes: Sequence[Annotation], assumed: set[int], trouble: Sequence[tuple[pd.Timestamp, pd.Timestamp]]
) -> list[dict[str, object]]:
    """Each note that names a number of units, set against the units the analysis assumed (``assumed``: every
    region's) and the minutes of trouble: units come from one place (``--param units``), and a note that says
    otherwise while the trouble ran is a disagreement the report names.

    >>> t = pd.Timestamp
    >>> found = units_noted([Annotation(t("2025-02-25 09:40"), "scaled out to 2 units")], {1},
    ...                     [(t("2025-02-25 09:23"), t("2025-02-25 09:40"))])
    >>> found[0]["agrees"], found[0]["statement"][:49]
    (True, 'the note at 09:40 says 2 units, after the trouble')
    """
    found: list[dict[str, object]] = []
    first = min((start for start, _ in trouble), default=None)
    last = max((end for _, end in trouble), default=None)
    assumed_text = "/".join(str(n) for n in sorted(assumed))
    for note in sorted(notes, key=lambda n: n.time):
        match = _UNITS.search(note.label)
        if match is None:
            continue
        units = int(match.group(1))
        when = f"the note at {note.time:%H:%M} says {units} units"
        after = last is not None and note.time >= last
        if after:
            agrees = True
            text = f"{when}, after the trouble: the analysis and its sizing count the {assumed_text} unit(s) before it"
        elif units in assumed:
            agrees, text = True, f"{when}, as assumed"
        else:
            during = first is not None and note.time >= first
            agrees = False
            text = (
                f"{when} {'while the trouble ran' if during else 'before the trouble'}, but the analysis assumed "
                f"{assumed_text} (--param units): if the instance ran {units} units then, render again with "
                f"--param units={units}"
            )
        found.append({"time": note.time, "label": note.label, "units": units, "agrees": agrees, "statement": text})
    return found
