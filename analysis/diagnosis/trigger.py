"""What changed just before each onset: the calls' rate, who sent the rise, the answered calls' latency, the notes.

"Why now" is the first question of a review. For each episode of a troubled destination the minutes just before
its onset are set against the baseline before them: when the calls per minute rose to at least
``RISE_FACTOR`` times the baseline, the first such minute is the change, and the keys of ``calls_by_key`` (API,
operation, product, subscription, caller range) that added most of the rise are who sent it. The answered calls'
p95 is compared the same way (a rise there is a slower backend, or connects that got through late), and every
``--annotate`` note of the ``NOTE_MINUTES`` before the onset is named. Pure: frames in, ``Trigger`` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assessment import Assessment, Classification
from analysis.diagnosis.callers import (
    KEY_KINDS,
    KEY_WORDS,
    LEAD_MINUTES,
    MIN_BASELINE_MINUTES,
    ONE_MINUTE,
    answered_p95,
    baseline,
    calls_of,
)
from analysis.diagnosis.health import KEY
from analysis.diagnosis.onset import Episode

#: Calls per minute at least this many times the baseline, and at least ``MIN_RISE`` more, are a rise.
RISE_FACTOR = 2.0
MIN_RISE = 10.0
#: A key that sent at least this share of the rise, and this much more than its share of the baseline's calls,
#: is named as one who sent it (the only API of a destination sends all of any rise and says nothing).
DRIVER_SHARE = 0.25
DRIVER_EXCESS = 0.2
#: The order in which the sentence names who sent a rise: who called before what they called.
NAMED_FIRST = ("subscription", "caller_range", "product", "operation", "api")
#: The answered calls' p95 at least this many times the baseline's, and this many ms more, is a rise.
LATENCY_FACTOR = 2.0
MIN_LATENCY_RISE_MS = 200.0
#: The notes named with a trigger: those from this many minutes before the onset to its minute.
NOTE_MINUTES = 10
#: Episodes per destination whose trigger is looked for: the ones with the most failures (or slow minutes).
MAX_EPISODES = 3


@dataclass(frozen=True)
class Driver:
    """A key that sent much of a rise: its calls per minute before and after, and its share of the rise."""

    key_kind: str
    key: str
    before_per_minute: float
    after_per_minute: float
    share_of_rise: float
    share_before: float
    """Its share of the destination's calls in the baseline."""


@dataclass(frozen=True)
class Trigger:
    """What changed before one episode's onset; ``statement`` says it in a sentence."""

    destination: str
    region: str
    classification: Classification
    onset: pd.Timestamp
    onset_observed: bool
    baseline_per_minute: float | None = None
    change_at: pd.Timestamp | None = None
    peak_per_minute: float | None = None
    drivers: tuple[Driver, ...] = ()
    answered_p95_before_ms: float | None = None
    answered_p95_lead_ms: float | None = None
    notes: tuple[Annotation, ...] = field(default=())
    statement: str = ""

    @property
    def factor(self) -> float | None:
        """How many times the baseline rate the calls rose to; None without a rise."""
        if self.change_at is None or not self.baseline_per_minute or self.peak_per_minute is None:
            return None
        return self.peak_per_minute / self.baseline_per_minute

    @property
    def latency_rose(self) -> bool:
        before, lead = self.answered_p95_before_ms, self.answered_p95_lead_ms
        return (
            before is not None
            and lead is not None
            and lead >= LATENCY_FACTOR * before
            and lead - before >= MIN_LATENCY_RISE_MS
        )

    def as_dict(self) -> dict[str, Any]:
        factor = self.factor
        return {
            "destination": self.destination,
            "region": self.region,
            "classification": self.classification,
            "onset": self.onset,
            "onset_observed": self.onset_observed,
            "baseline_per_minute": _round(self.baseline_per_minute),
            "change_at": self.change_at,
            "peak_per_minute": _round(self.peak_per_minute),
            "factor": round(factor, 1) if factor is not None else None,
            "drivers": [
                {
                    "key_kind": d.key_kind,
                    "key": d.key,
                    "before_per_minute": round(d.before_per_minute, 1),
                    "after_per_minute": round(d.after_per_minute, 1),
                    "share_of_rise": round(d.share_of_rise, 3),
                    "share_before": round(d.share_before, 3),
                }
                for d in self.drivers
            ],
            "answered_p95_before_ms": _round(self.answered_p95_before_ms),
            "answered_p95_lead_ms": _round(self.answered_p95_lead_ms),
            "notes": [note.as_dict() for note in self.notes],
            "statement": self.statement,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _minutes(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["minute"] >= start) & (frame["minute"] < end)]


