"""Times typed by a user or read from the logs become naive UTC; times written out are ISO 8601 with Z."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.times import iso, optional_time, parse_utc, utc_naive

NINE = pd.Timestamp("2025-02-25 09:00")


@pytest.mark.parametrize(
    "value",
    [
        "2025-02-25T09:00:00Z",
        "2025-02-25T10:00:00+01:00",
        "2025-02-25 04:00-05:00",
        NINE,
        pd.Timestamp("2025-02-25 10:00", tz="Europe/Berlin"),
        dt.datetime(2025, 2, 25, 9, tzinfo=dt.UTC),
    ],
)
def test_every_spelling_of_an_instant_is_the_same_naive_utc_time(value):
    converted = utc_naive(value)
    assert converted == NINE and converted.tzinfo is None


def test_iso_writes_utc_with_z_and_keeps_fractions():
    assert iso(NINE) == "2025-02-25T09:00:00Z"
    assert iso(pd.Timestamp("2025-02-25 10:00:00.250", tz="Europe/Berlin")) == "2025-02-25T09:00:00.250000Z"
    assert iso(None) is None and iso(pd.NaT) is None
    assert parse_utc(iso(NINE)) == NINE


@pytest.mark.parametrize("text", ["yesterday", "9 o'clock", "2025-13-01T00:00Z"])
def test_text_that_is_no_time_is_refused(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_utc(text)


def test_an_optional_time_is_absent_when_empty_and_names_itself_when_bad():
    assert optional_time("--start", None) is None and optional_time("--start", "  ") is None
    assert optional_time("--start", "2025-02-25T10:00+01:00") == NINE
    with pytest.raises(KitError, match="^--end: expected an ISO 8601 time"):
        optional_time("--end", "tomorrow")
