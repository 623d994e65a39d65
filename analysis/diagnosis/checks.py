"""The tests of the SNAT hypothesis on a pool's worst connection-failure episode, as a table, and their balance.

Each check is a small function of the episode's measures that returns what it
measured, the threshold it held that against, whether that supports SNAT or
counts against it, how strongly (its ``weight``) and a sentence for the report;
adding a check is adding one function to ``SNAT_CHECKS``. A check with nothing to
measure (the window ends before the failures do, too few minutes) is not judged:
it neither supports nor counts against. ``weigh`` sets the support against the
counter-evidence and gives the answer a confidence; no single check vetoes,
except failures in milliseconds: a dropped SYN cannot fail that fast.

The logs never show the ports, the reuse or the platform's timers, so no check
hinges on one value of them. The pool's demand is a band (``demand``): its bottom
follows the requests in flight, its top every connect attempted in the port
hold; the ports the pool really *held* leave the failed connects out. Failures
must tell the busy minutes from the calm ones; the held ports while it failed are
an empirical capacity the assumed one is compared with; and the recovery comes
as the demand falls, or as soon as new connects arrive no faster than held ports
are released.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.diagnosis.assessment import Balance, Capacity, Check, CheckOutcome, Confidence
from analysis.diagnosis.fingerprint import Fingerprint
from analysis.diagnosis.health import share
from analysis.diagnosis.onset import Episode, bad_minutes

# How strongly a check's outcome bears on SNAT.
WEAK = 1.0
STRONG = 2.0
DECISIVE = 10.0
"""Only failures in milliseconds weigh this much: no port shortage refuses a connect."""

# Thresholds of the SNAT checks; each is reported beside the value it judged.
MIN_SHARE_AT_TIMEOUT = 0.5
MIN_SHARE_SLOW = 0.5
MIN_SEPARATION = 0.8
"""Failures follow demand when a failing minute's demand beats a calm minute's this often (0.5 is chance)."""
MIN_WEAK_SEPARATION = 0.6
MAX_LOW_LOAD_FAILURE_SHARE = 0.01
MIN_LOW_LOAD_MINUTES = 3
MAX_SNAT_FAILURE_SHARE = 0.9
MIN_UTILISATION_AT_ONSET = 0.5
"""The most ports the pool can have held while it failed, against the fewest it may have had."""
NOTHING_HELD = 0.1
"""Below this share of the fewest ports, almost no connect succeeded while it failed: nothing held the ports."""
LOW_LOAD_FRACTION = 0.5
MAX_EARLY_RECOVERY_MINUTES = 1
RELEASE_SLACK = 0.15
"""New connects at the recovery at most this share (or two standard errors) above the ports released per minute:
released ports explain it."""
MIN_CONTRARY_RELEASE_RATIO = 1.25
"""Failures stopping while new connects came this many times (and three standard errors) faster than ports were
released: no port came free, so capacity was added then, or the failures were not a port shortage."""
MAX_LEVEL_SPREAD = 1.5
"""The held ports of the episodes, highest over lowest: one capacity."""
HOLD_AFTER = pd.Timedelta(minutes=4)  # the demand's level after a recovery: the median of these minutes
MIN_FALL = 0.2
"""The demand fell when its level after the recovery is at least this share under its onset level (a steady
demand's noise dips under its own level now and then)."""
LATEST_FALL = pd.Timedelta(minutes=MAX_EARLY_RECOVERY_MINUTES)  # a fall later than this after the recovery is too late
AFTER_RECOVERY = 2  # minutes from the recovery whose new connects are set against the ports released
MIN_RELEASED = 20
"""Fewer successful connects than this in the hold before the recovery release too few ports to measure a rate."""
MIN_ANSWERED_KEPT = 0.5
"""The calls in flight count only answered calls: when the failing minutes kept under this share of the answers
of the minutes before, their fall is the failures' own doing, not demand falling."""

# Confidence from the balance.
HIGH_SUPPORT = 5.0
MIN_MARGIN = 2.0

ENDS = (
    ("demand_low", "requests in flight"),
    ("demand_high", "requests in the port hold"),
    ("opened", "new connects a minute"),
)


@dataclass(frozen=True)
class DemandEnd:
    """The measures of one measure of demand (an end of the band, or the new connects) over the pool's minutes."""

    column: str
    label: str
    correlation: float | None
    """Spearman correlation of this measure with the failure rate, over the minutes with requests (gaps aside)."""
    separation: float | None
    """How often a failing minute's demand beats a calm one's (``separation``)."""
    at_onset: float
    low_load_failure_share: float
    """Failed share of the requests while this end was under ``LOW_LOAD_FRACTION`` of its level at failure."""
    low_load_minutes: int
    recovery_lags: tuple[float, float] | None
    """The range of minutes from this end falling back to the recovery (``_recovery_lags``)."""


@dataclass(frozen=True)
class HeldPorts:
    """The ports the pool held while it failed (outside the warm-up): at most every successful connect in the
    hold plus the calls in flight, at least the calls in flight. A saturated pool holds its capacity."""

    low: float | None
    high: float | None
    by_episode: tuple[float, ...] = ()
    """``high`` of each episode with minutes to measure, in time order."""

    @property
    def spread(self) -> float | None:
        """Highest over lowest held level of the episodes; None with fewer than two."""
        levels = [level for level in self.by_episode if level > 0]
        return max(levels) / min(levels) if len(levels) > 1 else None


@dataclass(frozen=True)
class EpisodeMeasures:
    """What the checks judge, measured once on one pool's worst connection-failure episode."""

    episode: Episode
    ends: tuple[DemandEnd, ...]
    capacity: Capacity
    fingerprint: Fingerprint
    hold_minutes: int
    held: HeldPorts = HeldPorts(None, None)
    release_ratio: float | None = None
    """New connects in the minutes from the recovery against the ports released per minute before it."""
    release_error: float = 0.0
    """The standard error of ``release_ratio`` (Poisson counts on both sides)."""
    self_hosted: bool = False
    """A self-hosted gateway's pool: its ports are its node's or cluster's NAT's, not ``capacity``."""

    def end(self, column: str) -> DemandEnd:
        return next(e for e in self.ends if e.column == column)

    @property
    def low(self) -> DemandEnd:
        return self.end("demand_low")

    @property
    def high(self) -> DemandEnd:
        return self.end("demand_high")

    @property
    def band(self) -> tuple[DemandEnd, ...]:
        """The two ends of the demand band (what falls after a recovery)."""
        return tuple(e for e in self.ends if e.column != "opened")

    @property
    def driving(self) -> DemandEnd:
        """The measure that tells the failing minutes apart best (the top of the band on a tie or when none can)."""
        scored = [e for e in self.ends if e.separation is not None]
        return max(scored, key=lambda e: e.separation or 0.0) if scored else self.high

    @property
    def recovering(self) -> DemandEnd:
        """The end whose fall the recovery fits best: one within what SNAT allows when there is one."""
        fits = [end for end in self.band if _allowed(self.recovery_lag(end), self.hold_minutes)]
        return fits[0] if fits else self.high

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


def separation(demand: pd.Series, failing: pd.Series) -> float | None:
    """How often a failing minute's demand is above a calm minute's (ties count half): the area under the ROC
    curve, by Mann-Whitney's U. Unlike a correlation over the window it does not shrink as the quiet part
    grows. None with fewer than two failing or three calm minutes.

    >>> demand = pd.Series([1.0, 2.0, 3.0, 9.0, 8.0, 2.0])
    >>> separation(demand, pd.Series([False, False, False, True, True, False]))
    1.0
    """
    failing = failing.astype(bool)
    bad, calm = int(failing.sum()), int((~failing).sum())
    if bad < 2 or calm < 3:
        return None
    ranks = demand.rank()
    u = float(ranks[failing].sum()) - bad * (bad + 1) / 2
    return round(u / (bad * calm), 3)


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
    recovery. None when it did not fall below its onset level by ``LATEST_FALL`` after the recovery,
    or its level after the recovery is not ``MIN_FALL`` under the onset's (a steady demand).
    """
    if episode.recovery is None:
        return None
    demand = minutes.set_index("minute")[column]
    after = demand[(demand.index >= episode.recovery) & (demand.index < episode.recovery + HOLD_AFTER)]
    settled = float(after.median()) if len(after) else level
    if settled > (1 - MIN_FALL) * level:
        return None
    until = episode.recovery + LATEST_FALL
    early = _stays_below(demand, episode.peak, until, level)
    late = _stays_below(demand, episode.peak, until, (level + settled) / 2) if settled < level else early
    if early is None or late is None:
        return None
    minute = pd.Timedelta(minutes=1)
    return (episode.recovery - late) / minute, (episode.recovery - early) / minute


def _release_ratio(minutes: pd.DataFrame, episode: Episode, hold_minutes: int) -> tuple[float | None, float]:
    """New connects from the recovery on against the connects that succeeded per minute in the episode's last
    hold before it: in a saturated pool those are the ports released each minute. Reuse divides both alike.
    With its standard error, from the counts on both sides."""
    if episode.recovery is None:
        return None, 0.0
    minute = minutes["minute"]
    since = max(episode.onset, episode.recovery - pd.Timedelta(minutes=hold_minutes))
    before = minutes[(minute >= since) & (minute < episode.recovery)]
    after = minutes[(minute >= episode.recovery) & (minute < episode.recovery + pd.Timedelta(minutes=AFTER_RECOVERY))]
    if before.empty or after.empty:
        return None, 0.0
    succeeded = float((before["requests"] - before["failures"]).clip(lower=0).sum())
    attempted = float(after["requests"].sum())
    if succeeded < MIN_RELEASED:
        # Too few ports were released to measure a rate: no port came free to speak of.
        return (None, 0.0) if attempted < MIN_RELEASED else (float("inf"), 0.0)
    ratio = (attempted / len(after)) / (succeeded / len(before))
    error = ratio * float(np.sqrt(1 / max(attempted, 1.0) + 1 / succeeded))
    return round(ratio, 2), round(error, 3)


def _answers_kept(minutes: pd.DataFrame, episode: Episode, hold_minutes: int) -> bool:
    """Whether the failing minutes kept ``MIN_ANSWERED_KEPT`` of the answers a minute of the hold before the onset:
    a saturated pool keeps answering as its ports come free, an outage stops answering."""
    minute = minutes["minute"]
    answered = minutes["requests"] - minutes["failures"]
    before = answered[(minute >= episode.onset - pd.Timedelta(minutes=hold_minutes)) & (minute < episode.onset)]
    end = episode.recovery if episode.recovery is not None else minute.max() + pd.Timedelta(minutes=1)
    during = answered[(minute >= episode.onset) & (minute < end)]
    if before.empty or during.empty or float(before.median()) <= 0:
        return True
    return float(during.median()) >= MIN_ANSWERED_KEPT * float(before.median())


def _held(minutes: pd.DataFrame, failing: pd.Series, episodes: Sequence[Episode]) -> HeldPorts:
    """The median ports held over the failing minutes (outside the warm-up), overall and per episode."""

    def level(column: str, mask: pd.Series) -> float | None:
        values = minutes.loc[mask, column]
        return round(float(values.median()), 1) if len(values) else None

    by_episode = []
    for episode in episodes:
        end = episode.recovery if episode.recovery is not None else pd.Timestamp.max
        inside = failing & (minutes["minute"] >= episode.onset) & (minutes["minute"] < end)
        found = level("held_high", inside)
        if found is not None:
            by_episode.append(found)
    return HeldPorts(level("demand_low", failing), level("held_high", failing), tuple(by_episode))


def measure(
    minutes: pd.DataFrame,
    episode: Episode,
    capacity: Capacity,
    fingerprint: Fingerprint,
    hold_minutes: int,
    *,
    episodes: Sequence[Episode] = (),
    warm_up_minutes: int = 0,
    self_hosted: bool = False,
) -> EpisodeMeasures:
    """The measures of ``episode`` on one pool's minutes (every minute, in order, with its demand band).

    The first ``warm_up_minutes`` minutes lack the port hold before the data and understate the band: they
    are left out of what compares demand levels. ``episodes`` are all the pool's episodes (the worst among
    them), for the held level of each.
    """
    minutes = minutes.assign(opened=minutes["requests"])
    if "held_high" not in minutes:
        minutes = minutes.assign(held_high=minutes["demand_high"])
    warm = minutes["minute"] < minutes["minute"].min() + pd.Timedelta(minutes=warm_up_minutes)
    known = minutes[~minutes["gap"] & ~warm] if "gap" in minutes else minutes[~warm]
    busy = known[known["requests"] > 0]
    rate = busy["failures"] / busy["requests"]
    failing = bad_minutes(busy["failures"], busy["requests"])
    at_onset = minutes.loc[minutes["minute"] == episode.onset].iloc[0]
    known_failing = bad_minutes(known["failures"], known["requests"])
    failing_known = known[known_failing]
    # Levels at failure: the onset's when the data holds it, else the failing minutes' median (an onset in the
    # warm-up, or before the data starts, has an understated band).
    trusted = episode.onset_observed and not bool(warm[minutes["minute"] == episode.onset].any())
    kept = _answers_kept(minutes, episode, hold_minutes)
    ends = []
    for column, label in ENDS:
        onset_level = float(at_onset[column])
        level = onset_level if trusted or failing_known.empty else float(failing_known[column].median())
        low_load = busy[busy[column] < LOW_LOAD_FRACTION * level]
        ends.append(
            DemandEnd(
                column=column,
                label=label,
                correlation=correlation(busy[column], rate),
                separation=separation(busy[column], failing),
                at_onset=onset_level,
                low_load_failure_share=share(low_load["failures"].sum(), low_load["requests"].sum()),
                low_load_minutes=len(low_load),
                recovery_lags=_recovery_lags(minutes, column, episode, level)
                if column == "demand_high" or (column == "demand_low" and kept)
                else None,
            )
        )
    held = _held(known, known_failing, episodes or (episode,))
    ratio, error = _release_ratio(minutes, episode, hold_minutes)
    return EpisodeMeasures(episode, tuple(ends), capacity, fingerprint, hold_minutes, held, ratio, error, self_hosted)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _check(
    name: str,
    measured: float | None,
    threshold: float | tuple[float, float],
    supports: bool,
    weight: float,
    detail: str,
    ceiling: Confidence | None = None,
) -> Check:
    outcome = CheckOutcome.PASSED if supports else CheckOutcome.FAILED
    return Check(name, measured, threshold, outcome, detail, weight, ceiling)


def failures_end_at_a_timeout(m: EpisodeMeasures) -> Check:
    """A dropped SYN ends at a timer (the connect timer, wherever it sits, or a shorter forward-request or
    client timeout), or at least slowly; a refused or reset connection fails in milliseconds."""
    fp = m.fingerprint
    at_timeout, fast, slow = fp.share_at_timeout, fp.share_fast, fp.share_slow
    name = "failures_end_at_a_timeout"
    if at_timeout is None or fast is None or slow is None:
        return Check(name, None, MIN_SHARE_AT_TIMEOUT, CheckOutcome.NOT_JUDGED, "no elapsed time of the failures")
    timer = fp.connect_timer_s
    timers = f"the {timer:g} s connect timer" if timer is not None else "no single connect timer"
    if fp.masked:
        reasons = " and ".join(fp.masked_reasons)
        timers += f" or the {fp.timer_s:g} s timer of {fp.masked:.0f} unanswered {reasons} rows"
    said = (
        f"{at_timeout:.0%} of {fp.failures:,.0f} failed connects ended at {timers}, {slow:.0%} after a second or "
        f"more; {fast:.0%} failed in under a second (refused, reset or unresolvable)"
    )
    if fast >= 1 - MIN_SHARE_SLOW:
        return _check(name, round(at_timeout, 3), MIN_SHARE_AT_TIMEOUT, False, DECISIVE, f"{said}: no dropped SYN")
    if at_timeout >= MIN_SHARE_AT_TIMEOUT:
        return _check(name, round(at_timeout, 3), MIN_SHARE_AT_TIMEOUT, True, STRONG, f"{said}: a timer in force")
    if slow >= MIN_SHARE_SLOW:
        detail = f"{said}: slow, but at no one timer (the timer varies, or clients gave up at their own)"
        return _check(name, round(at_timeout, 3), MIN_SHARE_AT_TIMEOUT, True, WEAK, detail)
    return _check(name, round(at_timeout, 3), MIN_SHARE_AT_TIMEOUT, False, WEAK, f"{said}: neither slow nor fast")


def failures_follow_demand(m: EpisodeMeasures) -> Check:
    """SNAT failures come in the busy minutes: a failing minute's demand (in flight, in the hold, or new
    connects) is above the calm minutes'; an outage fails at any load."""
    name = "failures_follow_demand"
    end = m.driving
    best = end.separation
    spearman = ", ".join(f"{e.label} {_shown(e.correlation)}" for e in m.ends)
    if best is None:
        detail = "too few failing or calm minutes to tell whether the failures came with the demand"
        return Check(name, None, MIN_SEPARATION, CheckOutcome.NOT_JUDGED, detail)
    said = (
        f"a failing minute's {end.label} is above a calm minute's {best:.0%} of the time (chance: 50%; "
        f"Spearman correlation with the failure rate: {spearman})"
    )
    if best >= MIN_SEPARATION:
        return _check(name, best, MIN_SEPARATION, True, STRONG, said)
    if best >= MIN_WEAK_SEPARATION:
        return _check(name, best, MIN_SEPARATION, True, WEAK, f"{said}: partly")
    return _check(name, best, MIN_SEPARATION, False, WEAK, f"{said}: the failures did not come with the demand")


