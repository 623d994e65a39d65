"""What happened to each call: its outcome, how long it took, and the words the gateway logged.

Each cause leaves its own fingerprint:

- no SNAT port: the SYNs are dropped; the call connects late (after a SYN
  retransmission) or fails at the connect timeout (21 s with Windows' SYN
  schedule, 127 s with Linux's, or a budget that varies per call) with
  "A connection attempt failed ..." or "Unable to connect ..."; when the
  ``forward-request`` timeout is shorter it is logged as ``Timeout`` at that
  timeout, and when the client gives up first as ``ClientConnectionFailure``.
  Calls that reuse an open pooled connection are not touched.
- backend down: refused or unresolvable in milliseconds, or blackholed (SYNs
  unanswered: the connect timeout) - at any load, close to every call.
- backend refusing under load: refused or reset in milliseconds, only while
  its request rate is above what it takes.
- slow backend and application errors arrive with a backend response.
- a call still waiting after 240 s is cut by the platform's idle timeout
  ("Underlying transport connection was unexpectedly closed.").
- a failed ``send-request`` side call fails the call before it is forwarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from analysis.synthetic import ports
from analysis.synthetic.scenarios import Behaviour, Destination, OutageKind
from analysis.synthetic.traffic import Calls, in_window

#: Messages of real gateway logs. The first three are seen for BackendConnectionFailure in the
#: wild; "refused", "reset" and "no such host" are the Windows socket errors of those causes.
UNABLE_TO_CONNECT = "Unable to connect to the remote server"
ATTEMPT_FAILED = (
    "A connection attempt failed because the connected party did not properly respond after a period of time, "
    "or established connection failed because connected host has failed to respond"
)
TRANSPORT_CLOSED = "Underlying transport connection was unexpectedly closed."
REFUSED = "No connection could be made because the target machine actively refused it"
RESET = "An existing connection was forcibly closed by the remote host"
NO_SUCH_HOST = "No such host is known"
#: Wording for a forward-request timeout; the reason ``Timeout`` is documented, this text is not.
TIMEOUT_MESSAGE = "Request to the backend service timed out"
CLIENT_CLOSED = "Client connection was unexpectedly closed."
MESSAGES = (
    UNABLE_TO_CONNECT,
    ATTEMPT_FAILED,
    TRANSPORT_CLOSED,
    REFUSED,
    RESET,
    NO_SUCH_HOST,
    TIMEOUT_MESSAGE,
    CLIENT_CLOSED,
)

#: Message mixes (message, share) per way of failing to connect.
UNANSWERED_MIX = ((ATTEMPT_FAILED, 0.75), (UNABLE_TO_CONNECT, 0.25))
REFUSED_MIX = ((REFUSED, 0.6), (UNABLE_TO_CONNECT, 0.4))
DNS_MIX = ((NO_SUCH_HOST, 0.7), (UNABLE_TO_CONNECT, 0.3))
OVERLOAD_MIX = ((REFUSED, 0.6), (RESET, 0.4))
#: The platform cuts a backend connection idle this long (ms).
IDLE_CUT_MS = 240_000.0
NOT_FOUND_SHARE = 0.003
MAX_OVERLOAD_SHARE = 0.95


class Outcome(IntEnum):
    """Kind of result of one call."""

    OK = 0
    NOT_FOUND = 1
    APP_ERROR = 2
    CONNECTION_FAILURE = 3
    TIMEOUT = 4
    CACHE_HIT = 5
    CLIENT_FAILURE = 6
    SIDE_CALL_FAILURE = 7


class Cause(IntEnum):
    """Why a call failed (``NONE`` when it did not)."""

    NONE = 0
    SNAT = 1
    OUTAGE = 2
    OVERLOAD = 3
    NOISE = 4
    IDLE_CUT = 5
    SLOW = 6
    SIDE_CALL = 7


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Per-call results, aligned with :class:`~analysis.synthetic.traffic.Calls`.

    ``backend_ms`` is the backend phase (connect included), NaN when the call
    was not forwarded (cache hit, failed side call). ``elapsed_ms`` is when,
    within that phase or the side call, the error happened (NaN without
    error). ``message`` indexes MESSAGES, -1 without error. ``cause`` says
    what made a failed call fail; ``connect_wait_ms`` is the SYN
    retransmission delay a connecting call waited for a port.
    """

    outcome: npt.NDArray[np.int8]
    backend_ms: npt.NDArray[np.float64]
    elapsed_ms: npt.NDArray[np.float64]
    message: npt.NDArray[np.int8]
    app_status: npt.NDArray[np.int32]
    cause: npt.NDArray[np.int8]
    connect_wait_ms: npt.NDArray[np.float64]

    @property
    def scenario_failure(self) -> npt.NDArray[np.bool_]:
        """Failed connections the scenario caused (ports, outage, overload), masked or not."""
        return np.isin(self.cause, [Cause.SNAT, Cause.OUTAGE, Cause.OVERLOAD])