def _rise(own: pd.DataFrame, onset: pd.Timestamp) -> tuple[float | None, pd.Timestamp | None, float | None]:
    """The baseline calls per minute, the first minute from ``LEAD_MINUTES`` before the onset to the onset with a
    rise, and the most calls a minute from it to ``LEAD_MINUTES`` after the onset."""
    normal = _minutes(own, *baseline(onset))
    if (normal["requests"] > 0).sum() < MIN_BASELINE_MINUTES:
        return None, None, None
    rate = float(normal["requests"].mean())
    lead = _minutes(own, baseline(onset)[1], onset + ONE_MINUTE)
    risen = lead[(lead["requests"] >= RISE_FACTOR * rate) & (lead["requests"] - rate >= MIN_RISE)]
    if risen.empty:
        return rate, None, None
    change = pd.Timestamp(risen["minute"].min())
    after = _minutes(own, change, onset + pd.Timedelta(minutes=LEAD_MINUTES + 1))
    return rate, change, float(after["requests"].max())


def _drivers(calls: pd.DataFrame, onset: pd.Timestamp, change: pd.Timestamp) -> tuple[Driver, ...]:
    """The keys that sent at least ``DRIVER_SHARE`` of the rise in calls per minute, the largest first."""
    before = _minutes(calls, *baseline(onset))
    after = _minutes(calls, change, onset + pd.Timedelta(minutes=LEAD_MINUTES + 1))
    minutes_before, minutes_after = before["minute"].nunique(), after["minute"].nunique()
    if not minutes_before or not minutes_after:
        return ()
    rates = pd.concat(
        {
            "before": before.groupby(["key_kind", "key"])["requests"].sum() / minutes_before,
            "after": after.groupby(["key_kind", "key"])["requests"].sum() / minutes_after,
        },
        axis=1,
    ).fillna(0.0)
    total = rates.loc[("all", "")] if ("all", "") in rates.index else None
    if total is None or total["after"] <= total["before"]:
        return ()
    rise = float(total["after"] - total["before"])
    found = []
    for (kind, key), row in rates.iterrows():
        share = float(row["after"] - row["before"]) / rise
        before = float(row["before"]) / float(total["before"]) if total["before"] else 0.0
        if kind in KEY_KINDS and share >= DRIVER_SHARE and share - before >= DRIVER_EXCESS:
            found.append(Driver(str(kind), str(key), float(row["before"]), float(row["after"]), share, before))
    order = {kind: n for n, kind in enumerate(NAMED_FIRST)}
    return tuple(sorted(found, key=lambda d: (order[d.key_kind], -d.share_of_rise)))


def _notes(annotations: Sequence[Annotation], onset: pd.Timestamp) -> tuple[Annotation, ...]:
    """The notes from ``NOTE_MINUTES`` before the onset to its minute."""
    start = onset - pd.Timedelta(minutes=NOTE_MINUTES)
    return tuple(n for n in sorted(annotations, key=lambda n: n.time) if start <= n.time < onset + ONE_MINUTE)


