"""The tests of the SNAT hypothesis on a pool's worst connection-failure episode, as a table.

A pool is exhausted only when no check fails; a check the data cannot answer
(the window ends before the failures do) is not judged, which is said. Each
check is a small function of the episode's measures that returns what it
measured, the threshold it held that against, the outcome and a sentence for
the report; adding a check is adding one function to ``SNAT_CHECKS``.

The pool's demand is a band (``snat``): its bottom follows the requests in
flight, its top the requests in the port hold. Real demand lies in between and
rises with one or the other (a slow backend at a steady rate, or a burst of
unpooled calls): failures must follow one end or the other, and stop as one of
them falls; minutes are of low load only when even the top of the band was low;
and the capacity check asks whether the top of the band could reach the fewest
ports the pool may have had.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.assessment import Capacity, Check, CheckOutcome
from analysis.fingerprint import Fingerprint
from analysis.health import share
from analysis.onset import Episode

# Thresholds of the SNAT checks; each is reported beside the value it judged.
MIN_SHARE_AT_TIMEOUT = 0.5
MIN_DEMAND_CORRELATION = 0.4
MAX_LOW_LOAD_FAILURE_SHARE = 0.01
MAX_SNAT_FAILURE_SHARE = 0.9
MIN_UTILISATION_AT_ONSET = 0.5
LOW_LOAD_FRACTION = 0.5
MAX_EARLY_RECOVERY_MINUTES = 1
HOLD_AFTER = pd.Timedelta(minutes=4)  # the demand's level after a recovery: the median of these minutes
LATEST_FALL = pd.Timedelta(minutes=MAX_EARLY_RECOVERY_MINUTES)  # a fall later than this after the recovery is too late

ENDS = (("demand_low", "requests in flight"), ("demand_high", "requests in the port hold"))


@dataclass(frozen=True)
class DemandEnd:
    """The measures of one end of the demand band over the pool's minutes."""

    column: str
    label: str
    correlation: float | None
    """Spearman correlation of this end with the failure rate, over the minutes with requests (gaps aside)."""
    at_onset: float
    low_load_failure_share: float
    """Failed share of the requests while this end was under ``LOW_LOAD_FRACTION`` of its onset level."""
    recovery_lags: tuple[float, float] | None
    """The range of minutes from this end falling back to the recovery (``_recovery_lags``)."""


@dataclass(frozen=True)
class EpisodeMeasures:
    """What the checks judge, measured once on one pool's worst connection-failure episode."""

    episode: Episode
    ends: tuple[DemandEnd, DemandEnd]
    capacity: Capacity
    fingerprint: Fingerprint
    connect_timeout_s: float
    hold_minutes: int

    @property
    def low(self) -> DemandEnd:
        return self.ends[0]

    @property
    def high(self) -> DemandEnd:
        return self.ends[1]

    @property
    def driving(self) -> DemandEnd:
        """The end the failures follow best (the top of the band on a tie or when neither can be measured)."""
        low, high = self.ends
        if low.correlation is not None and (high.correlation is None or low.correlation > high.correlation):
            return low
        return high

    @property
    def recovering(self) -> DemandEnd:
        """The end whose fall the recovery fits best: one within what SNAT allows when there is one."""
        fits = [end for end in self.ends if _allowed(self.recovery_lag(end), self.hold_minutes)]
        return fits[0] if fits else self.driving

    def recovery_lag(self, end: DemandEnd) -> float | None:
        """Minutes from ``end`` falling to the recovery: of the range the noise allows, the value nearest to
        what SNAT allows (so it is inside exactly when some reading of the fall is)."""
        if end.recovery_lags is None:
            return None
        low, high = end.recovery_lags
        earliest, latest = -MAX_EARLY_RECOVERY_MINUTES, 2 * self.hold_minutes
        if high < earliest:
            return high
        if low > latest:
            return low
        return max(low, earliest)

    @property
    def utilisation_at_onset(self) -> float:
        """The top of the band at onset against the fewest ports the pool may have had."""
        return self.high.at_onset / self.capacity.low


def _allowed(lag: float | None, hold_minutes: int) -> bool:
    return lag is not None and -MAX_EARLY_RECOVERY_MINUTES <= lag <= 2 * hold_minutes


def correlation(demand: pd.Series, failure_rate: pd.Series) -> float | None:
    """Spearman's rho, or None with fewer than three points or a constant series."""
    both = pd.DataFrame({"demand": demand, "rate": failure_rate}).dropna()
    if len(both) < 3 or both["demand"].nunique() < 2 or both["rate"].nunique() < 2:
        return None
    ranks = both.rank()  # Spearman's rho is Pearson's r of the ranks.
    value = float(ranks["demand"].corr(ranks["rate"]))
    return round(value, 3) if np.isfinite(value) else None


