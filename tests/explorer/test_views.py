"""The explorer's HTML and PNG outputs, straight from an investigation: escaped, formatted, honest when empty."""

from __future__ import annotations

import re
from dataclasses import replace

import matplotlib.dates as mdates
import pandas as pd
import pytest

from analysis.diagnosis.mitigations import Mitigation, MitigationId
from analysis.diagnosis.verdict import Outcome, Verdict
from analysis.explorer import views
from analysis.explorer.state import DrillDown
from analysis.investigation.run import Investigation, investigate
from analysis.postmortem import body
from analysis.sources import open_source

HOSTILE = '<img src=x onerror="alert(1)">'
EXHAUSTED = "orders.contoso-backend.com:443"


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


def test_the_verdict_line_says_the_answer_the_capacity_and_the_window(found):
    shown = views.verdict_html(found, queried_s=1.25)
    assert shown.startswith("<b>SNAT port exhaustion</b> (high confidence): SNAT port exhaustion on " + EXHAUSTED)
    assert "<b>1,024</b> ports per destination (1,024 x 1 unit(s))" in shown
    assert "Window 2025-02-25 08:30 to 10:30 UTC (120 min), queried in 1.2 s." in shown


def test_text_from_the_logs_is_escaped_everywhere(found):
    assessments = [replace(a, destination=HOSTILE + ":443", region=HOSTILE) for a in found.assessments[:1]]
    hostile = replace(
        found,
        verdict=Verdict(Outcome.NO_SNAT_EVIDENCE, HOSTILE),
        diagnosis=replace(found.diagnosis, assessments=assessments),
    )
    for shown in (
        views.verdict_html(hostile, 0.0),
        views.destinations_html(hostile),
        views.message_html(HOSTILE),
        views.mitigations_html([Mitigation(MitigationId.SCALE_OUT, HOSTILE, HOSTILE)]),
    ):
        assert "<img" not in shown and "&lt;img" in shown


def test_mitigations_are_numbered_in_order_or_said_to_be_none(found):
    shown = views.mitigations_html(found.mitigations)
    assert shown.startswith("<ol><li><b>Scale out to 3 units in West Europe</b>")
    assert shown.count("<li>") == len(found.mitigations)
    assert views.mitigations_html([]) == body.NO_MITIGATION


def test_the_what_if_table_shows_utilisation_as_percent_or_says_why_it_is_empty(found):
    shown = views.what_if_html(found.what_if)
    assert "as assumed" in shown and "<table" in shown
    assert f"{found.what_if['peak_utilisation'].iloc[0]:.0%}" in shown
    assert views.what_if_html(pd.DataFrame()) == body.NO_WHAT_IF


def test_the_chart_is_a_png_of_all_destinations_or_one(found):
    whole, one = views.chart_png(found), views.chart_png(found, [EXHAUSTED])
    assert whole.startswith(b"\x89PNG") and one.startswith(b"\x89PNG") and whole != one


def test_slider_labels_show_the_date_only_when_the_window_spans_days():
    same_day = views.stop_labels([pd.Timestamp("2025-02-25 09:00"), pd.Timestamp("2025-02-25 09:01")])
    assert [label for label, _ in same_day] == ["09:00", "09:01"]
    two_days = views.stop_labels([pd.Timestamp("2025-02-25 23:59"), pd.Timestamp("2025-02-26 00:00")])
    assert [label for label, _ in two_days] == ["02-25 23:59", "02-26 00:00"]


def test_the_drill_down_escapes_text_from_the_logs_and_draws_dollar_signs(found):
    hostile = DrillDown(
        destination="$a$" + HOSTILE,
        errors=pd.DataFrame(
            [{"reason": HOSTILE, "source": HOSTILE, "section": "backend", "errors": 3,
              "first_seen": pd.Timestamp("2025-02-25 09:00"), "last_seen": pd.Timestamp("2025-02-25 09:01"),
              "sample_message": HOSTILE}]
        ),
        drivers=pd.DataFrame(
            [{"region": HOSTILE, "destination": HOSTILE, "key_kind": "api", "key": HOSTILE, "requests": 5,
              "share": 0.5, "connection_failures": 1}]
        ),
        drivers_scope=HOSTILE,
        latency=pd.DataFrame(
            [{"backend_time": "0-50 ms", "requests": 2, "connection_failures": 1, "timeouts": 0, "http_5xx": 1}]
        ),
        fingerprint_keys=[],
    )  # fmt: skip
    for shown in (views.errors_html(hostile), views.drivers_html(hostile)):
        assert "<img" not in shown and "&lt;img" in shown
    assert views.latency_png(hostile).startswith(b"\x89PNG")  # a "$a$" title is text, not a formula that fails
    table = pd.DataFrame([{"setting": HOSTILE, "units": 1, "backend_ips": 1, "requests_per_connection": 1.0,
                           "capacity": 1024, "peak_utilisation": 0.5, "minutes_over_capacity": 0}])  # fmt: skip
    shown = views.drill_what_if_html(table, HOSTILE)
    assert "<img" not in shown and "&lt;img" in shown and "50%" in shown


