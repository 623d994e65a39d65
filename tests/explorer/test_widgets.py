"""The interactive explorer: assumptions recompute without querying, windows and ranges re-query, choices narrow
the table and chart, a drill-down shows one destination, another source replaces the old, bad values show one line."""

from __future__ import annotations

import base64

import matplotlib.dates as mdates
import nbformat
import pandas as pd
import papermill
import pytest
from ipympl.backend_nbagg import Canvas
from matplotlib.backend_bases import MouseEvent

from analysis.cli import main
from analysis.diagnosis.assumptions import Assumptions
from analysis.explorer import scope
from analysis.explorer.widgets import NO_DESTINATION, Explorer, explorer
from analysis.investigation.run import investigate, recompute
from tests.paths import REPO

NOTEBOOK = REPO / "notebooks" / "explore_incident.ipynb"
EXHAUSTED = "orders.contoso-backend.com:443"
HEALTHY = "payments.contoso.com:443"


class Counter:
    """Wraps a source's ``run`` to count the queries that reach it."""

    def __init__(self, run):
        self.calls = 0
        self._run = run

    def __call__(self, kql: str):
        self.calls += 1
        return self._run(kql)


@pytest.fixture(scope="module")
def ui() -> Explorer:
    return explorer("sample")


@pytest.fixture
def counted(ui, monkeypatch) -> Counter:
    reader = ui.source.inner  # the source that reads the rows, behind the credential scrubbing
    counter = Counter(reader.run)
    monkeypatch.setattr(reader, "run", counter)
    return counter


@pytest.fixture(autouse=True)
def reset(ui):
    """Each test starts from the whole window and the default assumptions."""
    yield
    ui.range.value = scope.GIVEN
    ui.window.index = (0, len(ui.window.options) - 1)
    ui.snat_ports.value, ui.units.value, ui.requests_per_connection.value = 1024, 1, 1.0
    ui.chosen_destinations.value, ui.chosen_regions.value = (), ()
    ui.drill_destination.value = EXHAUSTED
    ui.minute_box.value, ui.failed_only.value = "", False


def panel_rows(ui: Explorer) -> list[tuple[str, str]]:
    """The (region, destination) of each row of panels the chart draws, read from the figure's own titles."""
    assert ui.chart_figure is not None and len(ui.chart_figure.axes) % 3 == 0
    titles = [t.get_text().split(": ")[0] for t in ui.chart_figure.texts if ": " in t.get_text()]
    rows = [(r, d) for r, d in ui._chart_keys]
    assert [f"{d} ({r})" for r, d in rows] == titles and len(ui.chart_figure.axes) == 3 * len(rows)
    return rows


def query_window_bounds(ui: Explorer) -> tuple:
    return ui.window.options[0][1], ui.window.options[-1][1]


def _stripped(findings: dict) -> dict:
    return findings | {"queries": [{k: v for k, v in q.items() if k != "duration_s"} for q in findings["queries"]]}


def test_recompute_matches_the_full_investigation(ui):
    data = ui.data  # the whole window, queried when the explorer opened
    assert data.window == query_window_bounds(ui)
    # Not the defaults, and still exhausted, so capacity, drivers and every mitigation are compared.
    assumptions = Assumptions(snat_ports=1200, requests_per_connection=1.5)
    expected = investigate(ui.source, assumptions=assumptions).findings
    assert expected["verdict"] == "snat_exhaustion"
    assert "rate_limit_by_key" in [m["id"] for m in expected["mitigations"]]
    assert _stripped(recompute(data, assumptions).findings) == _stripped(expected)


def test_the_sample_opens_on_its_verdict_and_all_outputs(ui):
    assert ui.message.value == ""
    assert "SNAT port exhaustion" in ui.verdict.value and EXHAUSTED in ui.verdict.value
    assert "1,024" in ui.verdict.value
    assert EXHAUSTED in ui.destinations.value and "<table" in ui.destinations.value
    assert "as assumed" in ui.what_if.value
    assert "Scale out to 3 units" in ui.mitigations.value
    assert panel_rows(ui)[0] == ("West Europe", EXHAUSTED)
    (canvas,) = ui.chart.children
    assert isinstance(canvas, Canvas) and canvas.figure is ui.chart_figure and canvas.toolbar_visible