def _stays_below(demand: pd.Series, after: pd.Timestamp, until: pd.Timestamp, level: float) -> pd.Timestamp | None:
    """The first minute in ``(after, until]`` from which ``demand`` stays under ``level`` up to ``until``."""
    later = demand[(demand.index > after) & (demand.index <= until)]
    above = later[later >= level]
    rest = later[later.index > above.index[-1]] if len(above) else later
    return rest.index[0] if len(rest) else None


def _recovery_lags(minutes: pd.DataFrame, column: str, episode: Episode, level: float) -> tuple[float, float] | None:
    """The range of minutes from the demand falling to the recovery.

    When it fell is uncertain by the noise of a plateau: it has fallen for good once it stays under
    its onset level, and surely once it stays under halfway from there to its level after the
    recovery. None when it did not fall below its onset level by ``LATEST_FALL`` after the recovery.
    """
    if episode.recovery is None:
        return None
    demand = minutes.set_index("minute")[column]
    after = demand[(demand.index >= episode.recovery) & (demand.index < episode.recovery + HOLD_AFTER)]
    settled = float(after.median()) if len(after) else level
    until = episode.recovery + LATEST_FALL
    early = _stays_below(demand, episode.peak, until, level)
    late = _stays_below(demand, episode.peak, until, (level + settled) / 2) if settled < level else early
    if early is None or late is None:
        return None
    minute = pd.Timedelta(minutes=1)
    return (episode.recovery - late) / minute, (episode.recovery - early) / minute


def measure(
    minutes: pd.DataFrame,
    episode: Episode,
    capacity: Capacity,
    fingerprint: Fingerprint,
    connect_timeout_s: float,
    hold_minutes: int,
) -> EpisodeMeasures:
    """The measures of ``episode`` on one pool's minutes (every minute, in order, with its demand band)."""
    known = minutes[~minutes["gap"]] if "gap" in minutes else minutes
    rate = known["failures"] / known["requests"].where(known["requests"] > 0)
    at_onset = minutes.loc[minutes["minute"] == episode.onset].iloc[0]
    ends = []
    for column, label in ENDS:
        level = float(at_onset[column])
        low_load = known[known[column] < LOW_LOAD_FRACTION * level]
        ends.append(
            DemandEnd(
                column=column,
                label=label,
                correlation=correlation(known[column], rate),
                at_onset=level,
                low_load_failure_share=share(low_load["failures"].sum(), low_load["requests"].sum()),
                recovery_lags=_recovery_lags(minutes, column, episode, level),
            )
        )
    return EpisodeMeasures(episode, (ends[0], ends[1]), capacity, fingerprint, connect_timeout_s, hold_minutes)


def _outcome(passed: bool) -> CheckOutcome:
    return CheckOutcome.PASSED if passed else CheckOutcome.FAILED


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def failures_end_at_a_timeout(m: EpisodeMeasures) -> Check:
    """A dropped SYN ends at the connect timeout (or a shorter forward-request or client timeout);
    a refused or reset connection fails in milliseconds."""
    fp = m.fingerprint
    at_timeout, fast = fp.share_at_timeout, fp.share_fast
    name = "failures_end_at_a_timeout"
    if at_timeout is None or fast is None:
        return Check(name, None, MIN_SHARE_AT_TIMEOUT, CheckOutcome.NOT_JUDGED, "no elapsed time of the failures")
    timers = f"the {m.connect_timeout_s:g} s connect timeout"
    if fp.masked:
        reasons = " and ".join(fp.masked_reasons)
        timers += f" or the {fp.timer_s:g} s timer of {fp.masked:.0f} unanswered {reasons} rows"
    return Check(
        name,
        round(at_timeout, 3),
        MIN_SHARE_AT_TIMEOUT,
        _outcome(at_timeout >= MIN_SHARE_AT_TIMEOUT),
        f"{at_timeout:.0%} of {fp.failures:,.0f} failed connects ended at {timers}; {fast:.0%} failed in under a "
        f"second (refused, reset or unresolvable) (SNAT needs >= {MIN_SHARE_AT_TIMEOUT:.0%} at a timeout)",
    )


def failures_follow_demand(m: EpisodeMeasures) -> Check:
    """SNAT failures rise and fall with the pool's demand: with its calls in flight or with its requests."""
    best = m.driving.correlation
    return Check(
        "failures_follow_demand",
        best,
        MIN_DEMAND_CORRELATION,
        _outcome(best is not None and best >= MIN_DEMAND_CORRELATION),
        f"Spearman correlation of the failure rate with the requests in flight {_shown(m.low.correlation)}, with "
        f"the requests in the port hold {_shown(m.high.correlation)} (SNAT needs >= {MIN_DEMAND_CORRELATION})",
    )


