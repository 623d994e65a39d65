"""Parameter values become typed KQL literals that keep their value and cannot change the query."""

from __future__ import annotations

import datetime as dt
import math

import duckdb_kql
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import KitError
from analysis.query.literals import check_param, kql_literal, parse_value
from analysis.times import parse_utc

# Any text but lone surrogates, which no UTF-8 query can carry.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


ENGINE = duckdb_kql.connect()


def evaluate(literal: str):
    """The value the local KQL engine reads from a literal."""
    return duckdb_kql.df(ENGINE, f"print v = {literal}").iloc[0, 0]


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_any_string_stays_one_literal_with_the_same_value(text):
    literal = kql_literal(text, "string")
    result = duckdb_kql.df(ENGINE, f"print v = {literal}, after = 1")
    assert list(result.columns) == ["v", "after"]
    assert result.iloc[0, 0] == text


@pytest.mark.parametrize(
    "hostile",
    ['"; drop', "a\\", 'x" | take 1 //', "line\nbreak", "semi;colon", "pipe | where", "ünïcødé 漢字 🚀"],
)
def test_hostile_strings_round_trip(hostile):
    assert evaluate(kql_literal(hostile, "string")) == hostile


def test_typed_literals_read_back_as_their_values():
    moment = pd.Timestamp("2025-02-25 09:19:25.391")
    assert evaluate(kql_literal(moment, "datetime")) == moment
    assert evaluate(kql_literal(pd.Timestamp("2025-02-25T10:19:25+01:00"), "datetime")) == moment.floor("s")
    assert evaluate(kql_literal(dt.timedelta(minutes=4), "timespan")) == pd.Timedelta(minutes=4)
    assert evaluate(kql_literal(pd.Timedelta(milliseconds=1500), "timespan")) == pd.Timedelta(milliseconds=1500)
    assert evaluate(kql_literal(pd.Timedelta(microseconds=7), "timespan")) == pd.Timedelta(microseconds=7)
    assert evaluate(kql_literal(-5, "long")) == -5
    assert evaluate(kql_literal(3, "int")) == 3
    assert evaluate(kql_literal(1.5, "real")) == 1.5
    assert math.isnan(evaluate(kql_literal(float("nan"), "real")))
    assert evaluate(kql_literal(True, "bool"))
    assert evaluate(kql_literal(["a", 'b"c', 2], "dynamic")) == '["a","b\\"c",2]'


@pytest.mark.parametrize(
    ("value", "kql_type"),
    [
        ("5", "long"),
        (True, "long"),
        (1.5, "long"),
        (2**40, "int"),
        ("x", "real"),
        ("yes", "bool"),
        (5, "string"),
        (5, "datetime"),
        (5, "timespan"),
        (object(), "dynamic"),
    ],
)
def test_values_of_the_wrong_type_are_refused(value, kql_type):
    with pytest.raises(ValueError):
        kql_literal(value, kql_type)


def test_errors_name_the_parameter():
    with pytest.raises(KitError, match="'snat_ports' \\(long\\)"):
        check_param("snat_ports", "many", "long")


@pytest.mark.parametrize(
    ("text", "kql_type"),
    [
        ("abc", "long"),
        ("1.5", "long"),
        ("nan", "real"),
        ("maybe", "bool"),
        ("tomorrow", "datetime"),
        ("soon", "timespan"),
    ],
)
def test_unparsable_command_line_values(text, kql_type):
    with pytest.raises(ValueError):
        parse_value(text, kql_type)


def test_times_are_read_as_utc():
    assert parse_utc("2025-02-25T09:00:00Z") == pd.Timestamp("2025-02-25 09:00")
    assert parse_utc("2025-02-25 04:00-05:00") == pd.Timestamp("2025-02-25 09:00")
