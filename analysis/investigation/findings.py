"""The findings document: what the report concludes, for machines (``findings.json``).

Its shape is fixed by ``findings.schema.json`` beside this file; every document
is checked against it before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from analysis import __version__
from analysis.diagnosis.actions import actions_for, cases
from analysis.diagnosis.annotations import Annotation, units_noted
from analysis.diagnosis.assessment import Assessment, Check, Classification, HoldsIf, PoolAssessment, exhausted
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.callers import Span, episode_spans
from analysis.diagnosis.impact import affected, impact
from analysis.diagnosis.mitigations import Mitigation
from analysis.diagnosis.onset import Episode
from analysis.diagnosis.pools import IpMap
from analysis.diagnosis.sampling import SamplingSeen
from analysis.diagnosis.self_hosted import gateway
from analysis.diagnosis.trigger import triggers
from analysis.diagnosis.verdict import Verdict
from analysis.diagnosis.window import Diagnosis
from analysis.investigation.imports import skip_iri_checker
from analysis.sources.quality import DataQuality
from analysis.times import iso

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


def _episode(episode: Episode) -> dict[str, Any]:
    return {
        "onset": episode.onset,
        "peak": episode.peak,
        "recovery": episode.recovery,
        "failures": episode.events,
        "requests": episode.requests,
        "onset_observed": episode.onset_observed,
    }


def _holds_if(holds: HoldsIf | None) -> dict[str, Any] | None:
    """The range over which SNAT explains a pool's failures, for machines and people."""
    if holds is None:
        return None
    return {
        "statement": holds.statement,
        "ports_at_least": holds.ports_at_least,
        "ports_at_most": holds.ports_at_most,
        "per_unit_at_most": round(holds.per_unit_at_most, 1),
        "units": holds.units,
        "requests_per_connection": holds.requests_per_connection,
        "assumed_ports": holds.assumed_ports,
        "connect_timer_s": holds.connect_timer_s,
        "contradiction": holds.contradiction,
        "look_alike": holds.look_alike,
        "confirm": list(holds.confirm),
    }


def _check(check: Check) -> dict[str, Any]:
    threshold = list(check.threshold) if isinstance(check.threshold, tuple) else check.threshold
    return {
        "name": check.name,
        "passed": check.passed,
        "outcome": check.outcome,
        "measured": check.measured,
        "threshold": threshold,
        "weight": check.weight,
        "detail": check.detail,
    }


def destination_entry(assessment: Assessment) -> dict[str, Any]:
    """One destination of the document: the headline figures, its episodes, then all the evidence and the checks."""
    evidence = assessment.evidence
    traffic = evidence.traffic
    episode = assessment.episode
    pool = assessment.pool
    return _plain(
        {
            "destination": assessment.destination,
            "region": assessment.region,
            "pool": pool.id if pool is not None else None,
            "classification": assessment.classification,
            "confidence": assessment.confidence,
            "decided_by": list(assessment.decided_by),
            "alternatives": list(assessment.alternatives),
            "reason": assessment.reason,
            "requests": traffic.requests,
            "http_5xx": traffic.http_5xx,
            "failed_requests": traffic.failed_requests,
            "connection_failures": traffic.connection_failures,
            "p95_backend_ms": evidence.p95_backend_ms,
            "peak_snat_demand": traffic.peak_snat_demand,
            "peak_demand_low": traffic.peak_demand_low,
            "onset": episode.onset if episode else None,
            "peak": episode.peak if episode else None,
            "recovery": episode.recovery if episode else None,
            "onset_observed": episode.onset_observed if episode else None,
            "connect_timer_s": evidence.failure.connect_timer_s if evidence.failure is not None else None,
            "holds_if": _holds_if(pool.holds_if if pool is not None else None),
            "episodes": [_episode(e) for e in assessment.episodes],
            "evidence": evidence.as_dict(),
            "checks": [_check(c) for c in assessment.checks],
        }
    )


def pool_entry(pool: PoolAssessment, classes: dict[tuple[str, str], Classification]) -> dict[str, Any]:
    """One SNAT pool: where, which hosts (with their classification), its ports, its demand band, what the
    checks said."""
    failure, balance = pool.failure, pool.balance
    return _plain(
        {
            "id": pool.id,
            "region": pool.pool.region,
            "ip": pool.pool.ip,
            "port": pool.pool.port,
            "kind": pool.pool.kind,
            "members": [
                {
                    "destination": m.destination,
                    "weight": round(m.weight, 3),
                    "classification": classes.get((pool.pool.region, m.destination)),
                }
                for m in pool.pool.members
            ],
            "units": pool.capacity.units,
            "ports_per_unit": pool.capacity.ports_per_unit,
            "capacity": pool.capacity.high,
            "capacity_low": pool.capacity.low,
            "few_callers": pool.capacity.concentrated,
            "peak_demand_low": pool.peak_demand_low,
            "peak_demand_high": pool.peak_demand_high,
            "demand_at_onset_low": failure.demand_at_onset_low if failure else None,
            "demand_at_onset_high": failure.demand_at_onset if failure else None,
            "held_ports_low": failure.held_ports_low if failure else None,
            "held_ports_high": failure.held_ports_high if failure else None,
            "state": pool.state,
            "confidence": balance.confidence if balance else None,
            "support": balance.support if balance else None,
            "against": balance.against if balance else None,
            "decided_by": list(balance.decided_by) if balance else [],
            "reason": pool.reason,
            "holds_if": _holds_if(pool.holds_if),
            "episodes": [_episode(e) for e in pool.episodes],
            "checks": [_check(c) for c in pool.checks],
        }
    )


