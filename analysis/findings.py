"""The findings document: what the report concludes, for machines (``findings.json``).

Its shape is fixed by ``findings.schema.json`` beside this file; every document
is checked against it before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import __version__
from analysis.assessment import Assessment, exhausted
from analysis.assumptions import Assumptions
from analysis.data_quality import DataQuality
from analysis.imports import skip_iri_checker
from analysis.mitigations import Mitigation
from analysis.times import iso
from analysis.verdict import Verdict

SCHEMA_PATH = Path(__file__).with_name("findings.schema.json")
FINDINGS_FILE = "findings.json"


def _plain(value: Any) -> Any:
    """JSON-ready copy: timestamps as ISO text, enums as their strings, numpy scalars as Python numbers."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def destination_entry(assessment: Assessment) -> dict[str, Any]:
    """One destination of the document: the headline figures, then all the evidence and the checks."""
    evidence = assessment.evidence
    traffic = evidence.traffic
    episode = assessment.episode
    return _plain(
        {
            "destination": assessment.destination,
            "classification": assessment.classification,
            "reason": assessment.reason,
            "requests": traffic.requests,
            "http_5xx": traffic.http_5xx,
            "connection_failures": traffic.connection_failures,
            "p95_backend_ms": evidence.p95_backend_ms,
            "peak_snat_demand": traffic.peak_snat_demand,
            "onset": episode.onset if episode else None,
            "peak": episode.peak if episode else None,
            "recovery": episode.recovery if episode else None,
            "evidence": evidence.as_dict(),
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in assessment.checks],
        }
    )


def build(
    *,
    verdict: Verdict,
    window: tuple[pd.Timestamp, pd.Timestamp],
    source: str,
    mode: str,
    assumptions: Assumptions,
    assessments: list[Assessment],
    timeline: list[dict[str, Any]],
    mitigations: list[Mitigation],
    what_if: pd.DataFrame,
    queries: Iterable[dict[str, Any]],
    data_quality: DataQuality | None = None,
) -> dict[str, Any]:
    """The findings document, ready for ``json.dumps``."""
    return _plain(
        {
            "kit_version": __version__,
            "verdict": verdict.verdict,
            "verdict_reason": verdict.reason,
            "window": {"start": iso(window[0]), "end": iso(window[1])},
            "source": source,
            "mode": mode,
            "assumptions": assumptions.as_dict() | {"snat_capacity": assumptions.snat_capacity},
            "destinations": [destination_entry(a) for a in assessments],
            "timeline": timeline,
            "empirical_capacity": [
                {
                    "destination": e.destination,
                    "demand_at_onset": e.demand_at_onset,
                    "assumed_capacity": assumptions.snat_capacity,
                }
                for e in exhausted(assessments)
            ],
            "mitigations": [
                {"id": m.id, "title": m.title, "reason": m.reason, "destinations": list(m.destinations)}
                for m in mitigations
            ],
            "what_if": what_if.to_dict("records"),
            "queries": list(queries),
            "data_quality": data_quality.as_dict() if data_quality is not None else None,
        }
    )


def validate(document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when the document breaks its schema."""
    skip_iri_checker()
    import jsonschema  # imported here: only writing needs it

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)


def dumps(document: dict[str, Any]) -> str:
    """Validated, stable JSON text."""
    validate(document)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
