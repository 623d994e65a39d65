"""Onset, peak and recovery of trouble on one destination, to the minute.

A minute is *bad* when it has enough failures, both in number and in share, to
rule out the odd failed request. An episode is a run of bad minutes that may
hold short gaps; it needs at least ``min_minutes`` bad minutes. Recovery is the
first minute after the last bad one, or None when the window ends in trouble. An
onset with no more than ``max_gap`` minutes of the series before it is not
observed: bad minutes just before the data would have belonged to the same
episode, so the trouble may have begun before the data does (a cut export, a
window starting inside it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Episode:
    """One stretch of trouble on a destination."""

    onset: pd.Timestamp
    peak: pd.Timestamp
    recovery: pd.Timestamp | None
    bad_minutes: int
    events: int
    requests: int
    onset_observed: bool = True
    """False when the series holds no more than the episodes' gap before the onset: the trouble may have begun
    before the data."""

    @property
    def share(self) -> float:
        """Failed (or slow) share of the requests from onset to the last bad minute."""
        return self.events / self.requests if self.requests else 0.0


def bad_minutes(events: pd.Series, requests: pd.Series, min_events: int = 3, min_share: float = 0.01) -> pd.Series:
    """Minutes with at least ``min_events`` events making at least ``min_share`` of requests."""
    shares = events / requests.where(requests > 0)
    return (events >= min_events) & (shares.fillna(0) >= min_share)


def episodes(
    minutes: pd.Series,
    bad: pd.Series,
    events: pd.Series,
    requests: pd.Series,
    min_minutes: int = 2,
    max_gap: int = 2,
    severity: pd.Series | None = None,
) -> list[Episode]:
    """Episodes of one destination; the series are aligned and sorted by minute.

    Bad minutes at most ``max_gap`` minutes apart belong to one episode. The peak is
    the minute of the episode with the highest ``severity`` (the most events when None).

    >>> minute = pd.Series(pd.date_range("2025-01-01 10:00", periods=10, freq="min"))
    >>> events = pd.Series([0, 1, 0, 5, 9, 0, 7, 0, 0, 0])
    >>> requests = pd.Series([100] * 10)
    >>> [(e.onset.strftime("%H:%M"), e.peak.strftime("%H:%M"), e.recovery.strftime("%H:%M"))
    ...  for e in episodes(minute, bad_minutes(events, requests), events, requests)]
    [('10:03', '10:04', '10:07')]
    """
    minutes = minutes.reset_index(drop=True)
    flags = bad.reset_index(drop=True).to_numpy()
    events = events.reset_index(drop=True)
    requests = requests.reset_index(drop=True)
    worst = (events if severity is None else severity).reset_index(drop=True).fillna(-1).to_numpy()
    runs: list[list[int]] = []
    for position in [i for i, flag in enumerate(flags) if flag]:
        if runs and position - runs[-1][-1] <= max_gap + 1:
            runs[-1].append(position)
        else:
            runs.append([position])
    found = []
    for run in runs:
        if len(run) < min_minutes:
            continue
        first, last = run[0], run[-1]
        span = slice(first, last + 1)
        window_events = events.iloc[span]
        found.append(
            Episode(
                onset=pd.Timestamp(minutes.iloc[first]),
                peak=pd.Timestamp(minutes.iloc[int(worst[span].argmax()) + first]),
                recovery=pd.Timestamp(minutes.iloc[last + 1]) if last + 1 < len(minutes) else None,
                bad_minutes=len(run),
                events=int(window_events.sum()),
                requests=int(requests.iloc[span].sum()),
                onset_observed=first > max_gap,
            )
        )
    return found
