"""The fleet file and annotations: checked whole before anything runs, every mistake one line naming where."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from analysis.diagnosis import annotations
from analysis.errors import KitError
from analysis.fleet.file import load, parse
from tests.paths import REPO

EXAMPLE = REPO / "data" / "fleet.example.yaml"


def test_the_example_fleet_file_reads_as_three_sample_reports():
    entries = load(str(EXAMPLE))
    assert [e.name for e in entries] == ["contoso-incident", "contoso-two-units", "contoso-quiet-minutes"]
    assert {e.source for e in entries} == {"sample"}
    incident, two_units, _ = entries
    assert [a.label for a in incident.annotations] == ["orders backend deploy", "scaled out to 2 units"]
    assert incident.annotations[1].end == pd.Timestamp("2025-02-25T09:45")
    assert two_units.params == (("units", "2"),)
    assert (two_units.start, two_units.end) == ("2025-02-25T09:00:00Z", "2025-02-25T10:00:00Z")


def test_unquoted_yaml_times_and_numbers_are_taken_as_written():
    (entry,) = parse("reports:\n  - {name: a, source: sample, start: 2025-02-25 09:00:00, end: 2025-02-25T10:00:00Z}")
    assert (entry.start, entry.end) == ("2025-02-25T09:00:00Z", "2025-02-25T10:00:00Z")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reports: [", "not valid YAML at line 1"),
        ("- a\n- b", "expected a mapping with 'reports:'"),
        ("reports: []", "'reports' is empty"),
        ("reports: [{name: a, source: sample}]\nextra: 1", "unknown key 'extra'"),
        ("reports: [a]", "reports entry 1: expected a mapping"),
        ("reports: [{source: sample}]", "reports entry 1: name must be a folder name"),
        ("reports: [{name: ../up, source: sample}]", "name must be a folder name"),
        ("reports: [{name: .hidden, source: sample}]", "name must be a folder name"),
        ("reports: [{name: a}]", "reports entry 'a': needs a source"),
        ("reports: [{name: a, source: sample, colour: red}]", "reports entry 'a': unknown field 'colour'"),
        ("reports: [{name: a, source: sample, start: yesterday}]", "reports entry 'a' start: expected an ISO 8601"),
        ("reports: [{name: a, source: sample, start: 2025-02-25T10:00Z, end: 2025-02-25T09:00Z}]", "is not before"),
        ("reports: [{name: a, source: sample, mode: legacy}]", "reports entry 'a': unknown logging mode 'legacy'"),
        ("reports: [{name: a, source: sample, params: [units]}]", "params must be a mapping"),
        (
            "reports: [{name: a, source: sample, params: {units: 0}}]",
            "reports entry 'a': parameter 'units' is out of range",
        ),
        ("reports: [{name: a, source: sample, params: {colour: red}}]", "unknown parameter 'colour'"),
        ("reports: [{name: a, source: sample, annotations: {time: x}}]", "annotations must be a list"),
        ("reports: [{name: a, source: sample, annotations: [{time: 2025-02-25T09:00Z}]}]", "needs a label"),
        ("reports: [{name: a, source: sample, annotations: [{label: x}]}]", "annotation 1: needs a time"),
        ("reports: [{name: a, source: sample}, {name: a, source: sample}]", "two entries are named 'a'"),
    ],
)
def test_fleet_file_mistakes_are_one_kit_error_naming_where(text, message):
    with pytest.raises(KitError) as raised:
        parse(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_an_unreadable_fleet_file_is_one_kit_error(tmp_path):
    with pytest.raises(KitError, match="missing.yaml: no such file"):
        load(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-02-25T09:40Z", r"--annotate takes TIME\[/END\]=LABEL"),
        ("soon=deploy", "expected an ISO 8601 time"),
        ("2025-02-25T09:40Z/2025-02-25T09:00Z=deploy", "is not after time"),
        ("2025-02-25T09:40Z=  ", "needs a label"),
    ],
)
def test_annotate_option_mistakes(text, message):
    with pytest.raises(KitError, match=message):
        annotations.from_option(text)


def test_annotations_travel_as_json_text_and_come_back_in_time_order():
    notes = [annotations.from_option("2025-02-25T09:40Z=b <i>"), annotations.from_option("2025-02-25T09:10Z=a")]
    back = annotations.loads(annotations.dumps(notes))
    assert back == notes
    assert annotations.table(back)["what happened"].tolist() == ["a", "b <i>"]
    assert annotations.dumps([]) == "" and annotations.loads("") == []
    with pytest.raises(KitError, match="not JSON"):
        annotations.loads("[{")


def laughs(field: str) -> str:
    """A "billion laughs" of depth 7 (4.7 million strings once expanded) in one field of an entry."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 7)]
    entry = {"name": "x", "source": "sample", field: "*a6"}
    if field == "label":
        entry = {"name": "x", "source": "sample", "annotations": "[{time: 2025-02-25T09:00Z, label: *a6}]"}
    return "\n".join([*lines, "reports: [{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}]", ""])


@pytest.mark.parametrize("field", ["name", "source", "start", "mode", "params", "label"])
def test_a_billion_laughs_in_any_field_is_one_short_line(field):
    text = laughs(field)
    assert len(text) < 600
    with pytest.raises(KitError) as refused:
        parse(text, "fleet.yaml")
    assert str(refused.value) == "fleet.yaml: larger than 1 MiB once its aliases are expanded"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reports: [{name: " + "n" * 100_000 + ", source: sample}]", "name must be a folder name"),
        ("reports: [{name: a, source: [file:x, file:y]}]", "reports entry 'a' source: expected a text, number or time"),
        (
            "reports: [{name: a, source: sample, start: {at: 9}}]",
            "start: expected a text, number or time, found a mapping",
        ),
        (
            "reports: [{name: a, source: sample, mode: [resource]}]",
            "mode: expected a text, number or time, found a list",
        ),
        ("reports: [{name: a, source: sample, params: {units: [2]}}]", "params 'units': expected a text, number"),
        ("reports: [{name: a, source: " + "s" * 5000 + "}]", "source: 'ssssssss"),
        ("reports: [{name: a, source: sample, annotations: [{time: [1], label: x}]}]", "annotation 1 time: expected"),
        ("reports: [{name: a, source: sample, annotations: [{time: 2025-02-25, label: [x]}]}]", "annotation 1 label"),
        ("reports: " + "[" * 2000 + "]" * 2000, "fleet.yaml: nested deeper than"),
        ("x: &x [*x]\nreports: [{name: a, source: sample}]", "fleet.yaml: nested deeper than 16 levels"),
    ],
)
def test_a_field_of_the_wrong_type_or_size_is_one_line_quoting_an_excerpt(text, message):
    with pytest.raises(KitError) as refused:
        parse(text, "fleet.yaml")
    assert message in str(refused.value) and len(str(refused.value)) < 300 and "\n" not in str(refused.value)


def test_a_fleet_file_that_is_not_a_regular_file_within_its_bound_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "fleet.yaml")
    with pytest.raises(KitError, match="fleet.yaml is a FIFO, not a regular file"):
        load(str(tmp_path / "fleet.yaml"))
    with (tmp_path / "big.yaml").open("wb") as handle:
        handle.truncate(2 << 30)
    with pytest.raises(KitError, match=r"big.yaml is 2.0 GiB, more than such a file can be \(1.0 MiB\)"):
        load(str(tmp_path / "big.yaml"))
