"""The one-word answer for the whole window, and the cross-destination timeline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from analysis.assessment import Assessment, Classification, exhausted
from analysis.assumptions import Assumptions

MIN_ACTIVE_MINUTES = 10


class Outcome(StrEnum):
    """The one-word answer; the values are the findings.json strings."""

    SNAT_EXHAUSTION = "snat_exhaustion"
    NO_SNAT_EVIDENCE = "no_snat_evidence"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Verdict:
    """``verdict`` is the answer; ``reason`` says why in a sentence."""

    verdict: Outcome
    reason: str


def decide(assessments: list[Assessment], frame: pd.DataFrame, assumptions: Assumptions) -> Verdict:
    """SNAT only when a destination was classified so; too little traffic is said, not guessed.

    >>> print(decide([], pd.DataFrame({"minute": [], "requests": []}), Assumptions()).verdict)
    insufficient_data
    """
    requests = int(frame["requests"].sum()) if len(frame) else 0
    active = int(frame.loc[frame["requests"] > 0, "minute"].nunique()) if len(frame) else 0
    if requests < assumptions.min_requests or active < MIN_ACTIVE_MINUTES:
        return Verdict(
            Outcome.INSUFFICIENT_DATA,
            f"{requests} requests in {active} minutes with traffic; judging needs at least "
            f"{assumptions.min_requests} requests over {MIN_ACTIVE_MINUTES} minutes",
        )
    names = [e.destination for e in exhausted(assessments)]
    if names:
        return Verdict(Outcome.SNAT_EXHAUSTION, f"SNAT port exhaustion on {', '.join(names)}")
    troubled = [
        f"{a.destination} ({a.classification})" for a in assessments if a.classification is not Classification.HEALTHY
    ]
    if troubled:
        return Verdict(
            Outcome.NO_SNAT_EVIDENCE,
            f"no destination shows SNAT exhaustion; other trouble: {', '.join(troubled)}",
        )
    return Verdict(Outcome.NO_SNAT_EVIDENCE, f"all {len(assessments)} destinations healthy over {requests} requests")


def timeline(assessments: list[Assessment]) -> list[dict[str, object]]:
    """Onset, peak and recovery of every affected destination, in time order."""
    events = []
    for assessment in assessments:
        episode = assessment.episode
        if episode is None:
            continue
        for event, when in (("onset", episode.onset), ("peak", episode.peak), ("recovery", episode.recovery)):
            if when is not None:
                events.append(
                    {
                        "time": when,
                        "destination": assessment.destination,
                        "event": event,
                        "classification": assessment.classification,
                    }
                )
    return sorted(events, key=lambda e: (e["time"], e["destination"]))