def test_an_assumption_recomputes_without_querying(ui, counted):
    before = ui.investigation
    ui.units.value = 3
    assert counted.calls == 0
    assert ui.message.value == ""
    assert ui.investigation is not before and ui.investigation.assumptions.units == 3
    assert "3,072" in ui.verdict.value
    assert ui.investigation.assumptions.snat_capacity == 3072
    # Two jobs sent most of the burst: their connections may sit on one unit, so three units still ran out.
    assert "SNAT port exhaustion" in ui.verdict.value and EXHAUSTED in ui.verdict.value
    (pool,) = [p for p in ui.investigation.pools if p.exhausted]
    assert (pool.capacity.low, pool.capacity.high) == (1024, 3072)
    assert "may not spread their connections" in ui.mitigations.value

    ui.snat_ports.value = 8192
    assert counted.calls == 0
    # Eight times the ports: the pool held about 1,100 while it failed, so the assumption contradicts the data; the
    # answer names that and is no longer sure, rather than put the failures down to another cause.
    assert "SNAT port exhaustion</b> (medium confidence)" in ui.verdict.value
    assert "the assumed 8,192 ports contradict the data" in ui.verdict.value

    ui.snat_ports.value, ui.units.value = 1024, 1
    ui.requests_per_connection.value = 2.0
    assert counted.calls == 0
    assert ui.investigation.minutes["opened"].max() == pytest.approx(before.minutes["opened"].max() / 2)


def test_changing_the_window_queries_again_and_keeps_recent_windows(ui, counted):
    ui.window.index = (10, 60)
    first = counted.calls
    assert first >= 3  # health, inventory, errors (plus load drivers)
    assert ui.investigation.window[1] - ui.investigation.window[0] == ui.window.value[1] - ui.window.value[0]
    assert "(50 min)" in ui.verdict.value
    assert ui.investigation.minutes["minute"].nunique() == 50

    ui.window.index = (0, len(ui.window.options) - 1)
    assert counted.calls == first  # the whole window was queried when the explorer opened
    assert "(120 min)" in ui.verdict.value


def test_bad_values_show_one_line_not_a_traceback(ui):
    ui.units.value = 0
    assert "units" in ui.message.value and "out of range" in ui.message.value
    assert "\n" not in ui.message.value
    assert ui.verdict.value == "" and ui.what_if.value == "" and ui.chart.children == () and ui.chart_figure is None

    ui.units.value = 2
    assert ui.message.value == "" and "2,048" in ui.verdict.value

    ui.window.index = (5, 5)
    assert "is not before" in ui.message.value and ui.verdict.value == ""


def test_choosing_destinations_narrows_the_table_and_chart_without_querying(ui, counted):
    whole_table, whole_chart = ui.destinations.value, panel_rows(ui)
    investigation = ui.investigation
    ui.chosen_destinations.value = (HEALTHY,)
    assert HEALTHY in ui.destinations.value and EXHAUSTED not in ui.destinations.value
    assert panel_rows(ui) == [("West Europe", HEALTHY)] and len(whole_chart) > 1
    assert ui.investigation is investigation and counted.calls == 0
    ui.chosen_regions.value = ("West Europe",)
    assert HEALTHY in ui.destinations.value
    ui.chosen_destinations.value = ()
    assert ui.destinations.value == whole_table  # the sample has one region: all of it
    assert counted.calls == 0


def test_the_sample_opens_drilled_into_the_destination_that_failed(ui):
    assert ui.drill_destination.value == EXHAUSTED
    assert "BackendConnectionFailure" in ui.errors.value and "<table" in ui.errors.value
    assert "while it failed: West Europe" in ui.drivers.value
    assert "10,000-30,000 ms" in ui.latency.value
    for image in (ui.latency_chart, ui.fingerprint):
        assert bytes(image.value).startswith(b"\x89PNG")
    assert "Replays the exhausted pool" in ui.drill_what_if.value and "as assumed" in ui.drill_what_if.value
    assert (ui.what_if_units.value, ui.what_if_ips.value, ui.what_if_ports.value) == (1, 1, 1024)


