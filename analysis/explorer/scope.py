"""What the explorer narrows to: a time range, the destinations and regions chosen, one destination in depth.

Pure functions over an investigation and the frames its window's queries returned,
so that every choice the explorer offers is tested without a widget and without a
source. Nothing here queries: what a drill-down needs beyond the window's data
(the latency distribution, load drivers) is queried by ``state``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.demand import Setting, what_if
from analysis.errors import KitError
from analysis.investigation.run import Investigation

Window = tuple[pd.Timestamp, pd.Timestamp]

#: The first choice of the range selector: the notebook's ``start``/``end``, else the source's whole range.
GIVEN = "given window"
CUSTOM = "custom (UTC)"
#: Ranges that end at the source's last minute (a file) or at the current minute (an Azure source).
PRESETS: dict[str, pd.Timedelta] = {
    "last 1 h": pd.Timedelta(hours=1),
    "last 6 h": pd.Timedelta(hours=6),
    "last 24 h": pd.Timedelta(hours=24),
}
RANGES = (GIVEN, *PRESETS, CUSTOM)
ERROR_COLUMNS = ["reason", "source", "section", "errors", "first_seen", "last_seen", "sample_message"]
LATENCY_EDGES_MS = (0, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def preset_window(name: str, time_range: tuple[pd.Timestamp, pd.Timestamp] | None, now: pd.Timestamp) -> Window:
    """The window of a preset: the last hours up to the source's last minute, else up to ``now``.

    A source that can tell its time range (a file, the sample) ends the window just after its last
    minute and never starts it before its first, so "last 24 h" of a two-hour export is the export.
    An Azure source cannot tell, so the window ends at the start of the current minute.

    >>> preset_window("last 1 h", None, pd.Timestamp("2025-02-25 10:17:42"))
    (Timestamp('2025-02-25 09:17:00'), Timestamp('2025-02-25 10:17:00'))
    >>> preset_window("last 6 h", (pd.Timestamp("2025-02-25 08:30:05"), pd.Timestamp("2025-02-25 10:29:59")),
    ...               pd.Timestamp("2030-01-01"))
    (Timestamp('2025-02-25 08:30:00'), Timestamp('2025-02-25 10:30:00'))
    """
    if name not in PRESETS:
        raise KitError(f"unknown time range {name!r} (use one of: {', '.join(PRESETS)})")
    if time_range is None:
        end = now.floor("min")
        return end - PRESETS[name], end
    first, last = time_range
    end = last.floor("min") + pd.Timedelta(minutes=1)
    return max(end - PRESETS[name], first.floor("min")), end


def region_label(region: str) -> str:
    """A region as the destination table shows it: ``-`` when the logs name none."""
    return region or "-"


def regions_of(health: pd.DataFrame) -> list[str]:
    """The gateway regions of a window's health frame, sorted."""
    return sorted(str(region) for region in health["region"].unique())


def _kept(destination: str, region: str, destinations: Collection[str], regions: Collection[str]) -> bool:
    return (not destinations or destination in destinations) and (not regions or region in regions)


def chosen_findings(
    findings: dict[str, Any], destinations: Collection[str], regions: Collection[str]
) -> dict[str, Any]:
    """The findings with only the chosen destinations and regions in its destination list; empty choices keep all."""
    kept = [e for e in findings["destinations"] if _kept(e["destination"], e["region"] or "", destinations, regions)]
    return findings | {"destinations": kept}


def chosen_minutes(minutes: pd.DataFrame, destinations: Collection[str], regions: Collection[str]) -> pd.DataFrame:
    """The per-minute rows of the chosen destinations and regions; empty choices keep all."""
    keep = pd.Series(True, index=minutes.index)
    if destinations:
        keep &= minutes["destination"].isin(list(destinations))
    if regions:
        keep &= minutes["region"].fillna("").isin(list(regions))
    return minutes[keep]


def bad_minutes(timeseries: pd.DataFrame, destination: str, most: int = 60) -> pd.DataFrame:
    """A destination's minutes with failed requests (all regions together), the most failures first: where
    to look at the requests themselves. Columns ``minute``, ``failed_requests``, ``requests``.

    >>> minutes = pd.DataFrame({"minute": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 10:01"] * 2),
    ...     "destination": ["a:443"] * 4, "requests": [10, 20, 5, 5], "failed_requests": [0, 3, 0, 4]})
    >>> bad_minutes(minutes, "a:443").to_dict("records")
    [{'minute': Timestamp('2025-01-01 10:01:00'), 'failed_requests': 7, 'requests': 25}]
    """
    own = timeseries[timeseries["destination"] == destination]
    summed = own.groupby("minute", as_index=False)[["failed_requests", "requests"]].sum()
    summed = summed[summed["failed_requests"] > 0].astype({"failed_requests": int, "requests": int})
    worst = summed.sort_values(["failed_requests", "minute"], ascending=[False, True], kind="stable")
    return worst.head(most).reset_index(drop=True)


