"""The SNAT demand model: how many ports a destination (or a pool) needed, minute by minute, as a band.

A backend connection takes one SNAT port for its destination IP:port while it is
open, and for ``port_hold_minutes`` more after it closes (240 s after FIN). The
logs show two things about that: the requests in flight (the busy time of the
answered backend calls in a minute / 60,000 ms), which hold at least that many
open connections, and the requests themselves. So the ports in use lie in a band:

- at least ``demand_low`` = the most requests in flight in any minute of the trailing
  hold, idle time and minute: a connection busy then still holds its port now, open,
  idle in the pool, or closed less than the hold ago (perfect reuse: nothing else is open);
- at most ``demand_high`` = in flight + the connections opened in the trailing
  hold, one per ``requests_per_connection`` requests (1: no reuse at all).

That top counts every connect *attempted*. A connect that found no free port
never held one, so the ports a pool really *held* are at most ``held_high`` = in
flight + the connects that succeeded in the trailing hold. While a pool is
saturated its held ports sit at its capacity, and it recovers as soon as new
connects arrive slower than held ports are released (about capacity / hold per
minute), which can be minutes before the attempts in the hold fall back.

How much APIM reused its connections is not in the logs, so no judgement may
depend on where in the band the truth lies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.diagnosis.assumptions import TARGET_UTILISATION, Assumptions
from analysis.diagnosis.health import trailing_max, trailing_sum

MS_PER_MINUTE = 60_000.0


def band(frame: pd.DataFrame, assumptions: Assumptions, by: list[str]) -> pd.DataFrame:
    """``frame`` plus ``in_flight``, ``opened``, ``demand_low``, ``demand_high`` and ``held_high`` per row.

    Rows are grouped by the ``by`` columns and may be sparse (a minute without
    rows opened nothing); the result is sorted by ``by``, then minute. ``held_high``
    leaves out the failed connects (``failures``) when the frame has them.

    >>> frame = pd.DataFrame({"pool": ["a"] * 5, "minute": pd.date_range("2025-01-01", periods=5, freq="min"),
    ...                       "requests": [100.0] * 5, "backend_busy_ms": [60_000.0] * 5})
    >>> band(frame, Assumptions(), ["pool"])[["demand_low", "demand_high"]].values.tolist()[3:]
    [[1.0, 401.0], [1.0, 401.0]]
    >>> frame["backend_busy_ms"] = [600_000.0, 0.0, 0.0, 0.0, 0.0]
    >>> band(frame, Assumptions(pool_idle_minutes=0), ["pool"])["demand_low"].tolist()
    [10.0, 10.0, 10.0, 10.0, 10.0]
    """
    frame = frame.sort_values([*by, "minute"], ignore_index=True)
    frame["in_flight"] = frame["backend_busy_ms"] / MS_PER_MINUTE
    frame["opened"] = frame["requests"] / assumptions.requests_per_connection
    groups = frame.groupby(by, sort=True).ngroup().to_numpy() if len(frame) else np.zeros(0, dtype=np.int64)
    hold = assumptions.port_hold_minutes
    held = trailing_sum(frame["opened"].to_numpy(dtype=np.float64), groups, frame["minute"], hold)
    reach = hold + assumptions.pool_idle_minutes + 1  # busy in minute m: closed by m + idle, held to m + idle + hold
    frame["demand_low"] = trailing_max(frame["in_flight"].to_numpy(dtype=np.float64), groups, frame["minute"], reach)
    frame["demand_high"] = np.maximum(frame["in_flight"] + held, frame["demand_low"])
    failed = frame["failures"].to_numpy(dtype=np.float64) if "failures" in frame else np.zeros(len(frame))
    connected = np.clip(frame["requests"].to_numpy(dtype=np.float64) - failed, 0.0, None)
    succeeded = trailing_sum(connected / assumptions.requests_per_connection, groups, frame["minute"], hold)
    frame["held_high"] = np.maximum(frame["in_flight"] + succeeded, frame["demand_low"])
    return frame


@dataclass(frozen=True)
class Setting:
    """One what-if: other units, backend IPs or connection reuse than the incident had."""

    label: str
    units: int
    backend_ips: int = 1
    requests_per_connection: float = 1.0


def what_if(pool_minutes: pd.DataFrame, assumptions: Assumptions, settings: list[Setting]) -> pd.DataFrame:
    """Replay the per-minute demand of the exhausted pools in ``pool_minutes`` under each setting.

    The top of the band is replayed (every request a new connection unless the
    setting reuses them): spreading a backend over K IPs divides its demand by K
    (ports are per destination IP:port); more units multiply the capacity.

    >>> frame = pd.DataFrame({"pool": ["a"] * 4, "minute": pd.date_range("2025-01-01", periods=4, freq="min"),
    ...                       "requests": [600.0] * 4, "backend_busy_ms": [0.0] * 4})
    >>> table = what_if(frame, Assumptions(), [Setting("now", 1), Setting("2 units", 2)])
    >>> table[["setting", "peak_utilisation", "minutes_over_capacity"]].values.tolist()
    [['now', 2.34, 3], ['2 units', 1.17, 1]]
    """
    rows = []
    for setting in settings:
        reuse = replace(assumptions, requests_per_connection=setting.requests_per_connection)
        replayed = band(pool_minutes, reuse, ["pool"])
        capacity = assumptions.snat_ports * setting.units
        utilisation = (replayed["demand_high"] / setting.backend_ips / capacity).to_numpy()
        per_minute = pd.Series(utilisation, index=replayed["minute"].to_numpy()).groupby(level=0).max()
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


def what_if_settings(assumptions: Assumptions, units: int, peak_demand: float) -> list[Setting]:
    """The settings worth comparing: as it was, one more unit, enough units, more IPs, better reuse.

    ``units`` are those of the region of the worst pool; "enough" keeps the peak under the sizing
    target, as the mitigations do.
    """
    target = TARGET_UTILISATION
    units_needed = max(units + 1, int(np.ceil(peak_demand / (target * assumptions.snat_ports))))
    ips_needed = max(2, int(np.ceil(peak_demand / (target * assumptions.snat_ports * units))))
    rpc = assumptions.requests_per_connection
    settings = [
        Setting("as assumed", units, 1, rpc),
        Setting(f"{units + 1} units", units + 1, 1, rpc),
        Setting(f"{units_needed} units", units_needed, 1, rpc),
        Setting(f"{ips_needed} backend IPs", units, ips_needed, rpc),
        Setting("10 requests per connection", units, 1, max(rpc, 10.0)),
    ]
    unique: dict[tuple[int, int, float], Setting] = {}
    for setting in settings:
        unique.setdefault((setting.units, setting.backend_ips, setting.requests_per_connection), setting)
    return list(unique.values())