def test_the_what_if_sliders_redo_the_table_without_querying(ui, counted):
    before = ui.drill_what_if.value
    ui.what_if_units.value = 3
    assert counted.calls == 0 and ui.drill_what_if.value != before
    assert "chosen: 3 unit(s), 1 backend IP(s)" in ui.drill_what_if.value and "3,072" in ui.drill_what_if.value
    assert "69%" in ui.drill_what_if.value  # the report's "3 units" row: 0.69 of the ports at the peak
    ui.what_if_ips.value, ui.what_if_reuse.value, ui.what_if_ports.value = 2, 4.0, 2048
    assert "chosen: 3 unit(s), 2 backend IP(s), 4 request(s) per connection, 2,048 ports" in ui.drill_what_if.value
    assert counted.calls == 0
    ui.units.value = 2  # a new assumption starts the sliders from it again
    assert ui.what_if_units.value == 2 and "chosen: 2 unit(s), 1 backend IP(s)" in ui.drill_what_if.value


def test_drilling_into_another_destination_queries_it_once_per_window(ui, counted):
    ui.drill_destination.value = HEALTHY
    first = counted.calls
    assert first == 2  # its latency distribution and load drivers
    assert "over the window, all regions together" in ui.drivers.value
    assert "No errors logged" in ui.errors.value and "this destination&#x27;s own minutes" in ui.drill_what_if.value
    ui.drill_destination.value = EXHAUSTED
    ui.drill_destination.value = HEALTHY
    assert counted.calls == first
    ui.drill_destination.value = NO_DESTINATION
    assert ui.errors.value == "" and bytes(ui.fingerprint.value) == b"" and ui.drill_what_if.value == ""


def test_a_preset_or_a_custom_range_spans_the_slider(ui):
    ui.range.value = "last 1 h"
    assert "Window 2025-02-25 09:30 to 10:30 UTC (60 min)" in ui.verdict.value
    assert (ui.start_box.value, ui.end_box.value) == ("2025-02-25T09:30:00Z", "2025-02-25T10:30:00Z")
    assert ui.window.options[0][1] == pd.Timestamp("2025-02-25 09:30") and len(ui.window.options) == 61
    ui.range.value = "last 24 h"
    assert "(120 min)" in ui.verdict.value

    ui.end_box.value = "2025-02-25T09:45Z"
    assert ui.range.value == scope.CUSTOM and ui.message.value == ""
    assert "Window 2025-02-25 08:30 to 09:45 UTC (75 min)" in ui.verdict.value
    ui.start_box.value = "2025-02-25T09:00Z"
    assert "(45 min)" in ui.verdict.value


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        ("yesterday", "2025-02-25T10:00Z", "start: expected an ISO 8601 time"),
        ("2025-02-25T10:00Z", "2025-02-25T09:00Z", "is not before"),
        ("2025-02-25T10:00Z", "", "needs both start and end"),
    ],
)
def test_a_bad_custom_range_is_one_line_and_the_window_in_use_stays(ui, start, end, said):
    ui.start_box.value = start  # may be a good range with the end in the box
    shown = ui.verdict.value
    ui.end_box.value = end
    assert said in ui.message.value and "\n" not in ui.message.value and "Traceback" not in ui.message.value
    assert ui.verdict.value == shown


def test_a_bad_source_or_time_shows_its_error():
    shown = explorer("file:/no/such/export.csv")
    assert "no such file" in shown.message.value
    assert shown.verdict.value == ""
    assert "start" in explorer("sample", start="yesterday").message.value
    assert "is not before" in explorer("sample", start="2025-02-25T10:00Z", end="2025-02-25T09:00Z").message.value


