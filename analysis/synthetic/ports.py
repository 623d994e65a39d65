"""The SNAT port model: how many ports a pool needs, and what running short does to a call.

A pool is one destination IP:port on one gateway unit (instance) of one
region; it has ``snat_ports`` ports. A connection holds a port while it is
open and for 240 s after it closes, so the ports in use in minute ``t`` are
the open connections plus the connections closed in minutes ``t-3 .. t``:
the pool's *demand*.

Open connections are at least the requests in flight (the *concurrency*:
requests per minute x backend latency / 60 s). Without reuse (one request
per connection) each request opens a connection and closes it when done.
With a keep-alive pool the gateway keeps about its recent peak concurrency
open; the backend closes a connection after ``requests_per_connection``
requests (the gateway opens a new one in its place), and connections no
longer needed close when idle. So a slow backend exhausts ports at a constant
request rate, and a burst of short unpooled calls exhausts them through the
hold.

When the demand passes the ports, the share ``1 - ports/demand`` of the
calls finds no port; their SYNs are dropped. Windows retransmits a SYN after
3 s and 6 more seconds and gives up 12 s later (21 s), so a call that needs a
new connection either connects after 0, 3 or 9 s or fails at the connect
timeout. Calls that reuse an open pooled connection send no SYN. The figures
below that no document gives (how the pool tracks its peak, how often SYNs
are dropped just below capacity) are modelling choices, kept in one place.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PORT_HOLD_MINUTES = 4
MAX_FAILURE_SHARE = 0.95
#: A keep-alive pool keeps open the peak of its requests in flight: mean + this many
#: standard deviations of a Poisson count (modelling choice).
PEAK_SPREAD = 2.0
#: A pooled connection idle for this many minutes closes (modelling choice; .NET's default
#: pooled-connection idle timeout is one minute).
IDLE_MINUTES = 1
#: When the SYN retransmissions leave (ms after the first SYN): Windows, initial RTO 3 s, doubled.
SYN_RETRANSMIT_MS = (3_000.0, 9_000.0)
#: Just below capacity, momentary peaks within the minute drop first SYNs: none at 80 % of the
#: ports, rising quadratically to this share at 100 % (modelling choice); a retransmission then
#: finds a port, so these calls are late, not failed.
NEAR_FULL = 0.8
NEAR_FULL_DROP = 0.3

FloatArray = npt.NDArray[np.float64]


def concurrency(latency_sum_ms: npt.ArrayLike) -> FloatArray:
    """Requests in flight on average over a minute, from the sum of their backend times.

    >>> concurrency([60_000.0, 6_000.0]).tolist()
    [1.0, 0.1]
    """
    return np.asarray(latency_sum_ms, dtype=np.float64) / 60_000.0


def _previous(values: FloatArray) -> FloatArray:
    """``values`` shifted one minute later along the last axis, zero at the start."""
    out = np.zeros_like(values)
    out[..., 1:] = values[..., :-1]
    return out


def open_connections(in_flight: npt.ArrayLike, keep_alive: bool) -> FloatArray:
    """Connections open in each minute.

    Without reuse only the requests in flight hold connections. A keep-alive
    pool holds the peak in flight of this minute and of the last idle window.

    >>> open_connections([100.0, 0.0, 0.0], keep_alive=False).tolist()
    [100.0, 0.0, 0.0]
    >>> open_connections([100.0, 0.0, 0.0], keep_alive=True).tolist()
    [120.0, 120.0, 0.0]
    """
    values = np.asarray(in_flight, dtype=np.float64)
    if not keep_alive:
        return values
    peak = values + PEAK_SPREAD * np.sqrt(values)
    held = peak.copy()
    for _ in range(IDLE_MINUTES):
        peak = _previous(peak)
        held = np.maximum(held, peak)
    return held


def closed_connections(requests: npt.ArrayLike, open_: npt.ArrayLike, requests_per_connection: float) -> FloatArray:
    """Connections closed per minute: worn out by the backend after ``requests_per_connection``
    requests (every request when there is no reuse), plus a pool's idle ones.

    >>> closed_connections([300, 30], [1.0, 1.0], 1.5).tolist()
    [200.0, 20.0]
    >>> closed_connections([100, 100, 0], [120.0, 120.0, 0.0], 50.0).tolist()
    [2.0, 2.0, 120.0]
    """
    worn = np.asarray(requests, dtype=np.float64) / float(requests_per_connection)
    pool = np.asarray(open_, dtype=np.float64)
    idle = np.clip(_previous(pool) - pool, 0.0, None) if requests_per_connection > 1 else 0.0
    return worn + idle


def opened_connections(requests: npt.ArrayLike, open_: npt.ArrayLike, requests_per_connection: float) -> FloatArray:
    """Connections opened per minute: one per request without reuse; a pool replaces the worn-out
    ones and grows to its new peak.

    >>> opened_connections([100, 100, 0], [120.0, 120.0, 0.0], 50.0).tolist()
    [122.0, 2.0, 0.0]
    """
    worn = np.asarray(requests, dtype=np.float64) / float(requests_per_connection)
    pool = np.asarray(open_, dtype=np.float64)
    growth = np.clip(pool - _previous(pool), 0.0, None) if requests_per_connection > 1 else 0.0
    return worn + growth


def trailing_demand(connections: npt.ArrayLike, hold_minutes: int = PORT_HOLD_MINUTES) -> FloatArray:
    """Sum over the trailing ``hold_minutes`` minutes (this one included), along the last axis.

    >>> trailing_demand([100, 100, 100, 100, 100, 0, 0, 0, 0]).tolist()
    [100.0, 200.0, 300.0, 400.0, 400.0, 300.0, 200.0, 100.0, 0.0]
    """
    values = np.asarray(connections, dtype=np.float64)
    pad = np.zeros(values.shape[:-1] + (1,))
    cumulative = np.concatenate((pad, np.cumsum(values, axis=-1)), axis=-1)
    lagged = np.concatenate((np.zeros(values.shape[:-1] + (hold_minutes,)), cumulative), axis=-1)[
        ..., : cumulative.shape[-1]
    ]
    return cumulative[..., 1:] - lagged[..., 1:]


def port_demand(open_: npt.ArrayLike, closed: npt.ArrayLike) -> FloatArray:
    """Ports a pool needs: its open connections plus those closed within the hold.

    >>> port_demand([10.0, 10.0, 0.0], [100.0, 100.0, 0.0]).tolist()
    [110.0, 210.0, 200.0]
    """
    return np.asarray(open_, dtype=np.float64) + trailing_demand(closed)


def failure_share(demand: npt.ArrayLike, capacity: float) -> FloatArray:
    """Share of the calls that find no port: ``1 - capacity/demand``, clipped.

    >>> failure_share([0, 512, 1024, 2048, 100000], 1024).round(3).tolist()
    [0.0, 0.0, 0.0, 0.5, 0.95]
    """
    values = np.asarray(demand, dtype=np.float64)
    over = values > capacity
    share = np.zeros_like(values)
    share[over] = 1.0 - capacity / values[over]
    return np.minimum(share, MAX_FAILURE_SHARE)


def attempt_share(failing: npt.ArrayLike, opening: npt.ArrayLike) -> FloatArray:
    """Share of calls that send a SYN: those opening a connection, and at least those that fail.

    >>> attempt_share([0.0, 0.3], [0.02, 0.02]).tolist()
    [0.02, 0.3]
    """
    return np.maximum(np.asarray(failing, dtype=np.float64), np.asarray(opening, dtype=np.float64))


def syn_drop_probabilities(failing: npt.ArrayLike, attempting: npt.ArrayLike, utilisation: npt.ArrayLike) -> FloatArray:
    """Chance that the first, second and third SYN of a connecting call is dropped (last axis).

    Over capacity the three are set so that all three SYNs are dropped for
    exactly the failing share; below it, momentary peaks drop some first and
    second SYNs but the last one finds a port.

    >>> syn_drop_probabilities([0.125, 0.0, 0.0], [1.0, 1.0, 1.0], [1.2, 0.9, 0.5]).round(3).tolist()
    [[0.5, 0.5, 0.5], [0.075, 0.075, 0.0], [0.0, 0.0, 0.0]]
    """
    fail = np.asarray(failing, dtype=np.float64)
    tries = np.asarray(attempting, dtype=np.float64)
    ratio = np.clip(np.divide(fail, tries, out=np.zeros_like(fail), where=tries > 0), 0.0, 1.0)
    near = (
        NEAR_FULL_DROP
        * np.clip((np.asarray(utilisation, dtype=np.float64) - NEAR_FULL) / (1.0 - NEAR_FULL), 0.0, 1.0) ** 2
    )
    first = np.where(fail > 0, np.maximum(np.cbrt(ratio), near), near)
    later = np.sqrt(np.divide(ratio, first, out=np.zeros_like(first), where=first > 0))
    return np.stack(
        (first, np.where(fail > 0, later, near), np.where(fail > 0, later, 0.0)),
        axis=-1,
    )
