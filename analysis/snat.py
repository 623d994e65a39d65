"""The SNAT demand model: how many ports each destination needed, minute by minute.

A backend connection takes one SNAT port for its destination IP:port. When it
closes, the port stays taken for ``port_hold_minutes`` more (240 s after FIN).
So the ports a destination holds at minute *t* are about the connections it
opened in the trailing window ending at *t*; connections opened are requests
divided by how many requests one connection carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.assumptions import TARGET_UTILISATION, Assumptions


def _trailing_demand(frame: pd.DataFrame, requests_per_connection: float, hold_minutes: int) -> pd.Series:
    """Connections opened in each destination's trailing ``hold_minutes`` window."""
    opened = frame["requests"] / requests_per_connection
    return opened.groupby(frame["destination"]).transform(
        lambda series: series.rolling(hold_minutes, min_periods=1).sum()
    )


def snat_demand(health: pd.DataFrame, assumptions: Assumptions) -> pd.DataFrame:
    """The health frame plus connections opened, SNAT demand, capacity and utilisation per minute.

    ``health`` must hold every minute of every destination (``health.complete_minutes``).

    >>> frame = pd.DataFrame({"destination": ["a:443"] * 5,
    ...                       "minute": pd.date_range("2025-01-01", periods=5, freq="min"),
    ...                       "requests": [100, 100, 100, 100, 100]})
    >>> snat_demand(frame, Assumptions(snat_ports=300))["snat_demand"].tolist()
    [100.0, 200.0, 300.0, 400.0, 400.0]
    """
    frame = health.sort_values(["destination", "minute"]).reset_index(drop=True)
    frame["connections_opened"] = frame["requests"] / assumptions.requests_per_connection
    frame["snat_demand"] = _trailing_demand(frame, assumptions.requests_per_connection, assumptions.port_hold_minutes)
    frame["snat_capacity"] = float(assumptions.snat_capacity)
    frame["utilisation"] = frame["snat_demand"] / frame["snat_capacity"]
    return frame


@dataclass(frozen=True)
class Setting:
    """One what-if: other units, backend IPs or connection reuse than the incident had."""

    label: str
    units: int
    backend_ips: int = 1
    requests_per_connection: float = 1.0


def what_if(
    health: pd.DataFrame, destinations: list[str], assumptions: Assumptions, settings: list[Setting]
) -> pd.DataFrame:
    """Replay the per-minute requests of ``destinations`` under each setting.

    Spreading a backend over K IPs divides its demand by K (ports are per
    destination IP:port); more units multiply the capacity.

    >>> frame = pd.DataFrame({"destination": ["a:443"] * 4,
    ...                       "minute": pd.date_range("2025-01-01", periods=4, freq="min"),
    ...                       "requests": [600, 600, 600, 600]})
    >>> table = what_if(frame, ["a:443"], Assumptions(), [Setting("now", 1), Setting("2 units", 2)])
    >>> table[["setting", "peak_utilisation", "minutes_over_capacity"]].values.tolist()
    [['now', 2.34, 3], ['2 units', 1.17, 1]]
    """
    subset = health[health["destination"].isin(destinations)].sort_values(["destination", "minute"])
    rows = []
    for setting in settings:
        demand = _trailing_demand(subset, setting.requests_per_connection, assumptions.port_hold_minutes)
        capacity = assumptions.snat_ports * setting.units
        utilisation = (demand / setting.backend_ips / capacity).to_numpy() if len(subset) else np.zeros(0)
        per_minute = pd.Series(utilisation, index=subset["minute"].to_numpy()).groupby(level=0).max()
        rows.append(
            {
                "setting": setting.label,
                "units": setting.units,
                "backend_ips": setting.backend_ips,
                "requests_per_connection": setting.requests_per_connection,
                "capacity": capacity,
                "peak_utilisation": round(float(per_minute.max()) if len(per_minute) else 0.0, 2),
                "minutes_over_capacity": int((per_minute > 1.0).sum()),
            }
        )
    return pd.DataFrame(rows)


def what_if_settings(assumptions: Assumptions, peak_demand: float) -> list[Setting]:
    """The settings worth comparing: as it was, one more unit, enough units, more IPs, better reuse.

    "Enough" keeps the peak under the sizing target, as the mitigations do.
    """
    target = TARGET_UTILISATION
    units_needed = max(assumptions.units + 1, int(np.ceil(peak_demand / (target * assumptions.snat_ports))))
    ips_needed = max(2, int(np.ceil(peak_demand / (target * assumptions.snat_capacity))))
    rpc = assumptions.requests_per_connection
    settings = [
        Setting("as during the incident", assumptions.units, 1, rpc),
        Setting(f"{assumptions.units + 1} units", assumptions.units + 1, 1, rpc),
        Setting(f"{units_needed} units", units_needed, 1, rpc),
        Setting(f"{ips_needed} backend IPs", assumptions.units, ips_needed, rpc),
        Setting("10 requests per connection", assumptions.units, 1, max(rpc, 10.0)),
    ]
    unique: dict[tuple[int, int, float], Setting] = {}
    for setting in settings:
        unique.setdefault((setting.units, setting.backend_ips, setting.requests_per_connection), setting)
    return list(unique.values())
