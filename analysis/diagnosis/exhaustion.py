"""Testing a SNAT pool: its minutes, its demand band against its ports, its episodes, the SNAT checks.

The checks run on the pool, not on a host: hosts sharing an IP share its ports,
so each may stay well under the capacity while together they run out. The
capacity is the region's units times the ports per unit; when fewer callers than
units sent most of the calls (the load drivers), their client connections may all
have been hashed to one unit, so the fewest ports the pool may have had is one
unit's.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from analysis.diagnosis.assessment import Capacity, CheckOutcome, Confidence, FailureEvidence, PoolAssessment, PoolState
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.checks import capped, measure, run_checks, weigh
from analysis.diagnosis.demand import band
from analysis.diagnosis.fingerprint import Fingerprint, Key, combine
from analysis.diagnosis.health import KEY
from analysis.diagnosis.onset import Episode, bad_minutes, episodes
from analysis.diagnosis.pools import POOLED_COLUMNS, Pool, pool_minutes
from analysis.diagnosis.unknowns import holds_if

DOMINANT_KEY_SHARE = 0.5
LOAD_KEYS = ("subscription", "caller_ip")  # how callers reach the gateway: what a unit hash can pin
BEFORE_ONSET_MINUTES = 5


def dominant_keys(drivers: pd.DataFrame, most: int = 3) -> pd.DataFrame:
    """The fewest top keys (at most ``most``) that together sent ``DOMINANT_KEY_SHARE`` of the calls.

    >>> keys = pd.DataFrame({"key": ["a", "b", "c"], "share": [0.4, 0.35, 0.1]})
    >>> dominant_keys(keys)["key"].tolist()
    ['a', 'b']
    """
    ordered = drivers.sort_values("share", ascending=False).head(most)
    reached = ordered["share"].cumsum() >= DOMINANT_KEY_SHARE
    if not reached.any():
        return ordered.iloc[0:0]
    return ordered.iloc[: int(reached.to_numpy().argmax()) + 1]


def drivers_of(drivers: pd.DataFrame | None, keys: list[Key], kind: str) -> pd.DataFrame:
    """The load drivers of one kind for the given destinations."""
    if drivers is None or drivers.empty:
        return pd.DataFrame(columns=["region", "destination", "key_kind", "key", "share"])
    wanted = pd.MultiIndex.from_tuples(keys, names=KEY)
    rows = drivers[pd.MultiIndex.from_frame(drivers[KEY]).isin(wanted) & (drivers["key_kind"] == kind)]
    return rows


def concentrated(drivers: pd.DataFrame | None, keys: list[Key], units: int) -> bool:
    """Whether fewer callers than units sent most of the calls of one of ``keys``."""
    if units <= 1:
        return False
    for key in keys:
        for kind in LOAD_KEYS:
            few = dominant_keys(drivers_of(drivers, [key], kind))
            if 0 < len(few) < units:
                return True
    return False


def capacity_of(pool: Pool, drivers: pd.DataFrame | None, assumptions: Assumptions) -> Capacity:
    units = assumptions.units_in(pool.region)
    return Capacity(assumptions.snat_ports, units, concentrated(drivers, pool.keys(), units))


def pool_peaks(frame: pd.DataFrame, pools: list[Pool], assumptions: Assumptions) -> pd.DataFrame:
    """Peak bottom and top of the demand band of every pool, from the sparse health with ``failures``."""
    membership = pd.DataFrame(
        [(p.id, p.region, m.destination, m.weight) for p in pools for m in p.members],
        columns=["pool", "region", "destination", "weight"],
    )
    joined = frame[["minute", *KEY, *POOLED_COLUMNS]].merge(membership, on=KEY)
    weighted = joined[list(POOLED_COLUMNS)].mul(joined["weight"], axis=0)
    weighted[["pool", "minute"]] = joined[["pool", "minute"]]
    summed = weighted.groupby(["pool", "minute"], sort=True, as_index=False)[list(POOLED_COLUMNS)].sum()
    banded = band(summed, assumptions, ["pool"])
    return banded.groupby("pool").agg(peak_demand_low=("demand_low", "max"), peak_demand_high=("demand_high", "max"))


def untested(pool: Pool, capacity: Capacity, peaks: pd.DataFrame) -> PoolAssessment:
    """A pool none of whose members failed in a sustained way: nothing to test."""
    low, high = peaks.loc[pool.id].tolist() if pool.id in peaks.index else (0.0, 0.0)
    return PoolAssessment(
        pool, PoolState.NOT_TESTED, capacity, round(low, 1), round(high, 1), "no sustained connection failures"
    )


def _before_onset(frame: pd.DataFrame, episode: Episode) -> float | None:
    start = episode.onset - pd.Timedelta(minutes=BEFORE_ONSET_MINUTES)
    before = frame.loc[(frame["minute"] < episode.onset) & (frame["minute"] >= start), "backend_p95_ms"]
    return round(float(before.max()), 1) if before.notna().any() else None


def judge_pool(
    pool: Pool,
    members: pd.DataFrame,
    fingerprints: dict[Key, Fingerprint],
    capacity: Capacity,
    assumptions: Assumptions,
    *,
    self_hosted: bool = False,
) -> tuple[PoolAssessment, pd.DataFrame]:
    """The pool's assessment and its minutes (with the demand band), from its members' every minute."""
    frame = band(pool_minutes(members, pool), assumptions, ["pool"])
    low, high = round(float(frame["demand_low"].max()), 1), round(float(frame["demand_high"].max()), 1)
    found = episodes(
        frame["minute"],
        bad_minutes(frame["failures"], frame["requests"]),
        frame["failures"],
        frame["requests"],
        max_gap=assumptions.port_hold_minutes,
    )
    if not found:
        reason = "its members' failures are not sustained once pooled"
        return PoolAssessment(pool, PoolState.NOT_TESTED, capacity, low, high, reason), frame
    worst = max(found, key=lambda e: e.events)
    fingerprint = combine(
        (fingerprints.get((pool.region, m.destination), Fingerprint()), m.weight) for m in pool.members
    )
    measures = measure(
        frame,
        worst,
        capacity,
        fingerprint,
        assumptions.port_hold_minutes,
        episodes=found,
        warm_up_minutes=warm_up_minutes(assumptions),
        self_hosted=self_hosted,
    )
    checks = run_checks(measures)
    balance = weigh(checks)
    if not worst.onset_observed:
        # The data starts inside the episode: how the failures began, and at what demand, is not in it.
        balance = replace(balance, confidence=capped(balance.confidence, Confidence.MEDIUM))
    held = measures.held
    failure = FailureEvidence(
        episode_failure_share=round(worst.share, 3),
        episodes=len(found),
        other_destinations_failing=(),
        recovery_lag_minutes=measures.recovery_lag(measures.recovering),
        p95_backend_ms_before_onset=_before_onset(frame, worst),
        demand_at_onset=round(measures.high.at_onset, 1),
        demand_at_onset_low=round(measures.low.at_onset, 1),
        utilisation_at_onset=round(measures.utilisation_at_onset, 3),
        low_load_failure_share=round(measures.high.low_load_failure_share, 3),
        correlation_in_flight=measures.low.correlation,
        correlation_requests=measures.high.correlation,
        share_at_timeout=_rounded(fingerprint.share_at_timeout),
        share_fast=_rounded(fingerprint.share_fast),
        masked_failures=int(round(fingerprint.masked)),
        share_slow=_rounded(fingerprint.share_slow),
        connect_timer_s=fingerprint.connect_timer_s,
        separation=measures.driving.separation,
        held_ports_low=held.low,
        held_ports_high=held.high,
        release_ratio=measures.release_ratio,
    )
    failures = f"{frame['failures'].sum():,.0f} failed connects"
    ranges = None
    if held.high is not None:
        ranges = holds_if(
            capacity,
            held.low or 0.0,
            held.high,
            assumptions.requests_per_connection,
            fingerprint.connect_timer_s,
            self_hosted=self_hosted,
        )
    if balance.snat:
        state = PoolState.EXHAUSTED
        level = f"held at most {held.high:,.0f} ports" if held.high is not None else "ran out"
        reason = (
            f"{failures} that fit a capacity limit ({', '.join(balance.decided_by)}): they rise with the pool's "
            f"{measures.driving.label} and came when it {level}"
        )
    else:
        state = PoolState.NOT_EXHAUSTED
        failed = ", ".join(c.name for c in checks if c.outcome is CheckOutcome.FAILED)
        reason = f"{failures} ({worst.share:.0%} of calls during the episode) not explained by its ports: {failed}"
    assessment = PoolAssessment(
        pool, state, capacity, low, high, reason, worst, tuple(found), checks, failure, balance, ranges
    )
    return assessment, frame


def warm_up_minutes(assumptions: Assumptions) -> int:
    """The first minutes of the data whose demand band lacks the minutes before it: the hold, idle time and one."""
    return assumptions.port_hold_minutes + assumptions.pool_idle_minutes + 1


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
