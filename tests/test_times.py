"""Times typed by a user or read from the logs become naive UTC; times written out are ISO 8601 with Z."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis.cli import main
from analysis.diagnosis import annotations
from analysis.errors import KitError
from analysis.explorer import scope
from analysis.explorer.state import ExplorerState
from analysis.fleet import file as fleet
from analysis.report import kernel
from analysis.sources.base import Source
from analysis.times import current_minute, iso, optional_time, parse_utc, user_time, user_window, utc_naive, window_text

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


NOON = pd.Timestamp("2025-02-25 12:00")
# Each of these reads as some date in some locale, or as a time on some day: the kit reads none of them.
AMBIGUOUS = [
    "03/02/2025",  # 2 March (US) or 3 February?
    "25.02.2025 09:00",
    "9:00",  # which day?
    "2/25/2025, 9:19:25.391 AM",
    "25 Feb 2025",
    "20250225T0900",
    "2025-W09-2",
    "2h",  # ago or ahead?
    "now-",
    "now-2x",
    "-2 hours",
]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_a_time_that_could_be_read_two_ways_is_refused_naming_the_accepted_forms(text):
    with pytest.raises(ValueError, match="^expected an ISO 8601 time with a date") as refusal:
        user_time(text, NOON)
    assert "-2h, now-1d, now" in str(refusal.value) and repr(text) in str(refusal.value)
    assert "\n" not in str(refusal.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2h", "2025-02-25 10:00"),
        ("now-1d", "2025-02-24 12:00"),
        ("NOW - 30m", "2025-02-25 11:30"),
        ("now", "2025-02-25 12:00"),
        ("now+1h", "2025-02-25 13:00"),
        ("-90s", "2025-02-25 11:58:30"),
        ("-1.5h", "2025-02-25 10:30"),
        ("2025-02-25", "2025-02-25 00:00"),
        ("2025-02-25T09:00", "2025-02-25 09:00"),
        (" 2025-02-25 10:00+01:00 ", "2025-02-25 09:00"),
        ("2025-02-25T09:00:00.1234567Z", "2025-02-25 09:00:00.123456"),
    ],
)
def test_iso_and_relative_times_are_read_one_way(text, expected):
    assert user_time(text, NOON) == pd.Timestamp(expected)


def test_now_is_the_current_minute_and_one_window_reads_both_ends_against_the_same_now():
    assert current_minute() == current_minute().floor("min")
    start, end = user_window("-2h", "now")
    assert end - start == pd.Timedelta(hours=2) and end == end.floor("min")
    assert user_window(None, "", now=NOON) == (None, None)


def test_a_window_is_printed_with_both_ends_in_utc_and_its_length():
    assert window_text(NINE, NINE + pd.Timedelta(days=1, minutes=5)) == (
        "2025-02-25T09:00:00Z to 2025-02-26T09:05:00Z (1 d 5 min)"
    )


# Every place a person types a time, each called with the text in place: all go through user_time.
ENTRY_POINTS = {
    "report --start": lambda text, tmp: main(["report", "--start", text, "--out", str(tmp / "out")]),
    "query --end": lambda text, tmp: main(["query", "--end", text, "--kql", "GatewayRequests | count"]),
    "export --start": lambda text, tmp: main(
        ["export", "--source", "sample", "--start", text, "--out", str(tmp / "x")]
    ),
    "queries show --param": lambda text, tmp: main(
        ["queries", "show", "destination_health", "--param", f"start={text}", "--param", "end=now"]
    ),
    "--annotate": lambda text, tmp: main(["report", "--annotate", f"{text}=deploy", "--out", str(tmp / "out")]),
    "fleet entry": lambda text, tmp: fleet.parse(f"reports: [{{name: a, source: sample, start: '{text}'}}]"),
    "fleet annotation": lambda text, tmp: fleet.parse(
        f"reports: [{{name: a, source: sample, annotations: [{{time: '{text}', label: x}}]}}]"
    ),
    "explorer start": lambda text, tmp: explorer_error(text),
    "explorer custom range": lambda text, tmp: ExplorerState(FakeSource()).use_range(scope.CUSTOM, text, "now"),
    "report notebook": lambda text, tmp: kernel.run({"source": "sample", "start": text}),
}


class FakeSource(Source):
    """A source that must never be asked anything: the time is refused first."""

    mode, description = "resource", "fake"

    def time_range(self):
        raise AssertionError("queried before the time was checked")

    def run(self, kql):
        raise AssertionError("queried before the time was checked")

    def close(self):
        pass


def explorer_error(text: str) -> None:
    from analysis.explorer.widgets import explorer

    shown = explorer("sample", start=text)
    if shown.message.value:
        raise KitError(shown.message.value)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_place_that_takes_a_time_refuses_a_locale_date_in_one_line(entry_point, tmp_path, capsys):
    try:
        code = ENTRY_POINTS[entry_point]("03/02/2025", tmp_path)
    except KitError as err:
        message = str(err)
    else:
        assert code == 2
        message = "\n".join(line for line in capsys.readouterr().err.splitlines() if "error:" in line)
    assert "expected an ISO 8601 time with a date" in message and "-2h, now-1d" in message, message
    assert "03/02/2025" in message and len(message.splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_a_fleet_file_reads_a_relative_time_once_as_the_time_it_means():
    (entry,) = fleet.parse("reports: [{name: a, source: sample, start: '-2h', end: now}]")
    start, end = parse_utc(entry.start), parse_utc(entry.end)
    assert end - start == pd.Timedelta(hours=2) and abs(end - current_minute()) <= pd.Timedelta(minutes=1)


def test_a_relative_annotation_is_read_against_the_current_minute():
    note = annotations.from_option("now-10m/now=scaled out")
    assert note.end - note.time == pd.Timedelta(minutes=10)
