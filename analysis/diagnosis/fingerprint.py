"""How a destination's calls failed, from the ``failure_fingerprint`` query: the signature of a dropped SYN.

With no free SNAT port the SYN is dropped and the connection attempt times out:
at the platform's connect timer, or earlier at a shorter ``forward-request``
timeout (logged as ``Timeout``) or when the client gives up
(``ClientConnectionFailure``), in both cases without a backend answer. Calls
whose first SYNs were dropped and a later one got through succeed late, at the
SYN-retry delays. Refused or reset connections and unresolvable names fail in
milliseconds: evidence against SNAT. A failure near 240 s is a call the platform
cut while the backend was still working (a slow backend), not a failed connect.

The connect timer is not published: Windows gives up after 21 s (SYNs at 0, 3
and 9 s), Linux after 127 s (SYNs at 0, 1, 3, 7, 15, 31 and 63 s). So it is read
from the data: a tight cluster of slow failed connects is the timer in force,
wherever it sits (``connect_timer``); ``connect_timeout_s`` only overrides it.

Unanswered timeouts and client disconnects count as *masked* connect failures
only when they cluster at one timer no later than the connect timer and the
calls that succeeded late did so at the SYN-retry delays rather than anywhere (a
slow backend, whose calls also end at the timer, answers late at any time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

CONNECTION_FAILURE = "BackendConnectionFailure"
TIMEOUT = "Timeout"
CLIENT_FAILURE = "ClientConnectionFailure"
#: The destination's own calls; a failed ``send-request`` side call went elsewhere.
OWN_SOURCES = ("forward-request", "request-forwarder", "")
#: Failures ending this close (seconds) to the connect timer ended at it.
TIMEOUT_TOLERANCE_S = 2
#: SYN schedules by the time they give up (s): when the retransmissions leave. Windows: initial RTO 3 s,
#: two retransmissions; Linux: initial RTO 1 s, six retransmissions (tcp_syn_retries).
WINDOWS_TIMER_S = 21.0
SYN_SCHEDULES: dict[float, tuple[int, ...]] = {WINDOWS_TIMER_S: (3, 9), 127.0: (1, 3, 7, 15, 31, 63)}
#: A failed connect slower than this did not end at a refusal: it waited for an answer.
SLOW_S = 1
#: Fewer slow failed connects than this show no timer of their own (the gateway's is taken).
MIN_TIMER_FAILURES = 10
#: The latest a connect timer can sit when the data shows none (Linux's 127 s, with the tolerance).
MAX_CONNECT_TIMER_S = max(SYN_SCHEDULES) + TIMEOUT_TOLERANCE_S
#: A timer explains unanswered failures when at least this share end within a second of one value.
MIN_CLUSTER_SHARE = 0.5
#: Late successes count as SYN retries when at least this share sit at the retry delays.
MIN_RETRY_SHARE = 0.5
#: The platform cuts backend calls idle for 240 s: a connection failure this late was an established call.
IDLE_CUT_S = 230
MESSAGES_KEPT = 3

Key = tuple[str, str]


@dataclass(frozen=True)
class Fingerprint:
    """The failures of one destination (or pool) by how they ended; counts of rows (or weighted rows)."""

    connection_failures: float = 0.0
    """Own ``BackendConnectionFailure`` rows, calls cut near 240 s excluded."""
    fast: float = 0.0
    """Of those, failed in under a second: refused, reset or unresolvable."""
    slow: float = 0.0
    """Of those, ended after ``SLOW_S`` or more: the connect waited for an answer that did not come."""
    at_connect_timeout: float = 0.0
    """Of those, ended within ``TIMEOUT_TOLERANCE_S`` of the connect timer in force."""
    connect_timer_s: float | None = None
    """The connect timer in force: ``connect_timeout_s`` when given, else the one the failed connects show
    (this destination's cluster, else the gateway's); None when the data shows none."""
    masked: float = 0.0
    """Unanswered timeouts and client disconnects taken as connect failures (see the module)."""
    masked_reasons: tuple[str, ...] = ()
    timer_s: float | None = None
    """Where the masked failures clustered (the forward-request or client timeout)."""
    unanswered_at_timer: float = 0.0
    """Unanswered timeouts and client disconnects clustered at one timer but not taken as failed connects (the late
    successes were not at the SYN retries): a slow backend's, or dropped SYNs the logs cannot tell apart."""
    idle_cuts: float = 0.0
    side_calls: float = 0.0
    late_successes: float = 0.0
    retry_successes: float = 0.0
    """Successful calls that took a second or more, and those of them at the SYN-retry delays."""
    messages: tuple[str, ...] = ()

    @property
    def failures(self) -> float:
        """The failed connects judged: connection failures plus masked ones."""
        return self.connection_failures + self.masked

    @property
    def at_timeout(self) -> float:
        """Failed connects that ended at a timer: the connect timeout, or the timer of the masked ones."""
        return self.at_connect_timeout + self.masked

    @property
    def share_at_timeout(self) -> float | None:
        return self.at_timeout / self.failures if self.failures else None

    @property
    def share_fast(self) -> float | None:
        return self.fast / self.failures if self.failures else None

    @property
    def share_slow(self) -> float | None:
        """Failed connects that waited for an answer: slow connection failures plus the masked ones."""
        return (self.slow + self.masked) / self.failures if self.failures else None

    def masks(self, reason: str) -> bool:
        return reason in self.masked_reasons