def test_the_source_box_opens_another_source_and_closes_the_old(scenario_export):
    shown = explorer("sample")
    old = shown.source
    closed = []
    old.close = lambda: closed.append(True)
    assert shown.source_box.value == "sample" and "sample" in shown.source_box.options
    shown.source_box.value = f"file:{scenario_export('no_incident')}"
    assert closed == [True] and shown.source is not old and shown.message.value == ""
    assert "No evidence of SNAT port exhaustion" in shown.verdict.value
    assert HEALTHY not in shown.destinations.value
    assert HEALTHY not in dict(shown.drill_destination.options).values()

    shown.source_box.value = "file:/no/such/export.csv"
    assert "no such file" in shown.message.value and "No evidence" in shown.verdict.value
    shown.source_box.value = "sample"
    assert shown.message.value == "" and "SNAT port exhaustion on" in shown.verdict.value
    shown.close()


def test_a_source_given_wrong_can_be_corrected_in_the_same_kernel():
    shown = explorer("file:/no/such/export.csv")
    assert "no such file" in shown.message.value and shown.state is None
    shown.source_box.value = "sample"
    assert shown.message.value == "" and EXHAUSTED in shown.verdict.value
    shown.close()


def test_the_notebook_may_open_on_a_preset():
    shown = explorer("sample", time_range="last 6 h")
    assert shown.range.value == "last 6 h" and "(120 min)" in shown.verdict.value and shown.message.value == ""
    shown.close()
    assert "unknown time range &#x27;last week&#x27;" in explorer("sample", time_range="last week").message.value


def test_start_and_end_bound_the_window_slider():
    shown = explorer("sample", start="2025-02-25T10:00Z", end="2025-02-25T10:20Z")
    assert [label for label, _ in shown.window.options][::20] == ["10:00", "10:20"]
    assert "(20 min)" in shown.verdict.value and shown.message.value == ""


