"""The failure fingerprint: connect timeouts, fast refusals, idle cuts, side calls and masked timeouts."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.fingerprint import Fingerprint, combine, connect_timer, fingerprints, retry_delays
from tests.builders import REGION, failed_at

KEY = (REGION, "orders:443")


def print_of(*rows: pd.DataFrame, baseline_ms: float = 90.0) -> Fingerprint:
    return fingerprints(pd.concat(rows, ignore_index=True), 21.0, {KEY: baseline_ms})[KEY]


def test_failures_at_the_connect_timeout_and_in_milliseconds_are_told_apart():
    fp = print_of(failed_at("orders:443", 80, 21), failed_at("orders:443", 20, 0))
    assert (fp.failures, fp.at_connect_timeout, fp.fast) == (100, 80, 20)
    assert (fp.share_at_timeout, fp.share_fast) == (0.8, 0.2)


def test_idle_cuts_and_side_calls_are_not_the_destinations_failed_connects():
    fp = print_of(
        failed_at("orders:443", 10, 21),
        failed_at("orders:443", 30, 240),
        failed_at("orders:443", 50, 0, source="send-request"),
    )
    assert (fp.connection_failures, fp.idle_cuts, fp.side_calls) == (10, 30, 50)


def test_unanswered_timeouts_at_one_timer_with_late_successes_at_the_syn_retries_are_masked_connects():
    timeouts = failed_at("orders:443", 200, 10, reason="Timeout")
    retries = pd.concat([failed_at("orders:443", 90, s, reason="", answered=True) for s in (3, 9)])
    fp = print_of(timeouts, retries)
    assert fp.masks("Timeout") and fp.masked == 200 and fp.timer_s == 10 and fp.share_at_timeout == 1.0


def test_a_slow_backend_timing_out_is_not_masked_connects():
    timeouts = failed_at("orders:443", 200, 10, reason="Timeout")
    spread = pd.concat([failed_at("orders:443", 30, s, reason="", answered=True) for s in range(1, 10)])
    assert not print_of(timeouts, spread).masks("Timeout")
    scattered = pd.concat([failed_at("orders:443", 20, s, reason="Timeout") for s in range(2, 20, 2)])
    assert not print_of(scattered).masks("Timeout"), "no one timer"
    late = failed_at("orders:443", 200, 60, reason="Timeout")
    assert not print_of(late).masks("Timeout"), "a dropped SYN would have failed at 21 s already"


def test_clients_giving_up_at_their_timeout_are_masked_connects_too():
    gave_up = failed_at("orders:443", 120, 15, reason="ClientConnectionFailure")
    fp = print_of(gave_up, failed_at("orders:443", 50, 21))
    assert fp.masks("ClientConnectionFailure") and fp.failures == 170 and fp.at_timeout == 170


def test_a_pools_fingerprint_weights_each_member():
    one = Fingerprint(connection_failures=100, at_connect_timeout=100, messages=("a",))
    two = Fingerprint(connection_failures=40, fast=40, messages=("b", "a"))
    pooled = combine([(one, 0.5), (two, 1.0)])
    assert (pooled.failures, pooled.at_timeout, pooled.fast, pooled.messages) == (90, 50, 40, ("a", "b"))


def test_the_connect_timer_is_read_from_the_failed_connects_wherever_it_sits():
    """Linux gives up a connect after 127 s: the cluster is the timer in force, not the 21 s of Windows."""
    rows = pd.concat([failed_at("orders:443", 90, 127), failed_at("orders:443", 10, 128)])
    assert connect_timer(rows) == 127.0
    fp = fingerprints(rows)[KEY]
    assert (fp.connect_timer_s, fp.at_connect_timeout, fp.share_at_timeout, fp.share_slow) == (127.0, 100, 1.0, 1.0)
    # A destination with too few failures of its own to show a timer takes the gateway's.
    few = pd.concat([rows, failed_at("search:443", 1, 126)])
    assert fingerprints(few)[(REGION, "search:443")].connect_timer_s == 127.0


def test_a_given_connect_timeout_overrides_the_timer_the_data_shows():
    rows = failed_at("orders:443", 100, 127)
    fp = fingerprints(rows, 21.0)[KEY]
    assert fp.connect_timer_s == 21.0 and fp.at_connect_timeout == 0 and fp.share_slow == 1.0


def test_failed_connects_spread_over_seconds_are_slow_without_one_timer():
    spread = pd.concat([failed_at("orders:443", 10, s) for s in range(15, 45, 3)])
    fp = fingerprints(spread)[KEY]
    assert fp.connect_timer_s is None and fp.at_connect_timeout == 0
    assert fp.share_slow == 1.0 and fp.share_fast == 0.0


def test_refusals_show_no_timer():
    assert connect_timer(failed_at("orders:443", 100, 0)) is None


def test_the_syn_retry_delays_follow_the_timer():
    assert retry_delays(21.0) == (3, 9)
    assert retry_delays(127.0) == (1, 3, 7, 15, 31, 63)
    # Unanswered timeouts at 30 s with late successes at Linux's retries (7 and 15 s late) under a 127 s timer.
    timeouts = failed_at("orders:443", 200, 30, reason="Timeout")
    retries = pd.concat([failed_at("orders:443", 90, s, reason="", answered=True) for s in (7, 15)])
    linux = pd.concat([failed_at("orders:443", 50, 127), timeouts, retries])
    assert fingerprints(linux)[KEY].masks("Timeout")
    windows = pd.concat([failed_at("orders:443", 50, 21), timeouts, retries])
    assert not fingerprints(windows)[KEY].masks("Timeout"), "a 30 s timeout is later than a 21 s connect timer"
