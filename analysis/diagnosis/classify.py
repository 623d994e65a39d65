"""Per-destination classification, with the evidence that decided it: a table of rules.

SNAT exhaustion has look-alikes that also fill the logs with
``BackendConnectionFailure``. What sets it apart is weighed on the SNAT *pool*
(``exhaustion``): failures end slowly at a timer (a dropped SYN), come in the pool's
busy minutes, never take every request, and stop as demand falls or as soon as
new connects come no faster than ports are released (``checks``). Every
destination of an exhausted pool is SNAT exhaustion and names the pool, and an
inferred pool says how to confirm it. Logs that cannot tell (``coverage``) make
every destination ``unknown``. Each classification carries its confidence and
what decided it; when the evidence is close, the other cause it cannot rule out.

The classes are tried in ``RULES`` order; the first that applies decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from analysis.diagnosis.assessment import (
    Assessment,
    Check,
    CheckOutcome,
    Classification,
    Confidence,
    Evidence,
    PoolAssessment,
)
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.coverage import Coverage
from analysis.diagnosis.fingerprint import Fingerprint, Key
from analysis.diagnosis.health import share
from analysis.diagnosis.onset import Episode, bad_minutes, episodes
from analysis.diagnosis.pools import PoolKind
from analysis.diagnosis.traffic import MIN_BACKEND_5XX_SHARE, MIN_SLOW_MINUTES

#: Unanswered calls at one timer, in number and in share of the requests, that leave a slow backend open to SNAT.
MIN_UNANSWERED = 10
MIN_UNANSWERED_SHARE = 0.01
CONFIRM_POOL = (
    "inferred from hosts whose failures began together: confirm that they share an IP by resolving the names "
    "(nslookup; for App Service, the app's inbound IP: az webapp show --query inboundIpAddress) and give the map "
    "with --ip-map"
)


@dataclass(frozen=True)
class Destination:
    """One (region, destination), with what every rule reads."""

    key: Key
    own: pd.DataFrame | None
    """Every minute, for a destination looked at closely; None for the rest."""
    episodes: tuple[Episode, ...]
    pools: tuple[PoolAssessment, ...]
    evidence: Evidence
    assumptions: Assumptions
    coverage: Coverage
    others_failing: Callable[[PoolAssessment], tuple[str, ...]]
    """Destinations outside a pool that failed during its worst episode."""
    fingerprint: Fingerprint = Fingerprint()

    @property
    def name(self) -> str:
        return self.key[1]

    @property
    def region(self) -> str:
        return self.key[0]


def end_of(episode: Episode) -> pd.Timestamp:
    """The recovery, or the end of time for an episode still running."""
    return episode.recovery if episode.recovery is not None else pd.Timestamp.max


def _unknown(d: Destination) -> Assessment | None:
    """The logs lack what tells the causes apart: say so rather than guess."""
    missing = d.coverage.missing
    if not missing:
        return None
    reason = f"the logs cannot tell what happened here: they lack {'; '.join(missing)}"
    evidence = replace(d.evidence, missing=missing)
    return Assessment(
        d.name,
        d.region,
        Classification.UNKNOWN,
        reason,
        None,
        evidence,
        confidence=Confidence.LOW,
        decided_by=("missing_evidence",),
    )


def _worst(runs: tuple[Episode, ...]) -> Episode | None:
    return max(runs, key=lambda e: e.events) if runs else None


def _support_rank(pool: PoolAssessment) -> tuple[int, bool, float]:
    """Best-supported first: the more confident, one whose ports fit the assumed capacity, the larger margin."""
    balance = pool.balance
    assert balance is not None
    contradicted = pool.holds_if is not None and pool.holds_if.contradiction is not None
    return list(Confidence).index(balance.confidence), contradicted, balance.against - balance.support


def _exhausted_pool(d: Destination) -> Assessment | None:
    """A member of an exhausted pool: its calls found no free port. The episodes are the pool's: it is the
    pool that ran out, and a member's own share of the failures may be too thin to show each minute."""
    found = [p for p in d.pools if p.exhausted and p.balance is not None]
    pool = min(found, key=_support_rank) if found else None
    if pool is None or pool.failure is None or pool.episode is None or pool.balance is None:
        return None
    failure = replace(pool.failure, other_destinations_failing=d.others_failing(pool))
    shared = len(pool.pool.members) > 1
    reason = f"its SNAT pool {pool.id}" + (f" ({len(pool.pool.members)} hosts)" if shared else "") + " ran out of "
    reason += f"ports: {pool.reason}"
    if pool.pool.kind is PoolKind.INFERRED:
        reason += f"; the pool is {CONFIRM_POOL}"
    balance = pool.balance
    low = balance.confidence is Confidence.LOW
    if d.coverage.self_hosted:
        reason += "; a self-hosted gateway: the NAT of its node or cluster ran out, not an APIM unit's SNAT ports"
    if low:
        reason += "; the evidence is close: it cannot rule out an unreachable backend"
    evidence = replace(d.evidence, failure=failure)
    return Assessment(
        d.name,
        d.region,
        Classification.SNAT_EXHAUSTION,
        reason,
        pool.episode,
        evidence,
        pool.checks,
        pool.episodes,
        pool,
        confidence=balance.confidence,
        decided_by=balance.decided_by,
        alternatives=(Classification.BACKEND_UNREACHABLE,) if low else (),
    )