def no_failures_at_low_load(m: EpisodeMeasures) -> Check:
    """Ports are plenty while demand is surely low (even the top of its band): SNAT spares those minutes,
    an outage does not."""
    end = m.high
    name = "no_failures_at_low_load"
    if end.low_load_minutes < MIN_LOW_LOAD_MINUTES:
        detail = (
            f"{end.low_load_minutes} minute(s) with requests while even the top of the demand band was under half "
            f"its level at failure: too few to judge"
        )
        return Check(name, None, MAX_LOW_LOAD_FAILURE_SHARE, CheckOutcome.NOT_JUDGED, detail)
    fine = end.low_load_failure_share <= MAX_LOW_LOAD_FAILURE_SHARE
    return _check(
        name,
        round(end.low_load_failure_share, 3),
        MAX_LOW_LOAD_FAILURE_SHARE,
        fine,
        WEAK if fine else STRONG,
        f"{end.low_load_failure_share:.1%} of requests failed in the {end.low_load_minutes} minutes while even the "
        f"top of the demand band was under half its level at failure (SNAT spares them: <= "
        f"{MAX_LOW_LOAD_FAILURE_SHARE:.0%})",
    )


def some_requests_get_through(m: EpisodeMeasures) -> Check:
    """Ports free up all the time, so some calls get one; a backend that is down fails them all."""
    failed = m.episode.share
    fine = failed < MAX_SNAT_FAILURE_SHARE
    return _check(
        "some_requests_get_through",
        round(failed, 3),
        MAX_SNAT_FAILURE_SHARE,
        fine,
        WEAK if fine else STRONG,
        f"{failed:.1%} of requests failed during the episode (an outage fails nearly all; SNAT lets some through: "
        f"< {MAX_SNAT_FAILURE_SHARE:.0%})",
    )


