"""Per-destination classification, with the evidence that decided it.

SNAT exhaustion has look-alikes that also fill the logs with
``BackendConnectionFailure``. What sets it apart is judged on the SNAT *pool*
(``pooling``): failures end at a timeout (a dropped SYN), follow the pool's
demand, begin only once that demand could reach the pool's ports, never take
every request, and stop a few minutes after demand falls (``snat_checks``). Every
destination of an exhausted pool is SNAT exhaustion and names the pool. Without
an ``--ip-map``, hosts whose failures began together are tested as one inferred
pool when each alone does not explain them.

Logs that cannot tell (``coverage``) make every destination ``unknown``. The
classes are tried in ``RULES`` order; the first that applies decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from analysis.assessment import (
    Assessment,
    Capacity,
    Classification,
    Evidence,
    InventoryFigures,
    PoolAssessment,
)
from analysis.assumptions import Assumptions
from analysis.coverage import Coverage
from analysis.coverage import assess as assess_coverage
from analysis.fingerprint import Fingerprint, Key, fingerprints
from analysis.health import KEY, dense, gap_minutes, reweighted, share, window_minutes
from analysis.onset import Episode, bad_minutes, episodes
from analysis.pooling import capacity_of, judge_pool, pool_peaks, untested
from analysis.pools import IpMap, Pool, PoolKind, build_pools, infer
from analysis.snat import band
from analysis.traffic import (
    MIN_BACKEND_5XX_SHARE,
    MIN_SLOW_MINUTES,
    candidates,
    effective_failures,
    traffic,
    window_figures,
)

CONFIRM_POOL = (
    "inferred from hosts whose failures began together: confirm that they share an IP by resolving the names "
    "(nslookup; for App Service, the app's inbound IP: az webapp show --query inboundIpAddress) and give the map "
    "with --ip-map"
)


@dataclass(frozen=True)
class Diagnosis:
    """Every destination's assessment and every pool's, with the minutes they were judged on."""

    assessments: list[Assessment]
    pools: list[PoolAssessment]
    coverage: Coverage
    frame: pd.DataFrame = field(repr=False)
    """The minutes with traffic of every destination (sparse), with failures and the demand band."""
    minutes: pd.DataFrame = field(repr=False)
    """Every minute of the destinations looked at closely, with failures and the demand band."""
    pool_minutes: pd.DataFrame = field(repr=False)
    """Every minute of the pools tested, with their demand band."""
    fingerprints: dict[Key, Fingerprint] = field(repr=False)

    @property
    def timeseries(self) -> pd.DataFrame:
        """Per minute, every destination: every minute of those looked at closely, the minutes with traffic of
        the rest (for charts)."""
        if self.minutes.empty:
            return self.frame
        looked = pd.MultiIndex.from_frame(self.minutes[KEY]).unique()
        rest = self.frame[~pd.MultiIndex.from_frame(self.frame[KEY]).isin(looked)]
        return pd.concat([self.minutes.drop(columns="gap"), rest], ignore_index=True)


@dataclass(frozen=True)
class _Destination:
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
    """Destinations outside a pool that failed during its worst episode (``_failing_during``)."""

    @property
    def name(self) -> str:
        return self.key[1]

    @property
    def region(self) -> str:
        return self.key[0]


def _failing_during(failing: dict[Key, tuple[Episode, ...]]) -> Callable[[PoolAssessment], tuple[str, ...]]:
    """For a pool, the destinations outside it that failed during its worst episode (worked out once per pool)."""
    found: dict[str, tuple[str, ...]] = {}

    def others(pool: PoolAssessment) -> tuple[str, ...]:
        episode = pool.episode
        if episode is None:
            return ()
        if pool.id not in found:
            members = set(pool.pool.keys())
            found[pool.id] = tuple(
                f"{destination} ({region})" if region else destination
                for (region, destination), runs in sorted(failing.items())
                if (region, destination) not in members
                and any(r.onset < _end(episode) and _end(r) > episode.onset for r in runs)
            )
        return found[pool.id]

    return others


def _end(episode: Episode) -> pd.Timestamp:
    return episode.recovery if episode.recovery is not None else pd.Timestamp.max


def _unknown(d: _Destination) -> Assessment | None:
    """The logs lack what tells the causes apart: say so rather than guess."""
    missing = d.coverage.missing
    if not missing:
        return None
    reason = f"the logs cannot tell what happened here: they lack {'; '.join(missing)}"
    evidence = replace(d.evidence, missing=missing)
    return Assessment(d.name, d.region, Classification.UNKNOWN, reason, None, evidence)


def _worst(runs: tuple[Episode, ...]) -> Episode | None:
    return max(runs, key=lambda e: e.events) if runs else None


def _exhausted_pool(d: _Destination) -> Assessment | None:
    """A member of an exhausted pool: its calls found no free port. The episodes are the pool's: it is the
    pool that ran out, and a member's own share of the failures may be too thin to show each minute."""
    pool = next((p for p in d.pools if p.exhausted), None)
    if pool is None or pool.failure is None or pool.episode is None:
        return None
    failure = replace(pool.failure, other_destinations_failing=d.others_failing(pool))
    shared = len(pool.pool.members) > 1
    reason = f"its SNAT pool {pool.id}" + (f" ({len(pool.pool.members)} hosts)" if shared else "") + " ran out of "
    reason += f"ports: {pool.reason}"
    if pool.pool.kind is PoolKind.INFERRED:
        reason += f"; the pool is {CONFIRM_POOL}"
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
    )


