"""How a destination's calls failed, from the ``failure_fingerprint`` query: the signature of a dropped SYN.

With no free SNAT port the SYN is dropped and the connection attempt times out:
after the connect timeout (about 21 s: SYNs at 0, 3 and 9 s), or earlier at a
shorter ``forward-request`` timeout (logged as ``Timeout``) or when the client
gives up (``ClientConnectionFailure``), in both cases without a backend answer.
Calls whose first SYNs were dropped and a later one got through succeed 3 or 9 s
late. Refused or reset connections and unresolvable names fail in milliseconds:
evidence against SNAT. A failure near 240 s is a call the platform cut while the
backend was still working (a slow backend), not a failed connect.

Unanswered timeouts and client disconnects count as *masked* connect failures
only when they cluster at one timer no later than the connect timeout and the
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
#: Failures ending this close (seconds) to the connect timeout ended at it.
TIMEOUT_TOLERANCE_S = 2
#: Windows retransmits an unanswered SYN after 3 s and again 6 s later.
SYN_RETRY_DELAYS_S = (3, 9)
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
    at_connect_timeout: float = 0.0
    """Of those, ended within ``TIMEOUT_TOLERANCE_S`` of the connect timeout."""
    masked: float = 0.0
    """Unanswered timeouts and client disconnects taken as connect failures (see the module)."""
    masked_reasons: tuple[str, ...] = ()
    timer_s: float | None = None
    """Where the masked failures clustered (the forward-request or client timeout)."""
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

    def masks(self, reason: str) -> bool:
        return reason in self.masked_reasons


def combine(parts: Iterable[tuple[Fingerprint, float]]) -> Fingerprint:
    """The fingerprint of a pool: its members' counts, each weighted by the share of its calls the pool carries."""
    parts = list(parts)
    counted = (
        "connection_failures",
        "fast",
        "at_connect_timeout",
        "masked",
        "idle_cuts",
        "side_calls",
        "late_successes",
        "retry_successes",
    )
    totals = {name: sum(getattr(fp, name) * weight for fp, weight in parts) for name in counted}
    timers = [fp.timer_s for fp, _ in parts if fp.timer_s is not None]
    reasons = sorted({r for fp, _ in parts for r in fp.masked_reasons})
    messages = list(dict.fromkeys(m for fp, _ in parts for m in fp.messages))[:MESSAGES_KEPT]
    return Fingerprint(
        **totals,
        masked_reasons=tuple(reasons),
        timer_s=min(timers) if timers else None,
        messages=tuple(messages),
    )


def _timer(rows: pd.DataFrame, connect_timeout_s: float) -> float | None:
    """The second most unanswered failures ended at, when most ended within a second of it, before the connect
    timeout and not within the first second (a timer, not a refusal)."""
    counts = rows.groupby("elapsed_s")["requests"].sum()
    if counts.empty:
        return None
    mode = float(counts.idxmax())
    near = counts[(counts.index >= mode - 1) & (counts.index <= mode + 1)].sum()
    if near < MIN_CLUSTER_SHARE * counts.sum() or not 1 <= mode <= connect_timeout_s + TIMEOUT_TOLERANCE_S:
        return None
    return mode


def _retry_steps(baseline_ms: float) -> set[int]:
    """The whole seconds a call whose first or second SYN was dropped lands in."""
    steps: set[int] = set()
    for delay in SYN_RETRY_DELAYS_S:
        first = int((delay * 1000 + baseline_ms) // 1000)
        steps.update((first, first + 1))
    return steps


def _one(rows: pd.DataFrame, connect_timeout_s: float, baseline_ms: float) -> Fingerprint:
    own = rows["source"].isin(OWN_SOURCES)
    reason, elapsed, count = rows["reason"], rows["elapsed_s"], rows["requests"]
    connection = own & (reason == CONNECTION_FAILURE)
    idle = connection & (elapsed >= IDLE_CUT_S)
    counted = connection & ~idle
    late = (reason == "") & rows["answered"]
    steps = _retry_steps(baseline_ms)
    late_total = float(count[late].sum())
    retries = float(count[late & elapsed.isin(list(steps))].sum())
    slow_successes_are_retries = late_total == 0 or retries >= MIN_RETRY_SHARE * late_total
    masked, masked_reasons, timers = 0.0, [], []
    for masked_reason in (TIMEOUT, CLIENT_FAILURE):
        unanswered = rows[own & (reason == masked_reason) & ~rows["answered"]]
        timer = _timer(unanswered, connect_timeout_s)
        if timer is not None and slow_successes_are_retries:
            masked += float(unanswered["requests"].sum())
            masked_reasons.append(masked_reason)
            timers.append(timer)
    near_timeout = (elapsed - connect_timeout_s).abs() <= TIMEOUT_TOLERANCE_S
    failed = rows[reason != ""].sort_values("requests", ascending=False)
    messages = [m for m in dict.fromkeys(failed["sample_message"].fillna("")) if m][:MESSAGES_KEPT]
    return Fingerprint(
        connection_failures=float(count[counted].sum()),
        fast=float(count[counted & (elapsed < 1)].sum()),
        at_connect_timeout=float(count[counted & near_timeout].sum()),
        masked=masked,
        masked_reasons=tuple(masked_reasons),
        timer_s=min(timers) if timers else None,
        idle_cuts=float(count[idle].sum()),
        side_calls=float(count[(reason == CONNECTION_FAILURE) & ~own].sum()),
        late_successes=late_total,
        retry_successes=retries,
        messages=tuple(messages),
    )


def fingerprints(
    result: pd.DataFrame, connect_timeout_s: float, baseline_ms: dict[Key, float] | None = None
) -> dict[Key, Fingerprint]:
    """The fingerprint of every (region, destination) in the ``failure_fingerprint`` query's result.

    ``baseline_ms`` is each destination's usual backend time, which the SYN-retry delays add to.
    """
    if result.empty:
        return {}
    frame = normalise(result)
    baselines = baseline_ms or {}
    return {
        (str(region), str(destination)): _one(rows, connect_timeout_s, baselines.get((region, destination), 0.0))
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
