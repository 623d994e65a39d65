"""``generate``: one scenario in, gateway log rows and their ground truth out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.synthetic import ports
from analysis.synthetic.gateway_logs import DestinationDraw, build_rows
from analysis.synthetic.outcomes import draw_outcomes
from analysis.synthetic.scenarios import Behaviour, Destination, Scenario
from analysis.synthetic.traffic import Calls, caller_table, draw_calls
from analysis.synthetic.truth import DestinationTruth, destination_truth, truth_json


@dataclass(frozen=True, eq=False)
class Incident:
    """Generated gateway logs (``ApiManagementGatewayLogs`` shape) and what really happened."""

    scenario: Scenario
    logs: pd.DataFrame
    truth: dict[str, DestinationTruth]

    def truth_json(self) -> str:
        """Ground truth as JSON text with ISO 8601 ``Z`` times."""
        return truth_json(self.scenario, self.truth)


def _per_minute(
    scenario: Scenario, calls: Calls, requests_per_connection: float, scenario_failures: np.ndarray
) -> pd.DataFrame:
    """Port bookkeeping per minute for one destination."""
    minutes = scenario.duration_minutes
    requests = np.bincount(calls.minute, minlength=minutes)
    backend = np.bincount(calls.minute[~calls.cache_hit], minlength=minutes)
    connections = ports.new_connections(backend, requests_per_connection)
    demand = ports.trailing_demand(connections)
    capacity = np.full(minutes, scenario.capacity, dtype=np.int64)
    index = pd.date_range(pd.Timestamp(scenario.start), periods=minutes, freq="min", unit="us", name="minute")
    return pd.DataFrame(
        {
            "requests": requests,
            "backend_requests": backend,
            "new_connections": connections,
            "demand": demand,
            "capacity": capacity,
            "utilisation": demand / scenario.capacity,
            "failure_share": ports.failure_share(demand, scenario.capacity),
            "scenario_connection_failures": np.bincount(calls.minute[scenario_failures], minlength=minutes),
        },
        index=index,
    )


def _noise_rate(scenario: Scenario, destination: Destination) -> float:
    """Isolated failures go to healthy destinations only, so every other behaviour stays clean."""
    return scenario.noise.isolated_failure_rate if destination.behaviour == Behaviour.HEALTHY else 0.0


def generate(scenario: Scenario) -> Incident:
    """Draw the scenario's gateway logs and compute its ground truth.

    Deterministic: the same scenario (seed included) gives the same rows.

    >>> from analysis.synthetic.library import scenario
    >>> incident = generate(scenario("snat_only"))
    >>> incident.truth["orders.contoso-backend.com:443"].classification
    'snat_exhaustion'
    """
    rng = np.random.default_rng(scenario.seed)
    callers = caller_table(scenario.callers, scenario.destinations)
    draws: list[DestinationDraw] = []
    truth: dict[str, DestinationTruth] = {}
    for destination in scenario.destinations:
        calls = draw_calls(destination, scenario.duration_minutes, callers, len(scenario.callers), rng)
        bookkeeping = _per_minute(
            scenario, calls, destination.requests_per_connection, np.zeros(len(calls), dtype=bool)
        )
        outcomes = draw_outcomes(
            calls,
            destination,
            bookkeeping["failure_share"].to_numpy(),
            bookkeeping["utilisation"].to_numpy(),
            _noise_rate(scenario, destination),
            scenario.forward_timeout_s * 1000.0,
            rng,
        )
        bookkeeping["scenario_connection_failures"] = np.bincount(
            calls.minute[outcomes.scenario_failure], minlength=scenario.duration_minutes
        )
        draws.append(DestinationDraw(destination, calls, outcomes))
        truth[destination.key] = destination_truth(scenario, destination, bookkeeping)
    logs = build_rows(draws, scenario, callers, rng)
    return Incident(scenario=scenario, logs=logs, truth=truth)