def _connection_failures(d: Destination) -> Assessment | None:
    """Sustained failed connects that its pool's ports do not explain: an unreachable backend."""
    episode = _worst(d.episodes)
    if episode is None:
        return None
    tested = [p for p in d.pools if p.failure is not None]
    pool = tested[0] if tested else None
    evidence = d.evidence
    checks: tuple[Check, ...] = ()
    if pool is not None and pool.failure is not None:
        evidence = replace(evidence, failure=replace(pool.failure, other_destinations_failing=d.others_failing(pool)))
        checks = pool.checks
    failed = ", ".join(c.name for c in checks if c.outcome is CheckOutcome.FAILED) or "no pool test"
    reason = (
        f"{evidence.traffic.connection_failures} failed connects ({episode.share:.0%} of calls during the episode) "
        f"not explained by its SNAT pool's ports: {failed}"
    )
    balance = pool.balance if pool is not None else None
    confidence = balance.confidence if balance is not None else Confidence.MEDIUM
    if confidence is Confidence.LOW:
        reason += "; the evidence is close: it cannot rule out SNAT exhaustion"
    return Assessment(
        d.name,
        d.region,
        Classification.BACKEND_UNREACHABLE,
        reason,
        episode,
        evidence,
        checks,
        d.episodes,
        pool,
        confidence=confidence,
        decided_by=balance.decided_by if balance is not None else ("no_pool_test",),
        alternatives=(Classification.SNAT_EXHAUSTION,) if confidence is Confidence.LOW else (),
    )


def _backend_errors(d: Destination) -> Assessment | None:
    """HTTP 5xx from the backend itself, in episodes or over the window."""
    traffic_, own = d.evidence.traffic, d.own
    if own is None:
        return None
    found = episodes(
        own["minute"],
        bad_minutes(own["backend_5xx"], own["requests"], min_share=MIN_BACKEND_5XX_SHARE),
        own["backend_5xx"],
        own["requests"],
    )
    if not found and share(traffic_.backend_5xx, traffic_.requests) < MIN_BACKEND_5XX_SHARE:
        return None
    reason = f"{traffic_.backend_5xx} HTTP 5xx returned by the backend itself, with no sustained connection failures"
    return Assessment(
        d.name,
        d.region,
        Classification.BACKEND_ERRORS,
        reason,
        _worst(tuple(found)),
        d.evidence,
        (),
        tuple(found),
        decided_by=("backend_5xx",),
    )