def test_the_notebook_runs_in_batch(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert notebook.metadata.kernelspec.name == "apim-snat"
    assert "parameters" in notebook.cells[1].metadata.tags
    out = tmp_path / "explore.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"source": "sample", "time_range": "last 1 h"},
        kernel_name="apim-snat",
        cwd=str(REPO),
        progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    (still,) = [o.data for o in outputs if "image/png" in o.get("data", {})]
    assert "still picture" in still["text/html"] and base64.b64decode(still["image/png"]).startswith(b"\x89PNG")
    (table,) = [o.data for o in outputs if "<table" in o.get("data", {}).get("text/html", "")]
    assert EXHAUSTED in table["text/html"] and "failed" in table["text/html"], "the KQL cell's DataFrame"


def click(ui: Explorer, row: int, minute: str, mode: str = "") -> None:
    """A left click on the chart's first panel of ``row`` at ``minute``, as the browser would send it."""
    (canvas,) = ui.chart.children
    canvas.toolbar.mode = mode
    axes = ui.chart_figure.axes[row * 3]
    ui.chart_figure.canvas.draw()
    x, y = axes.transData.transform((mdates.date2num(pd.Timestamp(minute)), 1))
    canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", canvas, x, y, button=1))


def ui_minute(ui: Explorer) -> tuple:
    return ui.drill_destination.value, pd.Timestamp(ui.minute_box.value).tz_localize(None), ui.failed_only.value


def test_a_click_on_a_bad_minute_lists_its_requests_and_the_kql_for_the_portal(ui, counted, capsys, tmp_path):
    ui.drill_destination.value = HEALTHY
    calls = counted.calls
    click(ui, 0, "2025-02-25 09:35:35")  # the first row is the exhausted destination
    assert ui.drill_destination.value == EXHAUSTED and ui.minute_box.value == "2025-02-25T09:35:00Z"
    assert counted.calls == calls + 1, "the rows of the minute: one query"
    rows = ui.state.minute_rows(*ui_minute(ui)).result
    assert 0 < len(rows) <= 200 and rows["TimeGenerated"].is_monotonic_decreasing
    assert (rows["TimeGenerated"].dt.floor("min") == pd.Timestamp("2025-02-25 09:35")).all()
    assert (rows["Destination"] == EXHAUSTED).all() and "BackendConnectionFailure" in set(rows["LastErrorReason"])
    for cid in rows["CorrelationId"].head(3):
        assert cid in ui.rows.value
    assert "CorrelationId" in ui.rows.value and "ApimSubscriptionId" in ui.rows.value

    kql = ui.rows_kql.value
    assert kql.startswith("// request_rows (mode: resource)\nlet start = datetime(2025-02-25T09:35:00.000000Z);")
    assert f'let destination = "{EXHAUSTED}";' in kql and "declare" not in kql
    pasted = tmp_path / "rows.kql"
    pasted.write_text(kql, encoding="utf-8")
    assert main(["query", "-q", "--format", "csv", "--file", str(pasted)]) == 0
    assert capsys.readouterr().out.count("\n") == len(rows) + 1, "the KQL runs as it is and gives the same rows"

    click(ui, 0, "2025-02-25 09:35:05")
    assert counted.calls == calls + 1, "the same minute is not queried again"
    minute = ui.minute_box.value
    click(ui, 0, "2025-02-25 09:10:00", mode="zoom rect")
    assert ui.minute_box.value == minute, "zooming is not picking"


def test_the_bad_minutes_of_the_destination_are_offered_worst_first(ui):
    options = ui.bad_minute.options
    assert options[0] == ("-", None) and len(options) > 5
    worst = options[1]
    assert " UTC: " in worst[0] and " failed" in worst[0]
    failed = [int(label.split(": ")[1].split(" of ")[0].replace(",", "")) for label, _ in options[1:]]
    assert failed == sorted(failed, reverse=True)
    ui.bad_minute.value = worst[1]
    assert ui.minute_box.value == worst[1].isoformat() + "Z" and "<table" in ui.rows.value
    every = ui.state.minute_rows(*ui_minute(ui)).result
    ui.failed_only.value = True
    failing = ui.state.minute_rows(*ui_minute(ui)).result
    assert 0 < len(failing) <= len(every)
    assert ((failing["LastErrorReason"].fillna("") != "") | (failing["ResponseCode"] >= 500)).all()
    assert "let failed_only = true;" in ui.rows_kql.value


@pytest.mark.parametrize(
    ("typed", "shown", "said"),
    [
        ("2025-02-25T10:40:30+01:00", "2025-02-25T09:40:00Z", ""),
        ("03/02/2025", "03/02/2025", "minute: expected an ISO 8601 time with a date"),
        ("9:40", "9:40", "-2h, now-1d"),
    ],
)
def test_a_typed_minute_is_read_one_way(ui, typed, shown, said):
    ui.minute_box.value = typed
    assert ui.minute_box.value == shown
    if said:
        assert said in ui.rows.value and "\n" not in ui.rows.value and ui.rows_kql.value == ""
    else:
        assert "<table" in ui.rows.value and "datetime(2025-02-25T09:40:00.000000Z)" in ui.rows_kql.value


def test_the_kql_box_and_cell_run_on_the_same_source_and_window(ui, capsys):
    ui.window.index = (70, 80)  # 09:40 to 09:50
    text = "GatewayRequests | summarize n = count(), earliest = min(TimeGenerated), latest = max(TimeGenerated)"
    ui.kql_box.value = text
    ui.kql_run.click()
    assert "1 row(s)" in ui.kql_result.value and "<table" in ui.kql_result.value
    frame = ui.kql_frame
    assert frame["earliest"][0] >= pd.Timestamp("2025-02-25 09:40") and frame["latest"][0] < pd.Timestamp(
        "2025-02-25 09:50"
    )
    pd.testing.assert_frame_equal(ui.kql(text), frame)
    whole = ui.kql("GatewayRequests | summarize n = count() by Destination")
    assert set(whole["Destination"]) >= {EXHAUSTED, HEALTHY}

    ui.kql_box.value = "Nope | count"
    ui.kql_run.click()
    assert "unknown table" in ui.kql_result.value and ui.kql_frame is None
    capsys.readouterr()
    assert ui.kql("GatewayRequests | where Foo == 1").empty
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "unknown column 'Foo'" in line


def test_a_saved_notebook_shows_the_verdict_and_a_still_chart_where_widgets_cannot_run(ui):
    bundle = ui._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert bundle["image/png"] in bundle["text/html"] and "SNAT port exhaustion" in bundle["text/html"]
    assert "Explorer(children" not in bundle["text/plain"]
