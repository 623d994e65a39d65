"""What happened to each call: success, backend error, connection failure or timeout, and how long it took.

Connection failures come from two causes only: the SNAT port model (share set
by trailing-4-minute demand) and a backend outage window, plus optional
isolated noise. Everything else a backend does (slowness, application errors)
arrives with a backend response code and no ``LastErrorReason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from analysis.synthetic import ports
from analysis.synthetic.scenarios import Behaviour, Destination
from analysis.synthetic.traffic import Calls

#: Messages seen in real gateway logs for BackendConnectionFailure.
UNABLE_TO_CONNECT = "Unable to connect to the remote server"
TRANSPORT_CLOSED = "Underlying transport connection was unexpectedly closed."
ATTEMPT_FAILED = (
    "A connection attempt failed because the connected party did not properly respond after a period of time, "
    "or established connection failed because connected host has failed to respond"
)
CONNECTION_MESSAGES = (UNABLE_TO_CONNECT, ATTEMPT_FAILED, TRANSPORT_CLOSED)
#: Wording for a forward-request timeout; the reason ``Timeout`` is documented, this text is not.
TIMEOUT_MESSAGE = "Request to the backend service timed out"

#: Message mix (same order as CONNECTION_MESSAGES) when ports run out, and when the backend is down.
SNAT_MESSAGE_MIX = (0.45, 0.40, 0.15)
OUTAGE_MESSAGE_MIX = (0.70, 0.30, 0.0)
#: Windows TCP connect timeout is about 21 s: the wait behind "connection attempt failed".
CONNECT_TIMEOUT_MS = 21_000.0
NOT_FOUND_SHARE = 0.003


class Outcome(IntEnum):
    """Kind of result of one call."""

    OK = 0
    NOT_FOUND = 1
    APP_ERROR = 2
    CONNECTION_FAILURE = 3
    TIMEOUT = 4
    CACHE_HIT = 5


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Per-call results, aligned with :class:`~analysis.synthetic.traffic.Calls`.

    ``backend_ms`` is NaN when no backend call was made (cache hit).
    ``message`` indexes CONNECTION_MESSAGES for connection failures, else -1.
    ``scenario_failure`` marks connection failures the scenario caused
    (ports or outage), as opposed to isolated noise.
    """

    outcome: npt.NDArray[np.int8]
    backend_ms: npt.NDArray[np.float64]
    message: npt.NDArray[np.int8]
    app_status: npt.NDArray[np.int32]
    scenario_failure: npt.NDArray[np.bool_]


def in_window(minute: npt.NDArray[np.int64], destination: Destination, kind: Behaviour) -> npt.NDArray[np.bool_]:
    """Calls falling inside the destination's window, if its behaviour is ``kind``."""
    window = destination.window
    if destination.behaviour != kind or window is None:
        return np.zeros(len(minute), dtype=bool)
    return (minute >= window.start_minute) & (minute < window.end_minute)


def draw_outcomes(
    calls: Calls,
    destination: Destination,
    share_by_minute: npt.NDArray[np.float64],
    utilisation_by_minute: npt.NDArray[np.float64],
    noise_rate: float,
    timeout_ms: float,
    rng: np.random.Generator,
) -> Outcomes:
    """Decide the outcome and backend time of every call of one destination."""
    n = len(calls)
    minute = calls.minute
    backend = ~calls.cache_hit
    snat_share = share_by_minute[minute]

    snat_fail = backend & (rng.random(n) < snat_share)
    outage = in_window(minute, destination, Behaviour.OUTAGE)
    outage_fail = backend & outage & (rng.random(n) < destination.outage_failure_share)
    noise_fail = backend & (rng.random(n) < noise_rate)
    connection_failure = snat_fail | outage_fail | noise_fail
    open_ = backend & ~connection_failure
    timeout = open_ & (rng.random(n) < ports.timeout_share(snat_share))
    answered = open_ & ~timeout
    app_error = (
        answered & in_window(minute, destination, Behaviour.APP_ERRORS) & (rng.random(n) < destination.error_share)
    )
    not_found = answered & ~app_error & (rng.random(n) < NOT_FOUND_SHARE)

    outcome = np.full(n, Outcome.OK, dtype=np.int8)
    outcome[calls.cache_hit] = Outcome.CACHE_HIT
    outcome[not_found] = Outcome.NOT_FOUND
    outcome[app_error] = Outcome.APP_ERROR
    outcome[timeout] = Outcome.TIMEOUT
    outcome[connection_failure] = Outcome.CONNECTION_FAILURE

    latency = destination.latency_ms * np.exp(destination.latency_sigma * rng.standard_normal(n))
    slow = in_window(minute, destination, Behaviour.SLOW)
    latency = np.where(slow, latency * (destination.slow_latency_ms / destination.latency_ms), latency)
    latency = np.where(app_error, latency * 0.6, latency)
    wait = rng.exponential(1.0, n) * ports.mean_port_wait_ms(utilisation_by_minute)[minute]
    backend_ms = np.minimum(latency + wait, timeout_ms - 1.0)

    message = np.full(n, -1, dtype=np.int8)
    mix = np.where(outage_fail[:, None], np.array(OUTAGE_MESSAGE_MIX), np.array(SNAT_MESSAGE_MIX))
    drawn = (rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1).astype(np.int8)
    message[connection_failure] = drawn[connection_failure]
    fail_ms = np.select(
        [message == 0, message == 1],
        [
            20.0 * np.exp(1.2 * rng.standard_normal(n)) + wait,
            CONNECT_TIMEOUT_MS + rng.uniform(0.0, 400.0, n),
        ],
        default=rng.uniform(30.0, 4000.0, n) + wait,
    )
    backend_ms = np.where(connection_failure, np.minimum(fail_ms, timeout_ms - 1.0), backend_ms)
    backend_ms = np.where(timeout, timeout_ms + rng.uniform(0.0, 40.0, n), backend_ms)
    backend_ms = np.where(backend, np.maximum(backend_ms, 1.0), np.nan)

    app_status = np.where(rng.random(n) < 0.7, 500, 503).astype(np.int32)
    return Outcomes(
        outcome=outcome,
        backend_ms=backend_ms,
        message=message,
        app_status=app_status,
        scenario_failure=snat_fail | outage_fail,
    )
