"""The ground truth as ``truth.json``: stable text, ISO 8601 ``Z`` times, lists of scalars on one line.

Keys: the ``destinations`` object is keyed ``host:port`` in a one-region
scenario and ``region/host:port`` otherwise. Per destination it holds the
episodes (a recovery ``null`` when the failures last to the scenario's end),
whether the logged rows show each onset and recovery, and per minute the
attempted port demand and the ports held of its busiest pool and unit.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pandas as pd

from analysis.synthetic.ports import PORT_HOLD_MINUTES
from analysis.synthetic.scenarios import Region, Scenario
from analysis.synthetic.truth import DestinationTruth, PoolTruth, ScenarioTruth, TruthKey, minute_at


def iso_z(value: datetime | pd.Timestamp | None) -> str | None:
    """ISO 8601 UTC text with a ``Z``, whole seconds.

    >>> iso_z(pd.Timestamp("2025-02-25 09:19:00"))
    '2025-02-25T09:19:00Z'
    """
    if value is None:
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_key(key: TruthKey) -> str:
    """A truth key as ``truth.json`` writes it: ``host:port``, or ``region/host:port``.

    >>> json_key(("North Europe", "a.example.com:443"))
    'North Europe/a.example.com:443'
    """
    return key if isinstance(key, str) else f"{key[0]}/{key[1]}"


def _destination_document(item: DestinationTruth) -> dict[str, Any]:
    frame = item.per_minute
    return {
        "region": item.region,
        "destination": item.destination,
        "base_url": item.base_url,
        "behaviour": str(item.behaviour),
        "cause": item.cause,
        "classification": item.classification,
        "in_logs": item.in_logs,
        "onset": iso_z(item.onset),
        "recovery": iso_z(item.recovery),
        "episodes": [[iso_z(s), iso_z(e)] for s, e in item.episodes],
        "episodes_observed": [{"onset": onset, "recovery": recovery} for onset, recovery in item.observed],
        "incident_start": iso_z(item.incident_start),
        "incident_end": iso_z(item.incident_end),
        "pools": [[p.region, p.ip, p.port] for p in item.pools],
        "peak_demand": round(item.peak_demand, 1),
        "peak_held": round(item.peak_held, 1),
        "per_minute": {
            "minute": [iso_z(m) for m in frame.index],
            "requests": frame["requests"].astype(int).tolist(),
            "concurrency": frame["concurrency"].round(1).tolist(),
            "demand_attempted": frame["demand_attempted"].round(1).tolist(),
            "held": frame["held"].round(1).tolist(),
            "own_demand": frame["own_demand"].round(1).tolist(),
            "capacity": frame["capacity"].astype(int).tolist(),
            "failure_share": frame["failure_share"].round(4).tolist(),
            "refused_share": frame["refused_share"].round(4).tolist(),
            "scenario_connection_failures": frame["scenario_connection_failures"].astype(int).tolist(),
        },
    }


def _pool_document(pool: PoolTruth) -> dict[str, Any]:
    return {
        "region": pool.key.region,
        "ip": pool.key.ip,
        "port": pool.key.port,
        "members": list(pool.members),
        "units": pool.units,
        "capacity_per_unit": pool.capacity_per_unit,
        "peak_demand": round(pool.peak_demand, 1),
        "peak_held": round(pool.peak_held, 1),
        "peak_region_demand": round(pool.peak_region_demand, 1),
        "exhausted": pool.exhausted,
        "exhausted_units": list(pool.exhausted_units),
        "demand_attempted_by_unit": [row.round(1).tolist() for row in pool.demand],
        "held_by_unit": [row.round(1).tolist() for row in pool.held],
    }


def _region_document(scenario: Scenario, region: Region) -> dict[str, Any]:
    return {
        "name": region.name,
        "units": region.units,
        "share": region.share,
        "scale_out": [[iso_z(minute_at(scenario, m)), units] for m, units in region.scale_out],
    }


def truth_document(scenario: Scenario, truth: ScenarioTruth) -> dict[str, Any]:
    """The ground truth as plain JSON-ready data."""
    end = pd.Timestamp(scenario.start) + pd.Timedelta(minutes=scenario.duration_minutes)
    setting, assumed, schedule, covered = scenario.logging, scenario.assumptions, scenario.syn_schedule, truth.logged
    return {
        "scenario": scenario.name,
        "start": iso_z(scenario.start),
        "end": iso_z(end),
        "snat_ports_per_instance": scenario.snat_ports,
        "units": scenario.gateway_regions[0].units,
        "capacity": scenario.capacity,
        "regions": [_region_document(scenario, r) for r in scenario.gateway_regions],
        "port_hold_minutes": PORT_HOLD_MINUTES,
        "syn_schedule": {
            "initial_rto_s": schedule.initial_rto_s,
            "retransmissions": schedule.retransmissions,
            "retries_s": [ms / 1000.0 for ms in schedule.retry_ms],
        },
        "connect_timeout_s": scenario.connect_timeout_s,
        "connect_timeout_spread_s": scenario.connect_timeout_spread_s,
        "forward_timeout_s": scenario.forward_timeout_s,
        "logging": {
            "sampling_percent": setting.sampling_percent,
            "always_log_errors": setting.always_log_errors,
            "verbosity": str(setting.verbosity),
            "export_columns": list(scenario.export_columns) or None,
            "export_row_cap": scenario.export_row_cap,
        },
        "logged": {"rows": covered.rows, "first": iso_z(covered.first), "last": iso_z(covered.last)},
        "assumptions": {
            "units": assumed.units,
            "log_sampling_percent": assumed.log_sampling_percent,
            "ip_map": "ip_map.csv" if assumed.ip_map else None,
            "snat_ports": assumed.snat_ports,
        },
        "expected_verdict": truth.expected_verdict,
        "missing": list(truth.missing),
        "dropped_minutes": [iso_z(minute_at(scenario, m)) for m in scenario.noise.dropped_minutes],
        "side_call_failures": truth.side_call_failures,
        "destinations": {json_key(k): _destination_document(t) for k, t in truth.destinations.items()},
        "pools": [_pool_document(p) for p in truth.pools.values()],
    }


def truth_json(scenario: Scenario, truth: ScenarioTruth) -> str:
    """The ground truth as stable JSON text (same input, same bytes), lists of scalars on one line."""
    text = json.dumps(truth_document(scenario, truth), indent=2)
    return _SCALAR_LIST.sub(lambda m: "[" + re.sub(r"\s*\n\s*", "", m.group(1)) + "]", text) + "\n"


#: An indented JSON list holding no list or object.
_SCALAR_LIST = re.compile(r"\[(\s*\n[^\[\]{}]*?)\]")