@dataclass(frozen=True)
class PortState:
    """What the port model says for each call: its pool's failing share, the share of calls
    opening a connection, and the pool's utilisation in the call's minute."""

    failing: npt.NDArray[np.float64]
    opening: npt.NDArray[np.float64]
    utilisation: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Limits:
    """What ends a call: the platform's SYN schedule, each call's connect budget (ms; the schedule's
    give-up time, or less where the budget varies), the forward-request timeout (ms), and each call's
    client timeout (ms, inf: none)."""

    syn_schedule: ports.SynSchedule
    connect_ms: npt.NDArray[np.float64]
    forward_ms: float
    client_ms: npt.NDArray[np.float64]


def _messages(rng: np.random.Generator, mix: tuple[tuple[str, float], ...], n: int) -> npt.NDArray[np.int8]:
    """Draw ``n`` message indexes from a (message, share) mix."""
    shares = np.array([share for _, share in mix])
    picked = rng.choice(len(mix), size=n, p=shares / shares.sum())
    return np.array([MESSAGES.index(text) for text, _ in mix], dtype=np.int8)[picked]


def _fast_ms(rng: np.random.Generator, n: int, median_ms: float) -> npt.NDArray[np.float64]:
    """Milliseconds of a refusal or lookup failure: a network round trip or two."""
    return 1.0 + median_ms * np.exp(0.6 * rng.standard_normal(n))


