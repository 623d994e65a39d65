"""Ground truth of a synthetic incident: what each destination really suffered, and when.

The truth comes from the model, not from the rows, so ingestion gaps and
random draws cannot blur it: a diagnosis is graded against what was caused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.synthetic.scenarios import Behaviour, Destination, Scenario

#: A minute counts as a SNAT failure minute from this modelled failure share on.
SUSTAINED_SHARE = 0.01
#: Failure minutes must come in runs at least this long to count as sustained.
SUSTAINED_MINUTES = 2

CLASSIFICATIONS = ("snat_exhaustion", "backend_unreachable", "backend_errors", "slow_backend", "healthy")


@dataclass(frozen=True, eq=False)
class DestinationTruth:
    """What happened at one ``host:port``.

    ``onset``/``recovery`` bound the sustained connection failures the scenario
    caused (ports or outage): the first failure minute, and the first minute
    after the last one; both ``None`` when there were none. ``incident_start``
    and ``incident_end`` bound the symptom of any classification the same way
    (for ``slow_backend`` and ``backend_errors`` that is the behaviour window).
    ``per_minute`` holds, per scenario minute, the requests, backend requests,
    new connections, trailing-4-minute port demand, capacity, utilisation,
    modelled SNAT failure share and connection failures the scenario caused.
    """

    key: str
    base_url: str
    behaviour: Behaviour
    classification: str
    onset: pd.Timestamp | None
    recovery: pd.Timestamp | None
    incident_start: pd.Timestamp | None
    incident_end: pd.Timestamp | None
    per_minute: pd.DataFrame

    @property
    def peak_demand(self) -> float:
        """Highest trailing-4-minute port demand of the scenario."""
        return float(self.per_minute["demand"].max())


def sustained_runs(flags: npt.ArrayLike, min_length: int = SUSTAINED_MINUTES) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of true values at least ``min_length`` long.

    >>> sustained_runs([0, 1, 0, 1, 1, 1, 0, 1, 1])
    [(3, 6), (7, 9)]
    """
    values = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate(([0], values.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_length]


def _minute(scenario: Scenario, offset: int | None) -> pd.Timestamp | None:
    if offset is None:
        return None
    return pd.Timestamp(scenario.start).as_unit("us") + pd.Timedelta(minutes=offset)


def destination_truth(scenario: Scenario, destination: Destination, per_minute: pd.DataFrame) -> DestinationTruth:
    """Classify one destination and place its onset and recovery."""
    runs = sustained_runs(per_minute["failure_share"].to_numpy() >= SUSTAINED_SHARE)
    window = destination.window
    failure_span: tuple[int, int] | None = None
    incident_span: tuple[int, int] | None = None
    if runs:
        classification = "snat_exhaustion"
        failure_span = incident_span = (runs[0][0], runs[-1][1])
    elif destination.behaviour == Behaviour.OUTAGE and window is not None:
        classification = "backend_unreachable"
        failure_span = incident_span = (window.start_minute, min(window.end_minute, scenario.duration_minutes))
    elif destination.behaviour == Behaviour.APP_ERRORS and window is not None:
        classification = "backend_errors"
        incident_span = (window.start_minute, min(window.end_minute, scenario.duration_minutes))
    elif destination.behaviour == Behaviour.SLOW and window is not None:
        classification = "slow_backend"
        incident_span = (window.start_minute, min(window.end_minute, scenario.duration_minutes))
    else:
        classification = "healthy"
    return DestinationTruth(
        key=destination.key,
        base_url=destination.base_url,
        behaviour=destination.behaviour,
        classification=classification,
        onset=_minute(scenario, failure_span[0] if failure_span else None),
        recovery=_minute(scenario, failure_span[1] if failure_span else None),
        incident_start=_minute(scenario, incident_span[0] if incident_span else None),
        incident_end=_minute(scenario, incident_span[1] if incident_span else None),
        per_minute=per_minute,
    )


def iso_z(value: datetime | pd.Timestamp | None) -> str | None:
    """ISO 8601 UTC text with a ``Z``, whole seconds.

    >>> iso_z(pd.Timestamp("2025-02-25 09:19:00"))
    '2025-02-25T09:19:00Z'
    """
    if value is None:
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def truth_document(scenario: Scenario, truth: dict[str, DestinationTruth]) -> dict[str, Any]:
    """The ground truth as plain JSON-ready data."""
    end = pd.Timestamp(scenario.start) + pd.Timedelta(minutes=scenario.duration_minutes)
    destinations: dict[str, Any] = {}
    for key, item in truth.items():
        frame = item.per_minute
        destinations[key] = {
            "base_url": item.base_url,
            "behaviour": str(item.behaviour),
            "classification": item.classification,
            "onset": iso_z(item.onset),
            "recovery": iso_z(item.recovery),
            "incident_start": iso_z(item.incident_start),
            "incident_end": iso_z(item.incident_end),
            "peak_demand": round(item.peak_demand, 1),
            "per_minute": {
                "minute": [iso_z(m) for m in frame.index],
                "requests": frame["requests"].astype(int).tolist(),
                "demand": frame["demand"].round(1).tolist(),
                "capacity": frame["capacity"].astype(int).tolist(),
                "failure_share": frame["failure_share"].round(4).tolist(),
                "scenario_connection_failures": frame["scenario_connection_failures"].astype(int).tolist(),
            },
        }
    return {
        "scenario": scenario.name,
        "start": iso_z(scenario.start),
        "end": iso_z(end),
        "snat_ports_per_instance": scenario.snat_ports,
        "units": scenario.units,
        "capacity": scenario.capacity,
        "port_hold_minutes": 4,
        "dropped_minutes": [iso_z(_minute(scenario, m)) for m in scenario.noise.dropped_minutes],
        "destinations": destinations,
    }


def truth_json(scenario: Scenario, truth: dict[str, DestinationTruth]) -> str:
    """The ground truth as stable JSON text (same input, same bytes), lists of scalars on one line."""
    text = json.dumps(truth_document(scenario, truth), indent=2)
    return _SCALAR_LIST.sub(lambda m: "[" + re.sub(r"\s*\n\s*", "", m.group(1)) + "]", text) + "\n"


#: An indented JSON list holding no list or object.
_SCALAR_LIST = re.compile(r"\[(\s*\n[^\[\]{}]*?)\]")
