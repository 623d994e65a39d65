"""What a command shows while its queries run: a ticking clock on a terminal, then one line per query.

A query on a busy workspace can take minutes, and a command that prints nothing meanwhile looks
hung. ``Watched`` stands in front of any source: while a query runs, a terminal shows its name
and the time waited so far (tqdm; only after a second, so quick local queries do not flicker);
when it returns, one line says how many rows came back and how long it took, or that the result
was the one kept from an earlier run. The clock is off when stderr is not a terminal, and the
lines are off under ``--quiet``; the rows are handed on untouched.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
from tqdm import tqdm

from analysis.sources.base import Request, Source, Wrapping
from analysis.times import parse_utc, utc_now

#: Seconds a query runs before the clock appears, and between its ticks.
CLOCK_DELAY_S, CLOCK_TICK_S = 1.0, 0.5


@contextmanager
def clock(name: str, live: bool) -> Iterator[None]:
    """While the block runs, ``apim-snat: NAME: waiting 00:12`` on stderr, rewritten in place; gone after."""
    if not live:
        yield
        return
    done = threading.Event()
    shown: list[tqdm[None]] = []

    def tick() -> None:
        if done.wait(CLOCK_DELAY_S):
            return  # a quick query: no clock at all
        bar = tqdm(desc=f"apim-snat: {name}", bar_format="{desc}: waiting {elapsed}", file=sys.stderr, leave=False)
        shown.append(bar)
        while not done.wait(CLOCK_TICK_S):
            bar.refresh()

    ticker = threading.Thread(target=tick, name="apim-snat-clock", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        for bar in shown:
            bar.close()  # leave=False: the line is cleared for the query's own line


def query_line(name: str, result: pd.DataFrame, seconds: float, began: pd.Timestamp) -> str:
    """The line said when a query returns: its rows and seconds, or that the result was kept from a run before.

    >>> frame = pd.DataFrame({"x": range(1234)})
    >>> query_line("destination_health", frame, 2.345, pd.Timestamp("2025-02-25 09:00"))
    'destination_health: 1,234 rows in 2.3 s'
    >>> frame.attrs.update(ran_at="2025-02-24T08:00:00Z", duration_s=41.0)
    >>> query_line("destination_health", frame, 0.01, pd.Timestamp("2025-02-25 09:00"))
    'destination_health: 1,234 rows, kept from 2025-02-24T08:00:00Z (the query took 41.0 s)'
    """
    ran_at = result.attrs.get("ran_at")
    if ran_at and parse_utc(ran_at) < began:  # stamped before this query began: a kept result
        took = result.attrs.get("duration_s")
        return f"{name}: {len(result):,} rows, kept from {ran_at}" + (
            f" (the query took {took:.1f} s)" if isinstance(took, int | float) else ""
        )
    return f"{name}: {len(result):,} rows in {seconds:.1f} s"


class Watched(Wrapping):
    """``inner`` with a clock while each query runs and a line (``say``) when it returns."""

    def __init__(self, inner: Source, say: Callable[[str], None], live: bool) -> None:
        self.inner, self._say, self._live = inner, say, live

    def run(self, kql: str) -> pd.DataFrame:
        return self._watch("ad-hoc query", lambda: self.inner.run(kql))

    def run_request(self, request: Request) -> pd.DataFrame:
        return self._watch(request.name, lambda: self.inner.run_request(request))

    def _watch(self, name: str, fetch: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        began, wall = time.perf_counter(), utc_now()
        with clock(name, self._live):
            result = fetch()
        self._say(query_line(name, result, time.perf_counter() - began, wall))
        return result


def watched(source: Source, say: Callable[[str], None], quiet: bool) -> Source:
    """``source`` as a command runs it: query lines unless ``quiet``, a clock when stderr is a terminal too."""
    if quiet:
        return Watched(source, lambda _: None, live=False)
    return Watched(source, say, live=sys.stderr.isatty())