def no_failures_at_low_load(m: EpisodeMeasures) -> Check:
    """Ports are plenty while demand is surely low (even the top of its band): SNAT spares those minutes,
    an outage does not."""
    end = m.high
    return Check(
        "no_failures_at_low_load",
        round(end.low_load_failure_share, 3),
        MAX_LOW_LOAD_FAILURE_SHARE,
        _outcome(end.low_load_failure_share <= MAX_LOW_LOAD_FAILURE_SHARE),
        f"{end.low_load_failure_share:.1%} of requests failed while even the top of the demand band was under half "
        f"its onset level (SNAT needs <= {MAX_LOW_LOAD_FAILURE_SHARE:.0%})",
    )


def some_requests_get_through(m: EpisodeMeasures) -> Check:
    """Ports free up all the time, so some calls get one; a backend that is down fails them all."""
    failed = m.episode.share
    return Check(
        "some_requests_get_through",
        round(failed, 3),
        MAX_SNAT_FAILURE_SHARE,
        _outcome(failed < MAX_SNAT_FAILURE_SHARE),
        f"{failed:.1%} of requests failed during the episode "
        f"(an outage fails nearly all; SNAT needs < {MAX_SNAT_FAILURE_SHARE:.0%})",
    )


def demand_could_reach_capacity(m: EpisodeMeasures) -> Check:
    """Ports run out only near the capacity: failures that begin while even the top of the band is far
    below the fewest ports the pool may have had have another cause."""
    c = m.capacity
    ports = f"{c.low:,} ports" + (
        f" (one unit's: few callers carried the load; {c.high:,} over {c.units} units)" if c.low != c.high else ""
    )
    return Check(
        "demand_could_reach_capacity",
        round(m.utilisation_at_onset, 3),
        MIN_UTILISATION_AT_ONSET,
        _outcome(m.utilisation_at_onset >= MIN_UTILISATION_AT_ONSET),
        f"demand at onset between {m.low.at_onset:,.0f} (in flight) and {m.high.at_onset:,.0f} (every request in "
        f"the hold a new connection) against {ports}: the top reaches {m.utilisation_at_onset:.0%} "
        f"(SNAT needs >= {MIN_UTILISATION_AT_ONSET:.0%})",
    )


def recovers_as_demand_falls(m: EpisodeMeasures) -> Check:
    """SNAT frees ports only as demand falls: failures stop a few minutes after it does, not before."""
    name = "recovers_as_demand_falls"
    end = m.recovering
    latest = 2 * m.hold_minutes
    allowed = (-MAX_EARLY_RECOVERY_MINUTES, latest)
    if m.episode.recovery is None:
        return Check(name, None, allowed, CheckOutcome.NOT_JUDGED, "not recovered by the end of the window: not judged")
    lag, lags = m.recovery_lag(end), end.recovery_lags
    if lag is None or lags is None:
        return Check(
            name,
            None,
            allowed,
            CheckOutcome.FAILED,
            "failures stopped while the demand (both ends of its band) stayed at or above its onset level",
        )
    span = f"{lags[0]:.0f} to {lags[1]:.0f}" if lags[0] != lags[1] else f"{lags[1]:.0f}"
    return Check(
        name,
        lag,
        allowed,
        _outcome(-MAX_EARLY_RECOVERY_MINUTES <= lag <= latest),
        f"failures stopped {span} minute(s) after the {end.label} fell back from their onset level "
        f"(SNAT needs -{MAX_EARLY_RECOVERY_MINUTES} to {latest})",
    )


SNAT_CHECKS: tuple[Callable[[EpisodeMeasures], Check], ...] = (
    failures_end_at_a_timeout,
    failures_follow_demand,
    no_failures_at_low_load,
    some_requests_get_through,
    demand_could_reach_capacity,
    recovers_as_demand_falls,
)


def run_checks(measures: EpisodeMeasures) -> tuple[Check, ...]:
    """Every check of ``SNAT_CHECKS``, in order."""
    return tuple(check(measures) for check in SNAT_CHECKS)


def exhausted(checks: tuple[Check, ...]) -> bool:
    """SNAT exhaustion: no check failed, and only the recovery may be left unjudged."""
    return all(
        c.passed or (c.outcome is CheckOutcome.NOT_JUDGED and c.name == "recovers_as_demand_falls") for c in checks
    )