def error_breakdown(errors: pd.DataFrame, destination: str) -> pd.DataFrame:
    """One destination's errors by reason, error source and section, the most frequent first."""
    own = errors[errors["destination"] == destination]
    return own[ERROR_COLUMNS].sort_values("errors", ascending=False, kind="stable").reset_index(drop=True)


def fingerprint_keys(fingerprint: pd.DataFrame, destination: str) -> list[tuple[str, str]]:
    """The (region, destination) pairs of one destination in the failure fingerprint, for its chart."""
    own = fingerprint[fingerprint["destination"] == destination]
    return [(str(region), destination) for region in sorted(own["region"].fillna("").unique())]


def latency_table(latency: pd.DataFrame) -> pd.DataFrame:
    """The latency distribution query's buckets with readable edges (``100-250 ms``), in order."""
    edges = dict(zip(LATENCY_EDGES_MS, [*LATENCY_EDGES_MS[1:], None], strict=True))
    ordered = latency.sort_values("bucket_ms", ignore_index=True)
    labels = [
        f"{low:,}-{edges[low]:,} ms" if edges.get(low) is not None else f"{low:,} ms and more"
        for low in ordered["bucket_ms"].astype(int)
    ]
    return ordered.assign(backend_time=labels)[
        ["backend_time", "requests", "connection_failures", "timeouts", "http_5xx"]
    ]


@dataclass(frozen=True)
class WhatIfChoice:
    """The drill-down's what-if sliders: another number of units, backend IPs, connection reuse or ports."""

    units: int
    backend_ips: int
    requests_per_connection: float
    snat_ports: int

    @classmethod
    def assumed(cls, assumptions: Assumptions) -> WhatIfChoice:
        """The sliders' starting point: what the analysis assumed, one backend IP."""
        return cls(assumptions.units, 1, assumptions.requests_per_connection, assumptions.snat_ports)

    @property
    def label(self) -> str:
        return (
            f"chosen: {self.units} unit(s), {self.backend_ips} backend IP(s), "
            f"{self.requests_per_connection:g} request(s) per connection, {self.snat_ports:,} ports per unit"
        )


def replayed_minutes(found: Investigation, destination: str) -> tuple[pd.DataFrame, str]:
    """The minutes a destination's what-if replays, and what they are.

    Ports are counted per destination IP:port, so a destination in an exhausted pool (hosts sharing one
    IP) is replayed with the whole pool's demand; any other destination with its own, per region.
    """
    pools = {
        a.pool.id for a in found.assessments if a.destination == destination and a.pool is not None and a.pool.exhausted
    }
    if pools:
        shared = found.diagnosis.pool_minutes
        return shared[shared["pool"].isin(pools)], "the exhausted pool " + ", ".join(sorted(pools))
    own = found.diagnosis.timeseries
    own = own[own["destination"] == destination]
    return own.assign(pool=own["region"].fillna("")), "this destination's own minutes"


def destination_what_if(found: Investigation, destination: str, choice: WhatIfChoice) -> pd.DataFrame:
    """The destination's demand replayed as assumed and under the sliders' choice; pure, no query.

    A choice out of range (0 units, fewer than 1 request per connection) is a ``KitError``.
    """
    if choice.units < 1 or choice.backend_ips < 1:
        raise KitError(f"units and backend IPs must be at least 1, not {choice.units} and {choice.backend_ips}")
    minutes, _ = replayed_minutes(found, destination)
    if minutes.empty:
        return pd.DataFrame()
    assumed = found.assumptions
    chosen = replace(assumed, snat_ports=choice.snat_ports, requests_per_connection=choice.requests_per_connection)
    base = WhatIfChoice.assumed(assumed)
    rows = [
        what_if(minutes, assumed, [Setting("as assumed", base.units, 1, base.requests_per_connection)]),
        what_if(
            minutes, chosen, [Setting(choice.label, choice.units, choice.backend_ips, choice.requests_per_connection)]
        ),
    ]
    return pd.concat(rows, ignore_index=True)