def find(
    assessment: Assessment,
    episode: Episode,
    minutes: pd.DataFrame,
    calls: pd.DataFrame,
    annotations: Sequence[Annotation] = (),
) -> Trigger:
    """What changed before ``episode``'s onset on the destination of ``assessment``.

    ``minutes`` are the destination's minutes (the diagnosis's, so the rate is the one its charts show) and
    ``calls`` its ``calls_by_key`` rows.
    """
    base = Trigger(
        assessment.destination,
        assessment.region,
        assessment.classification,
        episode.onset,
        episode.onset_observed,
        notes=_notes(annotations, episode.onset),
    )
    if not episode.onset_observed:
        return _stated(base)
    rate, change, peak = _rise(minutes.sort_values("minute"), episode.onset)
    lead = baseline(episode.onset)[1]
    before_ms = answered_p95(calls, [baseline(episode.onset)], least=MIN_BASELINE_MINUTES)
    lead_ms = answered_p95(calls, [(lead, episode.onset)])
    drivers = _drivers(calls, episode.onset, change) if change is not None and len(calls) else ()
    found = replace(
        base,
        baseline_per_minute=rate,
        change_at=change,
        peak_per_minute=peak,
        drivers=drivers,
        answered_p95_before_ms=before_ms,
        answered_p95_lead_ms=lead_ms,
    )
    return _stated(found)


def _hhmm(when: pd.Timestamp) -> str:
    return f"{when:%H:%M}"


def _stated(found: Trigger) -> Trigger:
    """``found`` with its sentence."""
    name = f"{found.destination} ({found.region})" if found.region else found.destination
    if not found.onset_observed:
        text = f"the data starts inside the episode on {name}: what started it is not in the data"
    elif found.change_at is not None and found.factor is not None:
        lead = int((found.onset - found.change_at) / ONE_MINUTE)
        when = f"{lead} minute(s) before the onset at {_hhmm(found.onset)}" if lead else "at the onset"
        text = (
            f"at {_hhmm(found.change_at)} calls to {name} rose {found.factor:.1f}x, from about "
            f"{found.baseline_per_minute:,.0f} to {found.peak_per_minute:,.0f} a minute, {when}"
        )
        if found.drivers:
            text += "; " + "; ".join(_driver_text(d) for d in found.drivers[:3])
        else:
            text += "; the rise came from their usual callers, none of them out of proportion"
    elif found.baseline_per_minute is None:
        text = f"too few minutes before the onset at {_hhmm(found.onset)} on {name} to compare with"
    else:
        text = (
            f"calls to {name} did not rise before the onset at {_hhmm(found.onset)} (about "
            f"{found.baseline_per_minute:,.0f} a minute)"
        )
    if found.latency_rose:
        text += (
            f"; the answered calls' p95 rose from {found.answered_p95_before_ms:,.0f} to "
            f"{found.answered_p95_lead_ms:,.0f} ms in the {LEAD_MINUTES} minutes before it"
        )
    for note in found.notes:
        text += f"; note at {_hhmm(note.time)}: {note.label}"
    return replace(found, statement=text)


def _driver_text(driver: Driver) -> str:
    """``subscription partner-bulk-sync sent 52 % of the rise (8 to 250 a minute)``."""
    return (
        f"{KEY_WORDS[driver.key_kind]} {driver.key or '(none)'} sent {driver.share_of_rise:.0%} of the rise "
        f"({driver.before_per_minute:,.0f} to {driver.after_per_minute:,.0f} calls a minute)"
    )


def triggers(
    affected: list[Assessment],
    minutes: pd.DataFrame,
    calls: pd.DataFrame,
    annotations: Sequence[Annotation] = (),
) -> list[Trigger]:
    """The trigger of each affected destination's episodes (the ``MAX_EPISODES`` worst), in onset order."""
    by_key = dict(iter(minutes.groupby(KEY, sort=False))) if len(minutes) else {}
    found = []
    for assessment in affected:
        own = by_key.get(assessment.key, minutes.iloc[0:0])
        episodes = sorted(assessment.episodes, key=lambda e: (-e.events, e.onset))[:MAX_EPISODES]
        for episode in sorted(episodes, key=lambda e: e.onset):
            found.append(find(assessment, episode, own, calls_of(calls, assessment.key), annotations))
    return sorted(found, key=lambda t: (t.onset, t.destination))