def demand_could_reach_capacity(m: EpisodeMeasures) -> Check:
    """A saturated pool holds its ports: the ports held while it failed are an empirical capacity, and an
    assumed capacity far above them does not fit (the pool had fewer ports, or another limit failed the calls)."""
    name = "demand_could_reach_capacity"
    c, held = m.capacity, m.held
    ports = f"{c.low:,} ports (assumed)" + (
        f" (one unit's: few callers carried the load; {c.high:,} over {c.units} units)" if c.low != c.high else ""
    )
    if m.self_hosted:
        detail = (
            "a self-hosted gateway: its connects leave through its node's or cluster's NAT, whose capacity is not the "
            f"assumed {c.low:,} ports of an APIM unit"
            + (f"; while it failed it held at most {held.high:,.0f} ports" if held.high is not None else "")
        )
        return Check(name, None, MIN_UTILISATION_AT_ONSET, CheckOutcome.NOT_JUDGED, detail)
    if held.high is None:
        detail = "no failing minute outside the first minutes of the data, whose band lacks the hold before it"
        return Check(name, None, MIN_UTILISATION_AT_ONSET, CheckOutcome.NOT_JUDGED, detail)
    measured = round(held.high / c.low, 3)
    said = (
        f"while it failed the pool held at most {held.high:,.0f} ports (every successful connect in the hold a new "
        f"connection) and at least {held.low or 0:,.0f} (the calls in flight), against {ports}: {measured:.0%}"
    )
    if measured >= MIN_UTILISATION_AT_ONSET:
        return _check(name, measured, MIN_UTILISATION_AT_ONSET, True, WEAK, f"{said} (SNAT fits: >= 50%)")
    weight = STRONG if measured < NOTHING_HELD else WEAK
    return _check(
        name,
        measured,
        MIN_UTILISATION_AT_ONSET,
        False,
        weight,
        f"{said}: the assumed capacity would have had free ports (fewer ports than assumed, or another limit)",
    )


