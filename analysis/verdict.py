"""The one-word answer for the whole window, and the cross-destination timeline."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.assumptions import Assumptions
from analysis.classify import Assessment

VERDICTS = ("snat_exhaustion", "no_snat_evidence", "insufficient_data")
MIN_ACTIVE_MINUTES = 10


@dataclass(frozen=True)
class Verdict:
    """``verdict`` is one of ``VERDICTS``; ``reason`` says why in a sentence."""

    verdict: str
    reason: str


def decide(assessments: list[Assessment], frame: pd.DataFrame, assumptions: Assumptions) -> Verdict:
    """SNAT only when a destination was classified so; too little traffic is said, not guessed.

    >>> decide([], pd.DataFrame({"minute": [], "requests": []}), Assumptions()).verdict
    'insufficient_data'
    """
    requests = int(frame["requests"].sum()) if len(frame) else 0
    active = int(frame.loc[frame["requests"] > 0, "minute"].nunique()) if len(frame) else 0
    if requests < assumptions.min_requests or active < MIN_ACTIVE_MINUTES:
        return Verdict(
            "insufficient_data",
            f"{requests} requests in {active} minutes with traffic; judging needs at least "
            f"{assumptions.min_requests} requests over {MIN_ACTIVE_MINUTES} minutes",
        )
    exhausted = [a.destination for a in assessments if a.classification == "snat_exhaustion"]
    if exhausted:
        return Verdict("snat_exhaustion", f"SNAT port exhaustion on {', '.join(exhausted)}")
    troubled = [f"{a.destination} ({a.classification})" for a in assessments if a.classification != "healthy"]
    if troubled:
        return Verdict("no_snat_evidence", f"no destination shows SNAT exhaustion; other trouble: {', '.join(troubled)}")
    return Verdict("no_snat_evidence", f"all {len(assessments)} destinations healthy over {requests} requests")


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
                    {"time": when, "destination": assessment.destination, "event": event,
                     "classification": assessment.classification}
                )
    return sorted(events, key=lambda e: (e["time"], e["destination"]))
