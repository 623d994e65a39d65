"""The one-word answer for the whole window, and the cross-destination timeline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from analysis.diagnosis.assessment import Assessment, Classification, Confidence, ExhaustedDestination, exhausted
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.coverage import Coverage

MIN_ACTIVE_MINUTES = 10


class Outcome(StrEnum):
    """The one-word answer; the values are the findings.json strings."""

    SNAT_EXHAUSTION = "snat_exhaustion"
    NO_SNAT_EVIDENCE = "no_snat_evidence"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Verdict:
    """``verdict`` is the answer; ``reason`` says why in a sentence; ``confidence`` how sure it is (None when the
    logs cannot tell)."""

    verdict: Outcome
    reason: str
    confidence: Confidence | None = None


_ORDER = list(Confidence)


def _least(confidences: list[Confidence]) -> Confidence:
    """The least sure of ``confidences`` (high when there are none)."""
    return max(confidences, key=_ORDER.index, default=Confidence.HIGH)


def decide(
    assessments: list[Assessment], health: pd.DataFrame, assumptions: Assumptions, coverage: Coverage | None = None
) -> Verdict:
    """SNAT only when a destination was classified so; logs that cannot tell, or too little traffic, are said.

    >>> print(decide([], pd.DataFrame({"minute": [], "requests": []}), Assumptions()).verdict)
    insufficient_data
    """
    missing = coverage.missing if coverage is not None else ()
    if missing:
        return Verdict(Outcome.INSUFFICIENT_DATA, f"the logs cannot tell: they lack {'; '.join(missing)}")
    requests = int(health["requests"].sum()) if len(health) else 0
    active = int(health.loc[health["requests"] > 0, "minute"].nunique()) if len(health) else 0
    if requests < assumptions.min_requests or active < MIN_ACTIVE_MINUTES:
        return Verdict(
            Outcome.INSUFFICIENT_DATA,
            f"{requests} requests in {active} minutes with traffic; judging needs at least "
            f"{assumptions.min_requests} requests over {MIN_ACTIVE_MINUTES} minutes",
        )
    found = exhausted(assessments)
    if found:
        names = ", ".join(dict.fromkeys(e.label for e in found))
        # As sure as the best-supported exhausted destination: the verdict says some destination ran out.
        sure = min((e.assessment.confidence for e in found), key=_ORDER.index)
        return Verdict(Outcome.SNAT_EXHAUSTION, f"SNAT port exhaustion on {names}; {_worst_episode(found)}", sure)
    unknown = [a.label for a in assessments if a.classification is Classification.UNKNOWN]
    if unknown:
        return Verdict(Outcome.INSUFFICIENT_DATA, f"the logs cannot tell what happened on {', '.join(unknown)}")
    troubled = [a for a in assessments if a.classification is not Classification.HEALTHY]
    if troubled:
        named = ", ".join(f"{a.label} ({a.classification})" for a in troubled)
        unsure = [a.label for a in troubled if Classification.SNAT_EXHAUSTION in a.alternatives]
        reason = f"no destination shows SNAT exhaustion; other trouble: {named}"
        if unsure:
            reason += f"; the evidence cannot rule out SNAT exhaustion on {', '.join(unsure)}"
        # As sure as the least sure of the troubled destinations: one that cannot rule out SNAT lowers it.
        return Verdict(Outcome.NO_SNAT_EVIDENCE, reason, _least([a.confidence for a in troubled]))
    return Verdict(
        Outcome.NO_SNAT_EVIDENCE,
        f"all {len(assessments)} destinations healthy over {requests} requests",
        Confidence.HIGH,
    )


def _minute(when: pd.Timestamp) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def _worst_episode(found: list[ExhaustedDestination]) -> str:
    """The worst episode of the exhausted pools (most failures), and how many there were."""
    runs = {(e.pool.id, r.onset): (e.pool, r) for e in found for r in e.pool.episodes}
    pool, worst = max(runs.values(), key=lambda item: item[1].events)
    end = f"{_minute(worst.recovery)} UTC" if worst.recovery is not None else "not recovered by the end of the window"
    text = f"worst episode {_minute(worst.onset)} UTC to {end} ({worst.events:,} failed connects in {pool.id})"
    if len(runs) > 1:
        text += f", {len(runs)} episodes in all"
    return text


def timeline(assessments: list[Assessment]) -> list[dict[str, object]]:
    """Onset, peak and recovery of every episode of every affected destination, in time order."""
    events = []
    for assessment in assessments:
        for episode in assessment.episodes or ((assessment.episode,) if assessment.episode else ()):
            for event, when in (("onset", episode.onset), ("peak", episode.peak), ("recovery", episode.recovery)):
                if when is not None:
                    events.append(
                        {
                            "time": when,
                            "destination": assessment.destination,
                            "region": assessment.region,
                            "event": event,
                            "classification": assessment.classification,
                        }
                    )
    return sorted(events, key=lambda e: (e["time"], e["region"], e["destination"]))