def test_the_drill_down_says_when_it_has_nothing(found):
    empty = DrillDown("x:443", pd.DataFrame(), pd.DataFrame(), "", pd.DataFrame(), [])
    assert views.errors_html(empty).startswith("No errors")
    assert views.drivers_html(empty).startswith("No load drivers")
    assert views.latency_html(empty).startswith("No backend times")
    assert views.drill_what_if_html(pd.DataFrame(), "") == "No minutes to replay for this destination."
    assert views.fingerprint_png(found, empty).startswith(b"\x89PNG")


def test_the_chart_and_table_follow_the_chosen_destinations(found):
    one = views.destinations_html(found, [EXHAUSTED])
    assert EXHAUSTED in one and "payments" not in one
    assert views.destinations_html(found, ["no.such.host:443"]).startswith("No destination of the chosen ones")
    assert views.chart_png(found, [EXHAUSTED]) != views.chart_png(found)


def test_tables_put_numbers_and_their_headings_right_and_text_left():
    frame = pd.DataFrame({"destination": ["a:443"], "requests": [1234], "share": [0.5]})
    shown = views.table_html(frame, {"requests": "{:,}".format})
    assert "1,234" in shown and 'class="apim-snat-table"' in shown
    scope = re.search(r"#T_(\w+)", shown).group(1)
    assert f"#T_{scope} .col1" in shown and f"#T_{scope} .col2" in shown and f"#T_{scope} .col0" not in shown
    assert re.search(r"\.col1 \{\s*text-align: right;", shown)
    assert 'class="col_heading level0 col1"' in shown, "the heading carries its column's class, so it aligns too"
    assert views.table_html(frame) == views.table_html(frame), "the same frame, the same HTML"
    other = views.table_html(pd.DataFrame({"requests": [1], "destination": ["a"]}))
    assert re.search(r"#T_(\w+)", other).group(1) != scope, "tables styled differently never share a scope"


def test_a_minutes_requests_are_escaped_and_their_times_shown_to_the_millisecond():
    rows = pd.DataFrame(
        {
            "TimeGenerated": [pd.Timestamp("2025-02-25 09:41:59.123456")],
            "CorrelationId": ["c-1"],
            "Destination": ["a:443"],
            "ApiId": [HOSTILE],
            "LastErrorMessage": [HOSTILE],
            "ResponseCode": [500],
        }
    )
    shown = views.rows_html(rows)
    assert "09:41:59.123" in shown and "c-1" in shown and "<img" not in shown and "&lt;img" in shown
    assert ">Destination<" not in shown, "the destination is the one chosen above"
    assert "No logged request" in views.rows_html(rows.iloc[0:0])
    assert views.adhoc_html(rows.iloc[0:0]) == "(no rows)" and "<img" not in views.adhoc_html(rows)
    many = pd.DataFrame({"n": range(views.SHOWN_ROWS + 5)})
    assert f"{views.SHOWN_ROWS + 5} row(s), the first {views.SHOWN_ROWS} shown" in views.adhoc_html(many)


def test_a_click_on_the_chart_names_its_panel_row_and_minute(found):
    figure, keys = views.chart(found)
    assert len(figure.axes) == 3 * len(keys) and keys[0] == ("West Europe", EXHAUSTED)
    x = mdates.date2num(pd.Timestamp("2025-02-25 09:41:59"))
    assert views.minute_at(figure, keys, figure.axes[2], x) == (keys[0], pd.Timestamp("2025-02-25 09:41"))
    assert views.minute_at(figure, keys, figure.axes[3], x)[0] == keys[1]
    assert (
        views.minute_at(figure, keys, None, x) is None and views.minute_at(figure, keys, figure.axes[0], None) is None
    )
    canvas = views.interactive(figure)
    assert canvas.figure is figure and canvas.toolbar is not None and not canvas.header_visible


def test_the_still_picture_holds_the_verdict_and_the_chart():
    still = views.still_html("<b>verdict</b>", b"\x89PNG")
    assert still.startswith('<div><b>verdict</b></div><img src="data:image/png;base64,iVBORw==">')
    assert "<img" not in views.still_html("x", b"")
