"""The SNAT port model: how many ports a pool needs, and what running short does to a call.

A pool is one destination IP:port on one gateway unit (instance) of one
region; it has ``snat_ports`` ports. A connection holds a port while it is
open and for 240 s after it closes. A connect that found no free port never
held one, so the model runs minute by minute (:func:`held_ports`): the ports
still held from earlier minutes are the connections closed within the hold
*that had got a port*; this minute's open and closed connections ask for
ports on top of those, and what passes the ports fails. The *attempted
demand* (:func:`port_demand`: open connections plus every connection closed
within the hold) is what the pool would hold had every connect succeeded; in
a steady saturation both give the same failing share, ``1 - ports/demand``,
but a saturated pool recovers as soon as new connections arrive slower than
held ports are released (about ports / 240 s), up to 4 minutes before the
attempted demand falls back under the ports.

Open connections are at least the requests in flight (the *concurrency*:
requests per minute x backend latency / 60 s). Without reuse (one request
per connection) each request opens a connection and closes it when done.
With a keep-alive pool the gateway keeps about its recent peak concurrency
open; the backend closes a connection after ``requests_per_connection``
requests (the gateway opens a new one in its place), and connections no
longer needed close when idle. So a slow backend exhausts ports at a constant
request rate, and a burst of short unpooled calls exhausts them through the
hold.

A call that finds no port has its SYNs dropped. The platform's TCP stack
retransmits a SYN after an initial timeout that doubles each time and gives up
after its last retransmission's timeout (:class:`SynSchedule`: Windows 3 s and
two retransmissions, giving up at 21 s; Linux 1 s and six, 127 s), so a call
that needs a new connection either connects after one of the retry delays or
fails at the connect timeout. Calls that reuse an open pooled connection send
no SYN. The figures below that no document gives (how the pool tracks its
peak, how often SYNs are dropped just below capacity) are modelling choices,
kept in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.errors import KitError

PORT_HOLD_MINUTES = 4
MAX_FAILURE_SHARE = 0.95
#: A keep-alive pool keeps open the peak of its requests in flight: mean + this many
#: standard deviations of a Poisson count (modelling choice).
PEAK_SPREAD = 2.0
#: A pooled connection idle for this many minutes closes (modelling choice; .NET's default
#: pooled-connection idle timeout is one minute).
IDLE_MINUTES = 1
#: Just below capacity, momentary peaks within the minute drop first SYNs: none at 80 % of the
#: ports, rising quadratically to this share at 100 % (modelling choice); a retransmission then
#: finds a port, so these calls are late, not failed.
NEAR_FULL = 0.8
NEAR_FULL_DROP = 0.3

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SynSchedule:
    """How a platform's TCP stack retries a connect whose SYNs go unanswered.

    The first SYN waits ``initial_rto_s``; each of the ``retransmissions``
    waits twice as long as the one before, and the connect gives up when the
    last one has waited its turn.

    >>> WINDOWS.retry_ms, WINDOWS.give_up_ms
    ((3000.0, 9000.0), 21000.0)
    >>> LINUX.retry_ms, LINUX.give_up_ms
    ((1000.0, 3000.0, 7000.0, 15000.0, 31000.0, 63000.0), 127000.0)
    """

    initial_rto_s: float
    retransmissions: int

    def __post_init__(self) -> None:
        if self.initial_rto_s <= 0 or self.retransmissions < 1:
            raise KitError("a SYN schedule needs a positive initial timeout and at least one retransmission")

    @property
    def syns(self) -> int:
        """SYNs a connect sends before it gives up: the first and each retransmission."""
        return self.retransmissions + 1

    @property
    def retry_ms(self) -> tuple[float, ...]:
        """When each retransmission leaves, ms after the first SYN: ``r * (2**k - 1)`` for k = 1..n."""
        return tuple(1000.0 * self.initial_rto_s * (2**k - 1) for k in range(1, self.retransmissions + 1))

    @property
    def give_up_ms(self) -> float:
        """When the connect fails, ms after the first SYN: ``r * (2**(n+1) - 1)``."""
        return 1000.0 * self.initial_rto_s * (2**self.syns - 1)


#: Windows: initial RTO 3 s (``TcpInitialRTT``), two retransmissions (``TcpMaxConnectRetransmissions``):
#: SYNs at 0, 3 and 9 s, failure at 21 s (Microsoft KB 2786464).
WINDOWS = SynSchedule(3.0, 2)
#: Linux defaults: initial RTO 1 s, six retransmissions (``net.ipv4.tcp_syn_retries``): failure at 127 s.
LINUX = SynSchedule(1.0, 6)


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
    """Attempted demand: the ports a pool would hold had every connect got one (its open connections
    plus every connection closed within the hold, failed connects included).

    >>> port_demand([10.0, 10.0, 0.0], [100.0, 100.0, 0.0]).tolist()
    [110.0, 210.0, 200.0]
    """
    return np.asarray(open_, dtype=np.float64) + trailing_demand(closed)


@dataclass(frozen=True, eq=False)
class HeldPorts:
    """The port model's answer per cell and minute: the share of this minute's connects that find no
    port, the ports asked for (held from earlier minutes plus this minute's), and the ports held."""

    failing: FloatArray
    asked: FloatArray
    held: FloatArray


def held_ports(open_: npt.ArrayLike, closed: npt.ArrayLike, capacity: float) -> HeldPorts:
    """Minute by minute along the last axis: which connects find a port, given the ports already held.

    ``past(t)`` is the sum over k = 1..3 of ``closed(t-k) * ok(t-k)``, the ports
    still held by connections that had got one; this minute's ``current = open + closed``
    ask on top of it, and the share ``f = min(MAX_FAILURE_SHARE, excess / current)`` of
    them fails, ``excess = max(0, current + past - capacity)``. Vectorised over
    the leading axes (cells), looped over minutes: each minute needs the last ones.

    A pool filled at its release rate (256 a minute for 1,024 ports held 4 minutes)
    and then asked for 400 a minute fails the steady share, ``1 - 1024/1600``; when
    the connects fall to 200 a minute, under the release rate, the failures stop
    at once, while the attempted demand stays above the ports two more minutes:

    >>> model = held_ports([0.0] * 11, [256] * 4 + [400] * 4 + [200] * 3, 1024)
    >>> model.failing.round(2).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.36, 0.36, 0.36, 0.36, 0.0, 0.0, 0.0]
    >>> model.held.round().tolist()
    [256.0, 512.0, 768.0, 1024.0, 1024.0, 1024.0, 1024.0, 1024.0, 968.0, 912.0, 856.0]

    Ports taken together are released together one hold later, so a
    saturation filled faster than the release rate echoes that fill every
    hold: the share swings around the steady one rather than settling.
    """
    opened = np.asarray(open_, dtype=np.float64)
    ended = np.asarray(closed, dtype=np.float64)
    current = opened + ended
    failing, asked, held = np.zeros_like(current), np.zeros_like(current), np.zeros_like(current)
    earlier = PORT_HOLD_MINUTES - 1
    kept = np.zeros(current.shape[:-1] + (earlier,))  # closed x ok of the last minutes, a ring
    for t in range(current.shape[-1]):
        now = current[..., t]
        past = kept.sum(axis=-1)
        excess = np.maximum(now + past - capacity, 0.0)
        share = np.minimum(np.divide(excess, now, out=np.zeros_like(now), where=now > 0), MAX_FAILURE_SHARE)
        failing[..., t], asked[..., t] = share, now + past
        held[..., t] = now * (1.0 - share) + past
        kept[..., t % earlier] = ended[..., t] * (1.0 - share)
    return HeldPorts(failing=failing, asked=asked, held=held)


def attempt_share(failing: npt.ArrayLike, opening: npt.ArrayLike) -> FloatArray:
    """Share of calls that send a SYN: those opening a connection, and at least those that fail.

    >>> attempt_share([0.0, 0.3], [0.02, 0.02]).tolist()
    [0.02, 0.3]
    """
    return np.maximum(np.asarray(failing, dtype=np.float64), np.asarray(opening, dtype=np.float64))


def _root(values: FloatArray, degree: int) -> FloatArray:
    """The ``degree``-th root, exact where numpy has one (so a schedule's draws never depend on rounding)."""
    if degree == 1:
        return values
    if degree == 2:
        return np.sqrt(values)
    if degree == 3:
        return np.cbrt(values)
    return np.power(values, 1.0 / degree)


def syn_drop_probabilities(
    failing: npt.ArrayLike, attempting: npt.ArrayLike, utilisation: npt.ArrayLike, syns: int = WINDOWS.syns
) -> FloatArray:
    """Chance that each of the ``syns`` SYNs of a connecting call is dropped (last axis).

    Over capacity they are set so that every SYN is dropped for exactly the
    failing share; below it, momentary peaks drop some SYNs but the last one
    finds a port.

    >>> syn_drop_probabilities([0.125, 0.0, 0.0], [1.0, 1.0, 1.0], [1.2, 0.9, 0.5]).round(3).tolist()
    [[0.5, 0.5, 0.5], [0.075, 0.075, 0.0], [0.0, 0.0, 0.0]]
    >>> float(syn_drop_probabilities([0.36], [1.0], [1.5], syns=7).prod())
    0.36
    """
    if syns < 2:
        raise KitError("a connect sends at least two SYNs")
    fail = np.asarray(failing, dtype=np.float64)
    tries = np.asarray(attempting, dtype=np.float64)
    ratio = np.clip(np.divide(fail, tries, out=np.zeros_like(fail), where=tries > 0), 0.0, 1.0)
    near = (
        NEAR_FULL_DROP
        * np.clip((np.asarray(utilisation, dtype=np.float64) - NEAR_FULL) / (1.0 - NEAR_FULL), 0.0, 1.0) ** 2
    )
    first = np.where(fail > 0, np.maximum(_root(ratio, syns), near), near)
    later = _root(np.divide(ratio, first, out=np.zeros_like(first), where=first > 0), syns - 1)
    middle = [np.where(fail > 0, later, near)] * (syns - 2)
    return np.stack((first, *middle, np.where(fail > 0, later, 0.0)), axis=-1)
