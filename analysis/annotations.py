"""Annotations: what people did during the incident (a deploy, a scale-out, a mitigation), shown in the report.

Each is a time, an optional end and a label, given as ``--annotate TIME[/END]=LABEL`` or as a
mapping in a fleet file. They travel to the report notebook as JSON text (papermill parameters
are plain values) and are shown beside the timeline; the label is the user's text, so it is
escaped like everything else shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.errors import KitError, excerpt
from analysis.times import iso, user_window
from analysis.untrusted import loads_json

FIELDS = ("time", "end", "label")


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
