"""One diagnosis of a window: every destination classified, every SNAT pool tested, along the data path.

The sparse health frame (reweighted for sampled logging) gets each destination's
failed connects (``fingerprint``, ``traffic``) and demand band (``demand``); a cheap
vectorised pass finds the few destinations worth a close look; only those get
every minute of the window. Their pools (``pools``) are tested (``exhaustion``),
hosts failing together are tested as inferred pools when no map says otherwise,
and each destination is classified by ``classify``'s rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from analysis.diagnosis.assessment import Assessment, Capacity, Evidence, InventoryFigures, PoolAssessment
from analysis.diagnosis.assumptions import Assumptions
from analysis.diagnosis.classify import Destination, classify, end_of
from analysis.diagnosis.coverage import Coverage
from analysis.diagnosis.coverage import assess as assess_coverage
from analysis.diagnosis.demand import band
from analysis.diagnosis.exhaustion import capacity_of, judge_pool, pool_peaks, untested
from analysis.diagnosis.fingerprint import Fingerprint, Key, connect_timer, fingerprints
from analysis.diagnosis.health import KEY, dense, gap_minutes, reweighted, traffic_span, window_minutes
from analysis.diagnosis.onset import Episode, bad_minutes, episodes
from analysis.diagnosis.pools import IpMap, Pool, build_pools, infer
from analysis.diagnosis.traffic import candidates, effective_failures, traffic, window_figures


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
    connect_timer_s: float | None = None
    """The connect timer in force: ``connect_timeout_s`` when given, else the one the gateway's failed connects
    show; None when they show none."""

    @property
    def timeseries(self) -> pd.DataFrame:
        """Per minute, every destination: every minute of those looked at closely, the minutes with traffic of
        the rest (for charts)."""
        if self.minutes.empty:
            return self.frame
        looked = pd.MultiIndex.from_frame(self.minutes[KEY]).unique()
        rest = self.frame[~pd.MultiIndex.from_frame(self.frame[KEY]).isin(looked)]
        return pd.concat([self.minutes.drop(columns="gap"), rest], ignore_index=True)


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
                and any(r.onset < end_of(episode) and end_of(r) > episode.onset for r in runs)
            )
        return found[pool.id]

    return others


def _explains(pool: PoolAssessment) -> bool:
    """An exhausted pool whose ports fit the assumed capacity: its members need no other pool to explain them.
    One that held far fewer ports than assumed may share its IP with hosts failing at the same time."""
    return pool.exhausted and (pool.holds_if is None or pool.holds_if.contradiction is None)


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


@dataclass(frozen=True)
class _Judging:
    """What every pool test and classification of one window reads."""

    minutes: pd.DataFrame
    prints: dict[Key, Fingerprint]
    drivers: pd.DataFrame | None
    assumptions: Assumptions
    coverage: Coverage


def _judge(pools: Iterable[Pool], on: _Judging) -> tuple[dict[str, PoolAssessment], list[pd.DataFrame]]:
    """Each pool's assessment by id, and its minutes with the demand band."""
    judged, frames = {}, []
    for pool in pools:
        capacity = capacity_of(pool, on.drivers, on.assumptions)
        judged[pool.id], frame = judge_pool(
            pool, on.minutes, on.prints, capacity, on.assumptions, self_hosted=on.coverage.self_hosted
        )
        frames.append(frame)
    return judged, frames


def _figured(
    health: pd.DataFrame, fingerprint_rows: pd.DataFrame, assumptions: Assumptions
) -> tuple[pd.DataFrame, dict[Key, Fingerprint]]:
    """The sparse minutes reweighted for sampling, with the failures that count and the demand band, and each
    destination's failure fingerprint (read against its own usual latency)."""
    frame = reweighted(health, assumptions.sampling_factor)
    baselines = {(str(r), str(d)): float(v) for (r, d), v in frame.groupby(KEY)["backend_p50_ms"].median().items()}
    prints = fingerprints(fingerprint_rows, assumptions.connect_timeout_s, baselines)
    frame["failures"] = effective_failures(frame, prints)
    return band(frame, assumptions, KEY), prints


def _close_minutes(
    health: pd.DataFrame,
    frame: pd.DataFrame,
    close: list[Key],
    window: tuple[pd.Timestamp, pd.Timestamp],
    prints: dict[Key, Fingerprint],
    assumptions: Assumptions,
) -> pd.DataFrame:
    """Every minute near the traffic of the destinations looked at closely: ports held and idle after it, bad
    minutes a hold apart, a recovery minute."""
    hold = assumptions.port_hold_minutes
    span = traffic_span(health, window, 2 * hold + assumptions.pool_idle_minutes + 1)
    minutes = dense(frame, close, window_minutes(*span), gap_minutes(health, *span))
    minutes["failures"] = effective_failures(minutes, prints)
    return band(minutes, assumptions, KEY)