def _slow_backend(d: Destination) -> Assessment | None:
    """At least three slow minutes (backend p95 over ``slow_p95_ms``) while the backend kept answering."""
    own, threshold = d.own, d.assumptions.slow_p95_ms
    if own is None:
        return None
    slow = (own["backend_p95_ms"] >= threshold).astype(int)
    found = episodes(
        own["minute"],
        slow.astype(bool),
        slow,
        (own["requests"] > 0).astype(int),
        min_minutes=MIN_SLOW_MINUTES,
        severity=own["backend_p95_ms"],
    )
    if not found:
        return None
    episode = max(found, key=lambda e: e.bad_minutes)
    reason = (
        f"backend p95 at or above {threshold:.0f} ms for {episode.bad_minutes} minutes "
        f"(worst {d.evidence.traffic.worst_p95_backend_ms:.0f} ms) while the backend kept answering"
    )
    cut = int(own["idle_cuts"].sum())
    if cut:
        reason += f"; {cut} calls still waiting after about 240 s were cut by the platform's idle timeout"
    unsure = _unanswered_at_a_timer(d)
    if unsure:
        reason += f"; {unsure}"
    return Assessment(
        d.name,
        d.region,
        Classification.SLOW_BACKEND,
        reason,
        episode,
        d.evidence,
        (),
        tuple(found),
        confidence=Confidence.LOW if unsure else Confidence.HIGH,
        decided_by=("slow_minutes",),
        alternatives=(Classification.SNAT_EXHAUSTION,) if unsure else (),
    )


def _unanswered_at_a_timer(d: Destination) -> str:
    """Calls that got no answer by one timer, in number: a slow backend's, or dropped SYNs of a pool short of
    ports (a slow backend holds a port per call in flight); the logs cannot tell them apart. "" when few."""
    fp, traffic_ = d.fingerprint, d.evidence.traffic
    if fp.unanswered_at_timer < MIN_UNANSWERED or fp.unanswered_at_timer < MIN_UNANSWERED_SHARE * traffic_.requests:
        return ""
    return (
        f"{fp.unanswered_at_timer:,.0f} calls got no answer by one timer: a slow backend's, or connects whose SYNs "
        f"were dropped for want of SNAT ports, which the logs cannot tell apart (it cannot rule out SNAT exhaustion)"
    )


def _healthy(d: Destination) -> Assessment:
    """Nothing sustained; a destination busier than the capacity allows shows the reuse it must have."""
    traffic_, evidence = d.evidence.traffic, d.evidence
    if traffic_.connection_failures:
        reason = f"{traffic_.connection_failures} isolated connection failures, never sustained enough to be an episode"
    else:
        reason = "no sustained connection failures, backend errors or slowness"
    if traffic_.side_call_failures:
        reason += (
            f"; {traffic_.side_call_failures} of its requests failed in a send-request side call "
            f"(another destination), not on the way to this backend"
        )
    if traffic_.peak_utilisation > 1:
        # It never ran out of ports although the top of the band says it could have: it reuses connections.
        reuse = traffic_.peak_utilisation * d.assumptions.requests_per_connection
        evidence = replace(evidence, implied_min_requests_per_connection=round(reuse, 1))
        reason += (
            f"; without reuse its demand would have reached {traffic_.peak_utilisation:.0%} of the ports, so it "
            f"carries at least {reuse:.1f} requests per connection (or the capacity is larger than assumed)"
        )
    return Assessment(
        d.name, d.region, Classification.HEALTHY, reason, None, evidence, decided_by=("no_sustained_trouble",)
    )


# Tried in order; the first that applies decides, and a destination no rule claims is healthy.
RULES: tuple[Callable[[Destination], Assessment | None], ...] = (
    _unknown,
    _exhausted_pool,
    _connection_failures,
    _backend_errors,
    _slow_backend,
)


def classify(d: Destination) -> Assessment:
    """The first rule that applies, else healthy."""
    for rule in RULES:
        assessment = rule(d)
        if assessment is not None:
            return assessment
    return _healthy(d)
