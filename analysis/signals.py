"""SIGTERM and Ctrl-C become exceptions where the program is, so every clean-up runs before it exits.

Python turns Ctrl-C (SIGINT) into ``KeyboardInterrupt``; SIGTERM would end the process on the spot,
leaving a staging folder and a kernel behind. ``raise_on_signals`` makes SIGTERM raise
``Terminated`` the same way. The first signal wins: later ones are ignored, so the clean-up that
the first one started is not itself interrupted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """The process got SIGTERM; like ``KeyboardInterrupt``, not an ``Exception``, so nothing swallows it."""


def _raise(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


@contextmanager
def raise_on_signals() -> Iterator[None]:
    """Within the block SIGTERM raises ``Terminated`` and SIGINT ``KeyboardInterrupt``, once; then as before."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, _raise)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