def recovers_as_demand_falls(m: EpisodeMeasures) -> Check:
    """SNAT frees ports only as demand falls: failures stop a few minutes after it does, or as soon as new
    connects come no faster than held ports are released; not while they still come much faster."""
    name = "recovers_as_demand_falls"
    latest = 2 * m.hold_minutes
    allowed = (-MAX_EARLY_RECOVERY_MINUTES, latest)
    if m.episode.recovery is None:
        return Check(name, None, allowed, CheckOutcome.NOT_JUDGED, "not recovered by the end of the window: not judged")
    end = m.recovering
    lag, lags, ratio, error = m.recovery_lag(end), end.recovery_lags, m.release_ratio, m.release_error
    released = (
        f"new connects after the recovery {ratio:.2f} (+- {error:.2f}) times the ports released per minute before it"
        if ratio is not None and np.isfinite(ratio)
        else "no connect succeeded in the hold before the recovery"
        if ratio is not None
        else "no minutes around the recovery to set new connects against released ports"
    )
    if lag is not None and lags is not None and _allowed(lag, m.hold_minutes):
        span = f"{lags[0]:.0f} to {lags[1]:.0f}" if lags[0] != lags[1] else f"{lags[1]:.0f}"
        detail = f"failures stopped {span} minute(s) after the {end.label} fell back from their onset level"
        return _check(name, lag, allowed, True, STRONG, f"{detail} (SNAT: -{MAX_EARLY_RECOVERY_MINUTES} to {latest})")
    if ratio is not None and ratio <= 1 + max(RELEASE_SLACK, 2 * error):
        detail = f"{released}: the pool freed ports as fast as they were asked for (SNAT: about 1 or less)"
        return _check(name, ratio, allowed, True, STRONG, detail)
    if lags is None and ratio is None:
        return Check(name, None, allowed, CheckOutcome.NOT_JUDGED, f"{released}; the demand did not fall in the window")
    if lag is not None:
        detail = f"failures stopped {lag:+.0f} minute(s) from the {end.label} falling back, {released}"
        return _check(name, lag, allowed, False, STRONG, detail)
    detail = f"failures stopped while the demand (both ends of its band) stayed at or above its onset level, {released}"
    if ratio is not None and ratio >= MIN_CONTRARY_RELEASE_RATIO and ratio - 1 > 3 * error:
        # No port came free: SNAT only if capacity was added just then (a scale-out), which the logs do not show.
        detail += ": no port came free, so SNAT only if capacity was added then (a scale-out)"
        return _check(name, ratio, allowed, False, STRONG, detail, Confidence.LOW)
    return _check(name, ratio, allowed, False, WEAK, detail)