def _inferred_pools(
    own_episodes: dict[Key, tuple[Episode, ...]],
    judged: dict[str, PoolAssessment],
    pools_of: dict[Key, list[Pool]],
    on: _Judging,
) -> tuple[dict[Key, list[PoolAssessment]], list[pd.DataFrame]]:
    """Hosts failing together that none of their own pools explain, tested as one pool (only without a map)."""
    alone = {
        key: max(runs, key=lambda e: e.events)
        for key, runs in own_episodes.items()
        if not any(_explains(judged[p.id]) for p in pools_of[key] if p.id in judged)
    }
    tried, frames = _judge(infer(alone), on)
    inferred: dict[Key, list[PoolAssessment]] = {}
    for assessment in tried.values():
        for key in assessment.pool.keys():
            inferred.setdefault(key, []).append(assessment)
    return inferred, frames


def _classified(
    figures: pd.DataFrame,
    close: list[Key],
    own_episodes: dict[Key, tuple[Episode, ...]],
    pools_found: Callable[[Key], tuple[PoolAssessment, ...]],
    inventory: pd.DataFrame | None,
    on: _Judging,
) -> list[Assessment]:
    """Every destination classified by ``classify``'s rules, the most troubled first."""
    by_key = on.minutes.groupby(KEY, sort=False) if len(on.minutes) else None
    inventory_figures = _inventory(inventory)
    closer = set(close)
    others = _failing_during(own_episodes)
    assessments = []
    for (region, destination), row in figures.iterrows():
        key = (str(region), str(destination))
        own = by_key.get_group(key).reset_index(drop=True) if by_key is not None and key in closer else None
        evidence = Evidence(traffic(row, on.assumptions, key[0]), inventory_figures.get(key[1]))
        found = Destination(
            key,
            own,
            own_episodes.get(key, ()),
            pools_found(key),
            evidence,
            on.assumptions,
            on.coverage,
            others,
            on.prints.get(key, Fingerprint()),
        )
        assessments.append(classify(found))
    assessments.sort(
        key=lambda a: (a.classification.rank, -a.evidence.traffic.connection_failures, a.region, a.destination)
    )
    return assessments


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
    self_hosted: bool = False,
) -> Diagnosis:
    """Classify every (region, destination) of the sparse health frame (``health.normalise``).

    ``fingerprint_rows`` is the failure fingerprint query's result, ``drivers`` the
    load drivers of the failing destinations, ``absent_columns`` what the source's rows lack.
    """
    coverage = assess_coverage(health, absent_columns, assumptions.log_sampling_percent, self_hosted)
    frame, prints = _figured(health, fingerprint_rows, assumptions)
    figures = window_figures(frame, assumptions.slow_p95_ms)
    pools = build_pools([(str(r), str(d)) for r, d in figures.index], ip_map)
    pools_of: dict[Key, list[Pool]] = {}
    for pool in pools:
        for key in pool.keys():
            pools_of.setdefault(key, []).append(pool)

    # A cheap pass finds the destinations worth a close look; only they and their pools get every minute.
    look = candidates(figures) if not coverage.missing else None
    failing = look.failing if look else []
    suspect = {p.id: p for key in failing for p in pools_of[key]}
    close = sorted(set(look.all if look else []) | {k for p in suspect.values() for k in p.keys()})
    minutes = _close_minutes(health, frame, close, window, prints, assumptions)
    own_episodes = _own_episodes(minutes, failing, assumptions.port_hold_minutes)
    on = _Judging(minutes, prints, drivers, assumptions, coverage)

    judged, frames = _judge(suspect.values(), on)
    inferred, inferred_frames = _inferred_pools(own_episodes, judged, pools_of, on) if ip_map is None else ({}, [])
    peaks = pool_peaks(frame, pools, assumptions)
    every_pool = [
        judged.get(p.id) or untested(p, Capacity(assumptions.snat_ports, assumptions.units_in(p.region)), peaks)
        for p in pools
    ]
    every_pool += [a for a in {a.id: a for runs in inferred.values() for a in runs}.values() if a.exhausted]

    def pools_found(key: Key) -> tuple[PoolAssessment, ...]:
        return tuple(judged[p.id] for p in pools_of[key] if p.id in judged) + tuple(inferred.get(key, ()))

    assessments = _classified(figures, close, own_episodes, pools_found, inventory, on)
    frames += inferred_frames
    pool_minutes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    timer = (
        assumptions.connect_timeout_s if assumptions.connect_timeout_s is not None else connect_timer(fingerprint_rows)
    )
    return Diagnosis(assessments, every_pool, coverage, frame, minutes, pool_minutes, prints, timer)