def _connection_failures(d: _Destination) -> Assessment | None:
    """Sustained failed connects that its pool's ports do not explain: an unreachable backend."""
    episode = _worst(d.episodes)
    if episode is None:
        return None
    tested = [p for p in d.pools if p.failure is not None]
    pool = tested[0] if tested else None
    evidence = d.evidence
    checks: tuple = ()
    if pool is not None and pool.failure is not None:
        evidence = replace(evidence, failure=replace(pool.failure, other_destinations_failing=d.others_failing(pool)))
        checks = pool.checks
    failed = ", ".join(c.name for c in checks if not c.passed) or "no pool test"
    reason = (
        f"{evidence.traffic.connection_failures} failed connects ({episode.share:.0%} of calls during the episode) "
        f"not explained by its SNAT pool's ports: {failed}"
    )
    return Assessment(
        d.name, d.region, Classification.BACKEND_UNREACHABLE, reason, episode, evidence, checks, d.episodes, pool
    )


def _backend_errors(d: _Destination) -> Assessment | None:
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
        d.name, d.region, Classification.BACKEND_ERRORS, reason, _worst(tuple(found)), d.evidence, (), tuple(found)
    )


def _slow_backend(d: _Destination) -> Assessment | None:
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
    return Assessment(d.name, d.region, Classification.SLOW_BACKEND, reason, episode, d.evidence, (), tuple(found))


def _healthy(d: _Destination) -> Assessment:
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
    return Assessment(d.name, d.region, Classification.HEALTHY, reason, None, evidence)


# Tried in order; the first that applies decides, and a destination no rule claims is healthy.
RULES: tuple[Callable[[_Destination], Assessment | None], ...] = (
    _unknown,
    _exhausted_pool,
    _connection_failures,
    _backend_errors,
    _slow_backend,
)


def classify(d: _Destination) -> Assessment:
    for rule in RULES:
        assessment = rule(d)
        if assessment is not None:
            return assessment
    return _healthy(d)


def _inventory(inventory: pd.DataFrame | None) -> dict[str, InventoryFigures]:
    """Whole-window figures per destination (all regions together) from the inventory query, when it ran."""
    if inventory is None or inventory.empty:
        return {}
    found = {}
    for row in inventory.itertuples(index=False):
        p95 = row.backend_p95_ms
        found[str(row.destination)] = InventoryFigures(
            p95_backend_ms=None if pd.isna(p95) else float(p95),
            request_share=round(float(row.request_share), 3),
            error_share=round(float(row.error_share), 3),
        )
    return found


def _own_episodes(minutes: pd.DataFrame, keys: list[Key], hold: int) -> dict[Key, tuple[Episode, ...]]:
    """Failure episodes of each destination; bad minutes closer than the port hold are one episode."""
    found = {}
    wanted = set(keys)
    for (region, destination), own in minutes.groupby(KEY, sort=True):
        key = (str(region), str(destination))
        if key not in wanted:
            continue
        runs = episodes(
            own["minute"],
            bad_minutes(own["failures"], own["requests"]),
            own["failures"],
            own["requests"],
            max_gap=hold,
        )
        if runs:
            found[key] = tuple(runs)
    return found


