"""The SNAT port model: how many ports one destination needs, and what running short does.

A connection to one destination IP:port holds a SNAT port while open and for
240 s after it closes. With short-lived connections the ports in use at the end
of minute ``t`` are therefore about the connections opened in minutes
``t-3 .. t``: the trailing-4-minute *demand*. Capacity is the ports of all
units. The numbers below that are not documented anywhere (how latency and
timeouts grow as ports run short) are modelling choices, kept in one place.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PORT_HOLD_MINUTES = 4
MAX_FAILURE_SHARE = 0.95
#: Utilisation above which calls start waiting for a free port.
WAIT_THRESHOLD = 0.8
#: Mean extra wait (ms) for a port at 100 % utilisation; it grows quadratically from the threshold.
WAIT_AT_FULL_MS = 1500.0
MAX_MEAN_WAIT_MS = 3000.0
#: Share of the calls that do get a port but still time out, per unit of failure share.
TIMEOUT_PER_FAILURE = 0.12
MAX_TIMEOUT_SHARE = 0.06

FloatArray = npt.NDArray[np.float64]


def new_connections(requests: npt.ArrayLike, requests_per_connection: float) -> FloatArray:
    """Connections opened per minute for the given backend requests per minute.

    >>> new_connections([300, 30], 1.5).tolist()
    [200.0, 20.0]
    """
    return np.asarray(requests, dtype=np.float64) / float(requests_per_connection)


def trailing_demand(connections: npt.ArrayLike, hold_minutes: int = PORT_HOLD_MINUTES) -> FloatArray:
    """Ports held at the end of each minute: connections opened in the trailing window.

    >>> trailing_demand([100, 100, 100, 100, 100, 0, 0, 0, 0]).tolist()
    [100.0, 200.0, 300.0, 400.0, 400.0, 300.0, 200.0, 100.0, 0.0]
    """
    values = np.asarray(connections, dtype=np.float64)
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    lagged = np.concatenate((np.zeros(hold_minutes), cumulative))[: len(cumulative)]
    return cumulative[1:] - lagged[1:]


def failure_share(demand: npt.ArrayLike, capacity: float) -> FloatArray:
    """Share of calls failing with BackendConnectionFailure: ``1 - capacity/demand``, clipped.

    >>> failure_share([0, 512, 1024, 2048, 100000], 1024).round(3).tolist()
    [0.0, 0.0, 0.0, 0.5, 0.95]
    """
    values = np.asarray(demand, dtype=np.float64)
    over = values > capacity
    share = np.zeros_like(values)
    share[over] = 1.0 - capacity / values[over]
    return np.minimum(share, MAX_FAILURE_SHARE)


def mean_port_wait_ms(utilisation: npt.ArrayLike) -> FloatArray:
    """Mean extra latency while waiting for a port; zero below 80 % utilisation.

    >>> mean_port_wait_ms([0.5, 0.8, 0.9, 1.0]).round(1).tolist()
    [0.0, 0.0, 375.0, 1500.0]
    """
    values = np.asarray(utilisation, dtype=np.float64)
    excess = np.clip((values - WAIT_THRESHOLD) / (1.0 - WAIT_THRESHOLD), 0.0, None)
    return np.minimum(WAIT_AT_FULL_MS * excess**2, MAX_MEAN_WAIT_MS)


def timeout_share(failures: npt.ArrayLike) -> FloatArray:
    """Share of calls timing out among those that got a port, given the failure share.

    >>> timeout_share([0.0, 0.5, 0.95]).tolist()
    [0.0, 0.06, 0.06]
    """
    values = np.asarray(failures, dtype=np.float64)
    return np.minimum(values * TIMEOUT_PER_FAILURE, MAX_TIMEOUT_SHARE)
