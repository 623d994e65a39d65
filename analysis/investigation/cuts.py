"""How the data was cut, named with its reason whatever the source.

An export of exactly as many rows as a service hands out at most (30,000 from the Log Analytics portal,
500,000 from the query API) lacks the rest, and data whose first or last minute is already inside an
episode lacks its onset or its recovery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from analysis.diagnosis.onset import Episode
from analysis.sources.quality import ROW_CAPS, Cut, CutKind, DataQuality


def cuts(rows: int | None, episodes: Iterable[tuple[str, Episode]]) -> tuple[Cut, ...]:
    """How the data was cut: a row count a service stops at, an episode already running at its first minute or
    still running at its last (``episodes``: each affected destination's label and episodes).

    >>> [c.kind.value for c in cuts(30_000, [])]
    ['row_cap']
    """
    found = []
    if rows in ROW_CAPS:
        found.append(
            Cut(
                CutKind.ROW_CAP,
                f"the export holds exactly {rows:,} rows and {ROW_CAPS[rows]}: it was cut, and the rows beyond it "
                f"are missing (export in parts, or from the storage archive)",
            )
        )
    runs = list(episodes)
    started = sorted({label for label, e in runs if not e.onset_observed})
    if started:
        found.append(
            Cut(
                CutKind.STARTS_INSIDE_EPISODE,
                f"the data starts inside an episode of {', '.join(started)}: its onset is before the data starts "
                f"(give an earlier --start, or export from earlier)",
            )
        )
    running = sorted({label for label, e in runs if e.recovery is None})
    if running:
        found.append(
            Cut(
                CutKind.ENDS_INSIDE_EPISODE,
                f"the data ends inside an episode of {', '.join(running)}: its recovery is after the data ends",
            )
        )
    return tuple(found)


def with_cuts(quality: DataQuality | None, rows: int, found: tuple[Cut, ...]) -> DataQuality | None:
    """``quality`` with the cuts found; a source that read no rows itself gets a record when the data was cut."""
    if quality is None:
        return DataQuality(rows, cut=found, values_read=False) if found else None
    return replace(quality, cut=found)