def diagnose(
    health: pd.DataFrame,
    window: tuple[pd.Timestamp, pd.Timestamp],
    fingerprint_rows: pd.DataFrame,
    assumptions: Assumptions,
    *,
    inventory: pd.DataFrame | None = None,
    drivers: pd.DataFrame | None = None,
    absent_columns: tuple[str, ...] = (),
    ip_map: IpMap | None = None,
) -> Diagnosis:
    """Classify every (region, destination) of the sparse health frame (``health.normalise``).

    ``fingerprint_rows`` is the failure fingerprint query's result, ``drivers`` the
    load drivers of the failing destinations, ``absent_columns`` what the source's rows lack.
    """
    coverage = assess_coverage(health, absent_columns, assumptions.log_sampling_percent)
    frame = reweighted(health, assumptions.sampling_factor)
    baselines = {(str(r), str(d)): float(v) for (r, d), v in frame.groupby(KEY)["backend_p50_ms"].median().items()}
    prints = fingerprints(fingerprint_rows, assumptions.connect_timeout_s, baselines)
    frame["failures"] = effective_failures(frame, prints)
    frame = band(frame, assumptions, KEY)
    figures = window_figures(frame, assumptions.slow_p95_ms)
    keys = [(str(r), str(d)) for r, d in figures.index]
    pools = build_pools(keys, ip_map)
    peaks = pool_peaks(frame, pools, assumptions)
    pools_of: dict[Key, list[Pool]] = {}
    for pool in pools:
        for key in pool.keys():
            pools_of.setdefault(key, []).append(pool)

    look = candidates(figures) if not coverage.missing else None
    failing = look.failing if look else []
    suspect = {p.id: p for key in failing for p in pools_of[key]}
    close = sorted(set(look.all if look else []) | {k for p in suspect.values() for k in p.keys()})
    minutes = dense(frame, close, window_minutes(*window), gap_minutes(health, *window))
    minutes["failures"] = effective_failures(minutes, prints)
    minutes = band(minutes, assumptions, KEY)
    own_episodes = _own_episodes(minutes, failing, assumptions.port_hold_minutes)

    judged: dict[str, PoolAssessment] = {}
    frames = []
    for pool in suspect.values():
        judged[pool.id], pool_frame = judge_pool(
            pool, minutes, prints, capacity_of(pool, drivers, assumptions), assumptions
        )
        frames.append(pool_frame)
    inferred: dict[Key, list[PoolAssessment]] = {}
    if ip_map is None:
        alone = {
            key: max(runs, key=lambda e: e.events)
            for key, runs in own_episodes.items()
            if not any(judged[p.id].exhausted for p in pools_of[key] if p.id in judged)
        }
        for pool in infer(alone):
            assessment, pool_frame = judge_pool(
                pool, minutes, prints, capacity_of(pool, drivers, assumptions), assumptions
            )
            frames.append(pool_frame)
            for key in pool.keys():
                inferred.setdefault(key, []).append(assessment)
    every_pool = [
        judged.get(p.id) or untested(p, Capacity(assumptions.snat_ports, assumptions.units_in(p.region)), peaks)
        for p in pools
    ]
    every_pool += [a for a in {a.id: a for runs in inferred.values() for a in runs}.values() if a.exhausted]

    by_key = minutes.groupby(KEY, sort=False) if len(minutes) else None
    inventory_figures = _inventory(inventory)
    closer = set(close)
    others = _failing_during(own_episodes)
    assessments = []
    for (region, destination), row in figures.iterrows():
        key = (str(region), str(destination))
        own = by_key.get_group(key).reset_index(drop=True) if by_key is not None and key in closer else None
        mine = tuple(judged[p.id] for p in pools_of[key] if p.id in judged) + tuple(inferred.get(key, ()))
        evidence = Evidence(traffic(row, assumptions, key[0]), inventory_figures.get(key[1]))
        found = _Destination(key, own, own_episodes.get(key, ()), mine, evidence, assumptions, coverage, others)
        assessments.append(classify(found))
    assessments.sort(
        key=lambda a: (a.classification.rank, -a.evidence.traffic.connection_failures, a.region, a.destination)
    )
    pool_minutes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Diagnosis(assessments, every_pool, coverage, frame, minutes, pool_minutes, prints)