def failures_start_at_one_level(m: EpisodeMeasures) -> Check:
    """One capacity, one level: a pool that ran out more than once held about the same ports each time."""
    name = "failures_start_at_one_level"
    spread = m.held.spread
    if spread is None:
        return Check(name, None, MAX_LEVEL_SPREAD, CheckOutcome.NOT_JUDGED, "one episode: nothing to compare")
    levels = ", ".join(f"{level:,.0f}" for level in m.held.by_episode)
    fine = spread <= MAX_LEVEL_SPREAD
    return _check(
        name,
        round(spread, 2),
        MAX_LEVEL_SPREAD,
        fine,
        WEAK,
        f"the ports held while it failed, episode by episode: {levels} (highest over lowest {spread:.2f}; one "
        f"capacity: <= {MAX_LEVEL_SPREAD})",
    )


def capped(confidence: Confidence, ceiling: Confidence) -> Confidence:
    """``confidence``, at most ``ceiling``.

    >>> capped(Confidence.HIGH, Confidence.MEDIUM).value, capped(Confidence.LOW, Confidence.MEDIUM).value
    ('medium', 'low')
    """
    order = list(Confidence)
    return max(confidence, ceiling, key=order.index)


SNAT_CHECKS: tuple[Callable[[EpisodeMeasures], Check], ...] = (
    failures_end_at_a_timeout,
    failures_follow_demand,
    no_failures_at_low_load,
    some_requests_get_through,
    demand_could_reach_capacity,
    recovers_as_demand_falls,
    failures_start_at_one_level,
)