def _unanswered_ms(rng: np.random.Generator, n: int, connect_ms: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The connect budget, plus timer granularity."""
    return connect_ms + rng.uniform(0.0, 60.0, n)


def _connect(
    state: PortState, schedule: ports.SynSchedule, rng: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Which calls got no port after all SYNs, and how long the others waited for one.

    A call whose first ``k`` SYNs were dropped connects on the next one, when
    the ``k``-th retransmission leaves; with every SYN dropped it fails.
    """
    n = len(state.failing)
    attempting = ports.attempt_share(state.failing, state.opening)
    drops = ports.syn_drop_probabilities(state.failing, attempting, state.utilisation, schedule.syns)
    sends = rng.random(n) < attempting
    dropped = sends[:, None] & (rng.random((n, schedule.syns)) < drops)
    leading = np.cumprod(dropped, axis=1).sum(axis=1)
    no_port = leading == schedule.syns
    wait = np.array((0.0, *schedule.retry_ms))[np.minimum(leading, schedule.retransmissions)]
    return no_port, np.where(no_port, 0.0, wait)


def overload_share(requests_per_minute: npt.NDArray[np.float64], destination: Destination) -> npt.NDArray[np.float64]:
    """Share of calls a backend refuses or resets in each minute: what its rate exceeds its knee by.

    >>> from analysis.synthetic.scenarios import Operation
    >>> d = Destination("https://a.example.com", (Operation("a", "a", "g", "GET", "/"),), 10.0,
    ...                 behaviour=Behaviour.REFUSES_UNDER_LOAD, overload_rpm=1000.0)
    >>> overload_share(np.array([500.0, 1000.0, 2000.0]), d).tolist()
    [0.0, 0.0, 0.5]
    """
    if destination.behaviour != Behaviour.REFUSES_UNDER_LOAD:
        return np.zeros(len(requests_per_minute))
    rate = np.maximum(requests_per_minute, 1e-9)
    return np.clip(1.0 - destination.overload_rpm / rate, 0.0, MAX_OVERLOAD_SHARE)


def draw_outcomes(
    calls: Calls,
    destination: Destination,
    state: PortState,
    refused_share: npt.NDArray[np.float64],
    noise_rate: float,
    limits: Limits,
    rng: np.random.Generator,
) -> Outcomes:
    """Decide the outcome, times and message of every call of one destination.

    ``state`` and ``refused_share`` are per call (the call's pool and minute);
    ``refused_share`` is the backend's own refusals under load.
    """
    n = len(calls)
    minute, backend = calls.minute, calls.backend
    cause = np.zeros(n, dtype=np.int8)
    elapsed = np.full(n, np.nan)
    message = np.full(n, -1, dtype=np.int8)

    def fail(
        mask: npt.NDArray[np.bool_], why: Cause, at_ms: npt.NDArray[np.float64], mix: tuple[tuple[str, float], ...]
    ) -> None:
        mask = mask & (cause == Cause.NONE)
        cause[mask] = why
        elapsed[mask] = at_ms[mask]
        message[mask] = _messages(rng, mix, n)[mask]

    no_port, wait = _connect(state, limits.syn_schedule, rng)
    outage = (
        backend & in_window(minute, destination, Behaviour.OUTAGE) & (rng.random(n) < destination.outage_failure_share)
    )
    kind = destination.outage_kind
    if kind == OutageKind.BLACKHOLE:
        fail(outage, Cause.OUTAGE, _unanswered_ms(rng, n, limits.connect_ms), UNANSWERED_MIX)
    else:
        dns = kind == OutageKind.DNS
        fail(outage, Cause.OUTAGE, _fast_ms(rng, n, 15.0 if dns else 4.0), DNS_MIX if dns else REFUSED_MIX)
    fail(backend & no_port, Cause.SNAT, _unanswered_ms(rng, n, limits.connect_ms), UNANSWERED_MIX)
    refused = backend & (rng.random(n) < refused_share)
    reset_at = 2.0 + calls.latency_ms * rng.uniform(0.05, 0.5, n)
    fail(refused, Cause.OVERLOAD, np.where(rng.random(n) < 0.6, _fast_ms(rng, n, 4.0), reset_at), OVERLOAD_MIX)
    stale = ((TRANSPORT_CLOSED, 0.7), (UNABLE_TO_CONNECT, 0.3))
    fail(backend & (rng.random(n) < noise_rate), Cause.NOISE, rng.uniform(1.0, 50.0, n), stale)
    fail(
        backend & (calls.latency_ms >= IDLE_CUT_MS),
        Cause.IDLE_CUT,
        IDLE_CUT_MS + rng.uniform(0.0, 300.0, n),
        ((TRANSPORT_CLOSED, 1.0),),
    )
    side = destination.side_call
    if side is not None:
        at = (
            _unanswered_ms(rng, n, limits.connect_ms)
            if side.outage_kind == OutageKind.BLACKHOLE
            else _fast_ms(rng, n, 6.0)
        )
        fail(
            calls.side_failure,
            Cause.SIDE_CALL,
            at,
            REFUSED_MIX if side.outage_kind != OutageKind.BLACKHOLE else UNANSWERED_MIX,
        )

    failed = cause != Cause.NONE
    answered_ms = wait + calls.latency_ms
    end_ms = np.where(failed, elapsed, answered_ms)
    outcome = np.full(n, Outcome.OK, dtype=np.int8)
    outcome[failed] = Outcome.CONNECTION_FAILURE
    outcome[calls.side_failure] = Outcome.SIDE_CALL_FAILURE

    # The forward-request timeout ends the backend phase first (side calls have their own timeout).
    timed_out = backend & (end_ms > limits.forward_ms)
    outcome[timed_out] = Outcome.TIMEOUT
    cause[timed_out & ~failed] = np.where(wait[timed_out & ~failed] > 0, Cause.SNAT, Cause.SLOW)
    end_ms = np.where(timed_out, limits.forward_ms + rng.uniform(0.0, 40.0, n), end_ms)
    message[timed_out] = MESSAGES.index(TIMEOUT_MESSAGE)
    # The client may give up before any of that.
    gave_up = ~calls.cache_hit & (end_ms > limits.client_ms)
    outcome[gave_up] = Outcome.CLIENT_FAILURE
    end_ms = np.where(gave_up, limits.client_ms + rng.uniform(0.0, 40.0, n), end_ms)
    message[gave_up] = MESSAGES.index(CLIENT_CLOSED)

    errored = np.isin(
        outcome, [Outcome.CONNECTION_FAILURE, Outcome.TIMEOUT, Outcome.CLIENT_FAILURE, Outcome.SIDE_CALL_FAILURE]
    )
    answered = backend & (outcome == Outcome.OK)
    app_error = (
        answered & in_window(minute, destination, Behaviour.APP_ERRORS) & (rng.random(n) < destination.error_share)
    )
    not_found = answered & ~app_error & (rng.random(n) < NOT_FOUND_SHARE)
    outcome[app_error] = Outcome.APP_ERROR
    outcome[not_found] = Outcome.NOT_FOUND
    outcome[calls.cache_hit] = Outcome.CACHE_HIT
    end_ms = np.where(app_error, wait + calls.latency_ms * 0.6, end_ms)

    backend_ms = np.where(backend, np.maximum(end_ms, 1.0), np.nan)
    return Outcomes(
        outcome=outcome,
        backend_ms=backend_ms,
        elapsed_ms=np.where(errored, np.maximum(end_ms, 1.0), np.nan),
        message=np.where(errored, message, -1).astype(np.int8),
        app_status=np.where(rng.random(n) < 0.7, 500, 503).astype(np.int32),
        cause=np.where(errored, cause, Cause.NONE).astype(np.int8),
        connect_wait_ms=np.where(backend & ~no_port, wait, 0.0),
    )
