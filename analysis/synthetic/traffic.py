"""Who calls which operation of one destination, when, and along which path.

Draws the individual calls of one destination minute by minute from its load
profile (baseline with a gentle swell, plus bursts), and attributes burst
traffic mostly to the burst's drivers so the culprit is visible per key. Each
call is then routed: to a region (the caller's, or by the regions' shares), to
a unit of that region (by a hash of the client connection that carries it) and
to one of the IPs the host resolves to; and it gets the backend latency it
would see with a connection ready.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.synthetic.addressing import connection_unit, destination_ips
from analysis.synthetic.scenarios import Behaviour, Caller, Destination, Region

MICROS_PER_MINUTE = 60_000_000
#: Relative amplitude and period (minutes) of the slow swell of baseline load.
SWELL_AMPLITUDE = 0.12
SWELL_PERIOD_MINUTES = 90.0

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Calls:
    """The calls of one destination, one array element per call (unsorted).

    ``region`` indexes the scenario's regions, ``unit`` the units of that
    region, ``ip`` the destination's IPs. ``latency_ms`` is how long the
    backend takes to answer once connected. ``side_failure`` marks calls whose
    ``send-request`` side call failed, so they never reached the backend.
    """

    minute: IntArray
    offset_us: IntArray
    operation: IntArray
    caller: IntArray
    cache_hit: BoolArray
    region: IntArray
    unit: IntArray
    ip: IntArray
    latency_ms: FloatArray
    side_failure: BoolArray

    @property
    def backend(self) -> BoolArray:
        """Calls the gateway forwards to the backend."""
        return ~self.cache_hit & ~self.side_failure

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


def in_window(minute: IntArray, destination: Destination, kind: Behaviour) -> BoolArray:
    """Calls falling inside the destination's window, if its behaviour is ``kind``."""
    window = destination.window
    if destination.behaviour != kind or window is None:
        return np.zeros(len(minute), dtype=bool)
    return (minute >= window.start_minute) & (minute < window.end_minute)


def _regions_of(
    caller: IntArray, callers: tuple[Caller, ...], regions: tuple[Region, ...], rng: np.random.Generator
) -> IntArray:
    """Region of each call: the caller's own, else drawn by the regions' shares."""
    names = [r.name for r in regions]
    pinned = np.array([names.index(c.region) if c.region else -1 for c in callers], dtype=np.int64)[caller]
    drawn = _pick(rng, len(caller), [r.share for r in regions])
    return np.where(pinned >= 0, pinned, drawn)


def units_at(regions: tuple[Region, ...], region: IntArray, minute: IntArray) -> IntArray:
    """How many units the region of each call has in the call's minute (after any scale-out).

    >>> two = (Region("a", 1, scale_out=((2, 3),)), Region("b", 2))
    >>> units_at(two, np.array([0, 0, 0, 1]), np.array([0, 1, 2, 5])).tolist()
    [1, 1, 3, 2]
    """
    units = np.array([r.units for r in regions], dtype=np.int64)[region]
    for index, place in enumerate(regions):
        for start, count in place.scale_out:
            units[(region == index) & (minute >= start)] = count
    return units


def _units_of(
    caller: IntArray,
    region: IntArray,
    minute: IntArray,
    callers: tuple[Caller, ...],
    regions: tuple[Region, ...],
    rng: np.random.Generator,
) -> IntArray:
    """Unit of each call: a caller with many client connections spreads evenly over the units the
    region has in the call's minute; one with few long-lived connections lands on the units those
    connections hashed to when they were opened (before any scale-out), and stays there."""
    unit = np.floor(rng.random(len(caller)) * units_at(regions, region, minute)).astype(np.int64)
    for index, who in enumerate(callers):
        if who.connections <= 0:
            continue
        for r, place in enumerate(regions):
            mine = (caller == index) & (region == r)
            hashed = np.array(
                [connection_unit(who, place.name, c, place.units) for c in range(who.connections)], dtype=np.int64
            )
            unit[mine] = hashed[rng.integers(0, who.connections, int(mine.sum()))]
    return unit


def _latency_ms(destination: Destination, minute: IntArray, rng: np.random.Generator) -> FloatArray:
    """Backend answer time once connected: lognormal around ``latency_ms``, slower in a slow window."""
    latency = destination.latency_ms * np.exp(destination.latency_sigma * rng.standard_normal(len(minute)))
    slow = in_window(minute, destination, Behaviour.SLOW)
    return np.where(slow, latency * (destination.slow_latency_ms / destination.latency_ms), latency)


def _side_failures(
    destination: Destination, minute: IntArray, cache_hit: BoolArray, rng: np.random.Generator
) -> BoolArray:
    """Calls whose ``send-request`` side call failed (it runs before the cache lookup's backend call)."""
    side = destination.side_call
    if side is None:
        return np.zeros(len(minute), dtype=bool)
    inside = (minute >= side.window.start_minute) & (minute < side.window.end_minute)
    return inside & ~cache_hit & (rng.random(len(minute)) < side.failure_share)


def draw_calls(
    destination: Destination,
    minutes: int,
    callers: tuple[Caller, ...],
    regular_callers: int,
    regions: tuple[Region, ...],
    rng: np.random.Generator,
) -> Calls:
    """Draw and route every call to ``destination`` over ``minutes`` minutes.

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
    caller = np.concatenate(caller_parts)
    n = len(minute)
    operation = _pick(rng, n, [op.weight for op in destination.operations])
    is_get = np.array([op.method == "GET" for op in destination.operations])[operation]
    cache_hit = is_get & (rng.random(n) < destination.cache_hit_share)
    region = _regions_of(caller, callers, regions, rng)
    return Calls(
        minute=minute,
        offset_us=rng.integers(0, MICROS_PER_MINUTE, n, dtype=np.int64),
        operation=operation,
        caller=caller,
        cache_hit=cache_hit,
        region=region,
        unit=_units_of(caller, region, minute, callers, regions, rng),
        ip=rng.integers(0, len(destination_ips(destination)), n, dtype=np.int64),
        latency_ms=_latency_ms(destination, minute, rng),
        side_failure=_side_failures(destination, minute, cache_hit, rng),
    )