class Recorded(Protocol):
    """A query as it ran (``run.QueryRun``), as the document lists it."""

    def record(self) -> dict[str, Any]: ...


class Investigated(Protocol):
    """An investigation (``run.Investigation``) as the document reads it.

    A protocol rather than the class itself: the investigation makes its document by calling ``build``,
    so this module cannot import it back. ``runs`` are the queries the report lists; ``platform_metric`` is
    None unless the metric was fetched; ``calls`` are the ``calls_by_key`` results over ``call_spans``.
    """

    @property
    def verdict(self) -> Verdict: ...
    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]: ...
    @property
    def source(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def assumptions(self) -> Assumptions: ...
    @property
    def diagnosis(self) -> Diagnosis: ...
    @property
    def timeline(self) -> list[dict[str, Any]]: ...
    @property
    def mitigations(self) -> list[Mitigation]: ...
    @property
    def what_if(self) -> pd.DataFrame: ...
    @property
    def runs(self) -> Sequence[Recorded]: ...
    @property
    def platform_metric(self) -> dict[str, Any] | None: ...
    @property
    def ip_map(self) -> IpMap | None: ...
    @property
    def data_quality(self) -> DataQuality | None: ...
    @property
    def sampling(self) -> SamplingSeen | None: ...
    @property
    def self_hosted(self) -> bool: ...
    @property
    def calls(self) -> pd.DataFrame: ...
    @property
    def call_spans(self) -> Sequence[Span]: ...
    @property
    def instances(self) -> Sequence[str]: ...
    @property
    def annotations(self) -> Sequence[Annotation]: ...
    @property
    def incident_id(self) -> str: ...


def build(investigation: Investigated) -> dict[str, Any]:
    """The findings document of ``investigation``, ready for ``json.dumps``."""
    diagnosis, window, assumptions = investigation.diagnosis, investigation.window, investigation.assumptions
    verdict, sampling, quality = investigation.verdict, investigation.sampling, investigation.data_quality
    assessments, coverage, calls = diagnosis.assessments, diagnosis.coverage, investigation.calls
    notes = sorted(investigation.annotations, key=lambda note: note.time)
    classes = {a.key: a.classification for a in assessments}
    document = _plain(
        {
            "kit_version": __version__,
            "incident_id": investigation.incident_id or None,
            "instances": list(investigation.instances),
            "verdict": verdict.verdict,
            "confidence": verdict.confidence,
            "verdict_reason": verdict.reason,
            "window": {"start": iso(window[0]), "end": iso(window[1])},
            "source": investigation.source,
            "mode": investigation.mode,
            "assumptions": assumptions.as_dict() | {"snat_capacity": assumptions.snat_capacity},
            "logging": {
                "sampling_percent": coverage.sampling_percent,
                "error_only": coverage.error_only,
                "statement": sampling.statement if sampling is not None else coverage.logging,
                "sampling_seen": sampling.as_dict() if sampling is not None else None,
            },
            "gateway": gateway(investigation.self_hosted),
            "missing": list(coverage.missing),
            "absent_columns": list(coverage.absent_columns),
            "ip_map": investigation.ip_map is not None,
            "connect_timer_s": diagnosis.connect_timer_s,
            "impact": impact(assessments, diagnosis.minutes, window, calls, list(investigation.call_spans)),
            "trigger": [t.as_dict() for t in triggers(affected(assessments), diagnosis.minutes, calls, notes)],
            "annotations": [note.as_dict() for note in notes],
            "destinations": [destination_entry(a) for a in assessments],
            "pools": [pool_entry(p, classes) for p in diagnosis.pools],
            "timeline": investigation.timeline,
            "empirical_capacity": [
                {
                    "destination": e.destination,
                    "region": e.assessment.region,
                    "pool": e.pool.id,
                    "demand_at_onset": e.demand_at_onset,
                    "demand_at_onset_low": e.failure.demand_at_onset_low,
                    "held_ports_low": e.failure.held_ports_low,
                    "held_ports_high": e.failure.held_ports_high,
                    "assumed_capacity": e.pool.capacity.low,
                    "contradiction": e.pool.holds_if.contradiction if e.pool.holds_if else None,
                }
                for e in exhausted(assessments)
            ],
            "mitigations": [
                {
                    "id": m.id,
                    "title": m.title,
                    "reason": m.reason,
                    "destinations": list(m.destinations),
                    "condition": m.condition,
                }
                for m in investigation.mitigations
            ],
            "units_noted": units_noted(notes, _assumed_units(assumptions, assessments), _trouble(assessments, window)),
            "what_if": investigation.what_if.to_dict("records"),
            "queries": [run.record() for run in investigation.runs],
            "data_quality": quality.as_dict() if quality is not None else None,
        }
    )
    for case, entry in zip(cases(document), document["destinations"], strict=True):
        entry["actions"] = _plain([action.as_dict() for action in actions_for(case)])
    if investigation.platform_metric is not None:
        document["platform_metric"] = _plain(investigation.platform_metric)
    return document


def _assumed_units(assumptions: Assumptions, assessments: list[Assessment]) -> set[int]:
    """The units assumed in the regions the logs name (every region's when they name none)."""
    regions = {a.region for a in assessments} or {""}
    return {assumptions.units_in(region) for region in regions}


def _trouble(assessments: list[Assessment], window: tuple[pd.Timestamp, pd.Timestamp]) -> list[tuple]:
    """The episodes that units bear on: the exhausted destinations', else every troubled one's."""
    troubled = affected(assessments)
    exhausted_ones = [a for a in troubled if a.classification is Classification.SNAT_EXHAUSTION]
    return [span for a in exhausted_ones or troubled for span in episode_spans(a.episodes, window[1])]


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