def run_checks(measures: EpisodeMeasures) -> tuple[Check, ...]:
    """Every check of ``SNAT_CHECKS``, in order."""
    return tuple(check(measures) for check in SNAT_CHECKS)


def weigh(checks: Sequence[Check]) -> Balance:
    """The support for SNAT against the counter-evidence, and how sure the answer is.

    SNAT when the support outweighs the counter-evidence and no decisive check counts against it. Confidence
    is high when nothing counts against the winning side (or a decisive check decided) and it has
    ``HIGH_SUPPORT``; medium when the winning side is at least twice the other and ahead by ``MIN_MARGIN``;
    low otherwise. A SNAT answer is at most as sure as the ceiling of a check against it. Checks not judged
    do not vote.

    >>> from analysis.diagnosis.assessment import Check, CheckOutcome
    >>> passed = [Check(f"c{i}", 1.0, 0.5, CheckOutcome.PASSED, "", STRONG) for i in range(3)]
    >>> weigh(passed).confidence.value, weigh(passed).snat
    ('high', True)
    >>> weigh([*passed, Check("x", 0.0, 0.5, CheckOutcome.FAILED, "", DECISIVE)]).snat
    False
    """
    support = sum(c.weight for c in checks if c.outcome is CheckOutcome.PASSED)
    against = sum(c.weight for c in checks if c.outcome is CheckOutcome.FAILED)
    decisive = any(c.outcome is CheckOutcome.FAILED and c.weight >= DECISIVE for c in checks)
    snat = not decisive and support > against
    winner, loser = (support, against) if snat else (against, support)
    if decisive or (loser == 0 and winner >= HIGH_SUPPORT):
        confidence = Confidence.HIGH
    elif winner >= 2 * loser and winner - loser >= MIN_MARGIN:
        confidence = Confidence.MEDIUM
    else:
        confidence = Confidence.LOW
    ceilings = [c.ceiling for c in checks if c.outcome is CheckOutcome.FAILED and c.ceiling is not None]
    if ceilings and snat:
        confidence = capped(confidence, max(ceilings, key=list(Confidence).index))
    side = CheckOutcome.PASSED if snat else CheckOutcome.FAILED
    deciding = sorted((c for c in checks if c.outcome is side), key=lambda c: -c.weight)
    return Balance(
        support=support,
        against=against,
        snat=snat,
        confidence=confidence,
        decided_by=tuple(c.name for c in deciding if c.weight >= STRONG) or tuple(c.name for c in deciding[:1]),
    )