def combine(parts: Iterable[tuple[Fingerprint, float]]) -> Fingerprint:
    """The fingerprint of a pool: its members' counts, each weighted by the share of its calls the pool carries."""
    parts = list(parts)
    counted = (
        "connection_failures",
        "fast",
        "slow",
        "at_connect_timeout",
        "masked",
        "idle_cuts",
        "side_calls",
        "late_successes",
        "retry_successes",
        "unanswered_at_timer",
    )
    totals = {name: sum(getattr(fp, name) * weight for fp, weight in parts) for name in counted}
    timers = [fp.timer_s for fp, _ in parts if fp.timer_s is not None]
    reasons = sorted({r for fp, _ in parts for r in fp.masked_reasons})
    messages = list(dict.fromkeys(m for fp, _ in parts for m in fp.messages))[:MESSAGES_KEPT]
    timed = [fp for fp, _ in parts if fp.connect_timer_s is not None]
    return Fingerprint(
        **totals,
        connect_timer_s=max(timed, key=lambda fp: fp.connection_failures).connect_timer_s if timed else None,
        masked_reasons=tuple(reasons),
        timer_s=min(timers) if timers else None,
        messages=tuple(messages),
    )


def _cluster(rows: pd.DataFrame, width: float, latest: float) -> float | None:
    """The second most of ``rows`` ended at, when at least ``MIN_CLUSTER_SHARE`` ended within ``width`` seconds
    of it, no earlier than ``SLOW_S`` (a timer, not a refusal) and no later than ``latest``."""
    counts = rows.groupby("elapsed_s")["requests"].sum()
    if counts.empty:
        return None
    mode = float(counts.idxmax())
    near = counts[(counts.index >= mode - width) & (counts.index <= mode + width)].sum()
    if near < MIN_CLUSTER_SHARE * counts.sum() or not SLOW_S <= mode <= latest:
        return None
    return mode


def _timer_of(rows: pd.DataFrame) -> float | None:
    """The connect timer the slow own connection failures of ``rows`` show, when they are enough to show one."""
    own = rows["source"].isin(OWN_SOURCES) & (rows["reason"] == CONNECTION_FAILURE)
    slow = rows[own & (rows["elapsed_s"] >= SLOW_S) & (rows["elapsed_s"] < IDLE_CUT_S)]
    if slow["requests"].sum() < MIN_TIMER_FAILURES:
        return None
    return _cluster(slow, TIMEOUT_TOLERANCE_S, IDLE_CUT_S)


def connect_timer(result: pd.DataFrame) -> float | None:
    """The connect timer the gateway's failed connects show, over every destination: the second a tight cluster
    of the slow ones ended at, wherever it sits (21 s, 127 s, ...); None when they show none.

    >>> rows = pd.DataFrame({"region": "", "destination": "a:443", "reason": "BackendConnectionFailure",
    ...                      "source": "forward-request", "answered": False, "elapsed_s": [127, 128, 3],
    ...                      "requests": [60, 30, 10]})
    >>> connect_timer(rows)
    127.0
    """
    return None if result.empty else _timer_of(normalise(result))


def retry_delays(timer_s: float | None) -> tuple[int, ...]:
    """When a connect's SYN retransmissions leave, for the schedule that gives up at ``timer_s``; the managed
    gateway's observed (Windows) schedule when no failed connect shows the timer or it fits no schedule. Linux's
    retries come too thick at small delays (1, 3, 7 s) to tell from a slow backend's answers unless its timer
    is seen.

    >>> retry_delays(21.0), retry_delays(126.0), retry_delays(None)
    ((3, 9), (1, 3, 7, 15, 31, 63), (3, 9))
    """
    if timer_s is not None:
        for gives_up, delays in SYN_SCHEDULES.items():
            if abs(timer_s - gives_up) <= TIMEOUT_TOLERANCE_S:
                return delays
    return SYN_SCHEDULES[WINDOWS_TIMER_S]


