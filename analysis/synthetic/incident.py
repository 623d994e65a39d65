"""``generate``: one scenario in, gateway log rows and their ground truth out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import KitError
from analysis.synthetic.addressing import PoolKey, check_addresses, ip_map
from analysis.synthetic.diagnostics import logged, newest, projected
from analysis.synthetic.gateway_logs import DestinationDraw, build_rows
from analysis.synthetic.outcomes import Limits, draw_outcomes, overload_share
from analysis.synthetic.pool_load import port_load
from analysis.synthetic.scenarios import Behaviour, Caller, Destination, Scenario
from analysis.synthetic.traffic import Calls, caller_table, draw_calls
from analysis.synthetic.truth import DestinationTruth, PoolTruth, ScenarioTruth, TruthKey, scenario_truth
from analysis.synthetic.truth_document import truth_json

#: Stream of the random generator that decides which requests the diagnostic setting logs, apart
#: from the one that draws them, so a logging setting changes no request.
LOGGING_STREAM = 1


@dataclass(frozen=True, eq=False)
class Incident:
    """Generated gateway logs and what really happened.

    ``logs`` is what the kit is handed: the rows the diagnostic setting kept,
    cut to the newest rows the export kept (then newest first), with the
    columns the export kept (``ApiManagementGatewayLogs`` shape).
    ``all_requests`` is every request with every column, as if logged at 100 %
    and information verbosity: for checking the physics, not for diagnosing.
    """

    scenario: Scenario
    logs: pd.DataFrame
    all_requests: pd.DataFrame
    facts: ScenarioTruth

    @property
    def truth(self) -> dict[TruthKey, DestinationTruth]:
        """Per destination: keyed ``host:port`` in a one-region scenario, ``(region, host:port)`` otherwise."""
        return self.facts.destinations

    @property
    def pools(self) -> dict[PoolKey, PoolTruth]:
        return self.facts.pools

    @property
    def expected_verdict(self) -> str:
        """``snat_exhaustion``, ``no_snat_evidence`` or ``insufficient_data`` (the logs cannot tell)."""
        return self.facts.expected_verdict

    def truth_at(self, region: str, destination: str) -> DestinationTruth:
        """The truth of ``destination`` (``host:port``) in ``region``, whatever the keying."""
        for item in self.truth.values():
            if item.region == region and item.destination == destination:
                return item
        raise KitError(f"scenario {self.scenario.name}: no destination {destination} in region {region!r}")

    def truth_json(self) -> str:
        """Ground truth as JSON text with ISO 8601 ``Z`` times."""
        return truth_json(self.scenario, self.facts)

    def ip_map(self) -> pd.DataFrame:
        """The ``host,ip`` map a user would give with ``--ip-map`` (one row per host and IP)."""
        return ip_map(self.scenario)

    def write_ip_map(self, path: str | Path) -> Path:
        """Write :meth:`ip_map` as CSV (``host,ip``) and return the path."""
        target = Path(path)
        self.ip_map().to_csv(target, index=False, lineterminator="\n")
        return target


def _noise_rate(scenario: Scenario, destination: Destination) -> float:
    """Isolated failures go to healthy destinations only, so every other behaviour stays clean."""
    return scenario.noise.isolated_failure_rate if destination.behaviour == Behaviour.HEALTHY else 0.0


def _limits(scenario: Scenario, calls: Calls, callers: tuple[Caller, ...], rng: np.random.Generator) -> Limits:
    """The timers of each call; a connect budget that varies per call is drawn only when it does vary."""
    client = np.array([c.timeout_s * 1000.0 if c.timeout_s else np.inf for c in callers])
    schedule = scenario.syn_schedule
    connect = np.full(len(calls), schedule.give_up_ms)
    if scenario.connect_timeout_spread_s > 0:
        connect -= rng.uniform(0.0, 1000.0 * scenario.connect_timeout_spread_s, len(calls))
    return Limits(schedule, connect, scenario.forward_timeout_s * 1000.0, client[calls.caller])


def generate(scenario: Scenario) -> Incident:
    """Draw the scenario's gateway logs and compute its ground truth.

    Deterministic: the same scenario (seed included) gives the same rows.

    >>> from analysis.synthetic.library import scenario
    >>> incident = generate(scenario("snat_only"))
    >>> incident.truth["orders.contoso-backend.com:443"].classification
    'snat_exhaustion'
    """
    check_addresses(scenario)
    rng = np.random.default_rng(scenario.seed)
    callers = caller_table(scenario.callers, scenario.destinations)
    regions = scenario.gateway_regions
    calls = [
        draw_calls(d, scenario.duration_minutes, callers, len(scenario.callers), regions, rng)
        for d in scenario.destinations
    ]
    load, states = port_load(scenario, calls)
    draws: list[DestinationDraw] = []
    outcomes = []
    for destination, drawn, state in zip(scenario.destinations, calls, states, strict=False):
        rate = np.bincount(drawn.minute[drawn.backend], minlength=scenario.duration_minutes).astype(np.float64)
        refused = overload_share(rate, destination)[drawn.minute]
        out = draw_outcomes(
            drawn,
            destination,
            state,
            refused,
            _noise_rate(scenario, destination),
            _limits(scenario, drawn, callers, rng),
            rng,
        )
        outcomes.append(out)
        draws.append(DestinationDraw(destination, drawn, out))
    rows = build_rows(draws, scenario, callers, rng)
    kept = logged(rows, scenario.logging, np.random.default_rng([scenario.seed, LOGGING_STREAM]))
    kept = newest(kept, scenario.export_row_cap)
    facts = scenario_truth(scenario, load, calls, outcomes, kept)
    return Incident(scenario=scenario, logs=projected(kept, scenario.export_columns), all_requests=rows, facts=facts)
