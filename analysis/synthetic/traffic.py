"""Who calls which operation of one destination, and when.

Draws the individual calls of one destination minute by minute from its load
profile (baseline with a gentle swell, plus bursts), and attributes burst
traffic mostly to the burst's drivers so the culprit is visible per key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.synthetic.scenarios import Caller, Destination

MICROS_PER_MINUTE = 60_000_000
#: Relative amplitude and period (minutes) of the slow swell of baseline load.
SWELL_AMPLITUDE = 0.12
SWELL_PERIOD_MINUTES = 90.0

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Calls:
    """The calls of one destination, one array element per call (unsorted)."""

    minute: IntArray
    offset_us: IntArray
    operation: IntArray
    caller: IntArray
    cache_hit: BoolArray

    def __len__(self) -> int:
        return len(self.minute)


def caller_table(callers: tuple[Caller, ...], destinations: tuple[Destination, ...]) -> tuple[Caller, ...]:
    """Every caller of a scenario: the regular ones, then burst drivers not already listed."""
    table = list(callers)
    for destination in destinations:
        for burst in destination.bursts:
            table.extend(d for d in burst.drivers if d not in table)
    return tuple(table)


def baseline_rate(destination: Destination, minutes: int, phase: float) -> npt.NDArray[np.float64]:
    """Expected calls per minute without bursts: baseline with a slow swell.

    >>> from analysis.synthetic.scenarios import Operation
    >>> op = Operation("a", "a", "get", "GET", "/x")
    >>> rate = baseline_rate(Destination("https://a.example.com", (op,), 100.0), 3, 0.0)
    >>> rate.round(1).tolist()
    [100.0, 100.8, 101.7]
    """
    t = np.arange(minutes, dtype=np.float64)
    swell = 1.0 + SWELL_AMPLITUDE * np.sin(2.0 * np.pi * t / SWELL_PERIOD_MINUTES + phase)
    return destination.baseline_rpm * swell


def burst_extra_rate(
    base: npt.NDArray[np.float64], start: int, end: int, multiplier: float, ramp: int
) -> npt.NDArray[np.float64]:
    """Extra calls per minute a burst adds on top of ``base``, ramping up linearly.

    >>> burst_extra_rate(np.full(6, 10.0), 1, 4, 3.0, 2).tolist()
    [0.0, 10.0, 20.0, 20.0, 0.0, 0.0]
    """
    t = np.arange(len(base))
    ramp_factor = np.clip((t - start + 1) / max(ramp, 1), 0.0, 1.0)
    active = (t >= start) & (t < end)
    return np.where(active, base * (multiplier - 1.0) * ramp_factor, 0.0)


def _pick(rng: np.random.Generator, size: int, weights: npt.ArrayLike) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int64)


def draw_calls(
    destination: Destination,
    minutes: int,
    callers: tuple[Caller, ...],
    regular_callers: int,
    rng: np.random.Generator,
) -> Calls:
    """Draw every call to ``destination`` over ``minutes`` minutes.

    ``callers`` is the scenario's caller table; its first ``regular_callers``
    entries share the baseline traffic by weight.
    """
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    base = baseline_rate(destination, minutes, phase)
    t = np.arange(minutes, dtype=np.int64)
    regular_weights = [c.weight for c in callers[:regular_callers]]

    counts = rng.poisson(base)
    minute_parts = [np.repeat(t, counts)]
    caller_parts = [_pick(rng, int(counts.sum()), regular_weights)]
    for burst in destination.bursts:
        extra = burst_extra_rate(base, burst.start_minute, burst.end_minute, burst.multiplier, burst.ramp_minutes)
        extra_counts = rng.poisson(extra)
        n = int(extra_counts.sum())
        driver_ids = np.array([callers.index(d) for d in burst.drivers], dtype=np.int64)
        by_driver = rng.random(n) < burst.driver_share
        chosen = np.where(by_driver, driver_ids[rng.integers(0, len(driver_ids), n)], _pick(rng, n, regular_weights))
        minute_parts.append(np.repeat(t, extra_counts))
        caller_parts.append(chosen)

    minute = np.concatenate(minute_parts)
    n = len(minute)
    operation = _pick(rng, n, [op.weight for op in destination.operations])
    is_get = np.array([op.method == "GET" for op in destination.operations])[operation]
    cache_hit = is_get & (rng.random(n) < destination.cache_hit_share)
    return Calls(
        minute=minute,
        offset_us=rng.integers(0, MICROS_PER_MINUTE, n, dtype=np.int64),
        operation=operation,
        caller=np.concatenate(caller_parts),
        cache_hit=cache_hit,
    )