def _retry_steps(baseline_ms: float, timer_s: float | None) -> set[int]:
    """The whole seconds a call whose first SYNs were dropped lands in."""
    steps: set[int] = set()
    for delay in retry_delays(timer_s):
        first = int((delay * 1000 + baseline_ms) // 1000)
        steps.update((first, first + 1))
    return steps


def _one(
    rows: pd.DataFrame, override_s: float | None, gateway_timer_s: float | None, baseline_ms: float
) -> Fingerprint:
    """One destination's fingerprint; its connect timer is ``override_s``, else its own cluster, else the
    gateway's."""
    own = rows["source"].isin(OWN_SOURCES)
    reason, elapsed, count = rows["reason"], rows["elapsed_s"], rows["requests"]
    connection = own & (reason == CONNECTION_FAILURE)
    idle = connection & (elapsed >= IDLE_CUT_S)
    counted = connection & ~idle
    if override_s is not None:
        timer_s: float | None = override_s
    else:
        own_timer = _timer_of(rows)
        timer_s = own_timer if own_timer is not None else gateway_timer_s
    late = (reason == "") & rows["answered"]
    steps = _retry_steps(baseline_ms, timer_s)
    late_total = float(count[late].sum())
    retries = float(count[late & elapsed.isin(list(steps))].sum())
    slow_successes_are_retries = late_total == 0 or retries >= MIN_RETRY_SHARE * late_total
    masked, ambiguous, masked_reasons, timers = 0.0, 0.0, [], []
    for masked_reason in (TIMEOUT, CLIENT_FAILURE):
        unanswered = rows[own & (reason == masked_reason) & ~rows["answered"]]
        latest = timer_s + TIMEOUT_TOLERANCE_S if timer_s is not None else MAX_CONNECT_TIMER_S
        timer = _cluster(unanswered, 1, latest)
        if timer is not None and slow_successes_are_retries:
            masked += float(unanswered["requests"].sum())
            masked_reasons.append(masked_reason)
            timers.append(timer)
        elif timer is not None:
            ambiguous += float(unanswered["requests"].sum())
    near_timeout = (
        (elapsed - timer_s).abs() <= TIMEOUT_TOLERANCE_S if timer_s is not None else pd.Series(False, index=rows.index)
    )
    failed = rows[reason != ""].sort_values("requests", ascending=False)
    messages = [m for m in dict.fromkeys(failed["sample_message"].fillna("")) if m][:MESSAGES_KEPT]
    return Fingerprint(
        connection_failures=float(count[counted].sum()),
        fast=float(count[counted & (elapsed < SLOW_S)].sum()),
        slow=float(count[counted & (elapsed >= SLOW_S)].sum()),
        at_connect_timeout=float(count[counted & near_timeout].sum()),
        connect_timer_s=timer_s,
        masked=masked,
        masked_reasons=tuple(masked_reasons),
        timer_s=min(timers) if timers else None,
        unanswered_at_timer=ambiguous,
        idle_cuts=float(count[idle].sum()),
        side_calls=float(count[(reason == CONNECTION_FAILURE) & ~own].sum()),
        late_successes=late_total,
        retry_successes=retries,
        messages=tuple(messages),
    )


def fingerprints(
    result: pd.DataFrame, connect_timeout_s: float | None = None, baseline_ms: dict[Key, float] | None = None
) -> dict[Key, Fingerprint]:
    """The fingerprint of every (region, destination) in the ``failure_fingerprint`` query's result.

    ``connect_timeout_s`` overrides the connect timer the data shows; ``baseline_ms`` is each destination's
    usual backend time, which the SYN-retry delays add to.
    """
    if result.empty:
        return {}
    frame = normalise(result)
    baselines = baseline_ms or {}
    gateway = connect_timer(frame)
    return {
        (str(region), str(destination)): _one(
            rows, connect_timeout_s, gateway, baselines.get((region, destination), 0.0)
        )
        for (region, destination), rows in frame.groupby(["region", "destination"], sort=True)
    }


def normalise(result: pd.DataFrame) -> pd.DataFrame:
    """The query's rows with text columns never null and elapsed seconds as numbers (NaN when unknown)."""
    frame = result.copy()
    for column in ("region", "reason", "source", "sample_message"):
        frame[column] = frame[column].fillna("").astype(str) if column in frame else ""
    frame["answered"] = frame["answered"].fillna(False).astype(bool)
    frame["elapsed_s"] = pd.to_numeric(frame["elapsed_s"], errors="coerce").astype("float64")
    frame["requests"] = frame["requests"].astype(np.float64)
    return frame
