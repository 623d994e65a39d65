"""How each verdict and classification reads: one table for the postmortem, the fleet index and the explorer.

The values of the enums are findings.json's; these are the words people read.
"""

from __future__ import annotations

from typing import Any

from analysis.diagnosis.assessment import Classification
from analysis.diagnosis.verdict import Outcome

HEADLINES = {
    Outcome.SNAT_EXHAUSTION: "SNAT port exhaustion",
    Outcome.NO_SNAT_EVIDENCE: "No evidence of SNAT port exhaustion",
    Outcome.INSUFFICIENT_DATA: "Not enough to judge",
}
WHAT = {
    Classification.SNAT_EXHAUSTION: "SNAT port exhaustion",
    Classification.BACKEND_UNREACHABLE: "backend unreachable",
    Classification.BACKEND_ERRORS: "backend errors",
    Classification.SLOW_BACKEND: "slow backend",
    Classification.HEALTHY: "healthy",
    Classification.UNKNOWN: "unknown",
}


def what(classification: str) -> str:
    """A classification from the findings in words.

    >>> what("snat_exhaustion"), what("backend_errors")
    ('SNAT port exhaustion', 'backend errors')
    """
    return WHAT[Classification(classification)]


def headline(verdict: str | None) -> str:
    """A verdict from the findings in words; None for a report that did not render.

    >>> headline("no_snat_evidence"), headline(None)
    ('No evidence of SNAT port exhaustion', 'Failed to render')
    """
    return "Failed to render" if verdict is None else HEADLINES[Outcome(verdict)]


def destination_name(entry: dict[str, Any]) -> str:
    """The destination, with its region when the logs carry one (plain text, for tables)."""
    return f"{entry['destination']} ({entry['region']})" if entry.get("region") else entry["destination"]
