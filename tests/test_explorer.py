"""The interactive explorer: assumptions recompute without querying, windows re-query, bad values show one line."""

from __future__ import annotations

import nbformat
import papermill
import pytest

from analysis.assumptions import Assumptions
from analysis.explorer import ALL_DESTINATIONS, Explorer, explorer
from analysis.investigation import investigate, recompute
from tests.paths import REPO

NOTEBOOK = REPO / "notebooks" / "explore_incident.ipynb"
EXHAUSTED = "orders.contoso-backend.com:443"


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
    counter = Counter(ui.source.run)
    monkeypatch.setattr(ui.source, "run", counter)
    return counter


@pytest.fixture(autouse=True)
def reset(ui):
    """Each test starts from the whole window and the default assumptions."""
    yield
    ui.window.index = (0, len(ui.window.options) - 1)
    ui.snat_ports.value, ui.units.value, ui.requests_per_connection.value = 1024, 1, 1.0
    ui.destination.value = ALL_DESTINATIONS


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
    assert "as during the incident" in ui.what_if.value
    assert "Scale out to 3 units" in ui.mitigations.value
    assert bytes(ui.chart.value).startswith(b"\x89PNG")


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
    # Eight times the ports: the top of the band at onset sits far below them, so SNAT no longer explains it.
    assert "No evidence of SNAT port exhaustion" in ui.verdict.value
    assert "Nothing to replay" in ui.what_if.value

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
    assert ui.verdict.value == "" and ui.what_if.value == "" and bytes(ui.chart.value) == b""

    ui.units.value = 2
    assert ui.message.value == "" and "2,048" in ui.verdict.value

    ui.window.index = (5, 5)
    assert "is not before" in ui.message.value and ui.verdict.value == ""


def test_the_destination_choice_redraws_only_the_chart(ui, counted):
    whole = ui.chart.value
    investigation = ui.investigation
    ui.destination.value = EXHAUSTED
    assert bytes(ui.chart.value).startswith(b"\x89PNG") and ui.chart.value != whole
    assert ui.investigation is investigation and counted.calls == 0


def test_a_bad_source_or_time_shows_its_error():
    shown = explorer("file:/no/such/export.csv")
    assert "no such file" in shown.message.value
    assert shown.verdict.value == ""
    assert "start" in explorer("sample", start="yesterday").message.value
    assert "is not before" in explorer("sample", start="2025-02-25T10:00Z", end="2025-02-25T09:00Z").message.value


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
        parameters={"source": "sample"},
        kernel_name="apim-snat",
        cwd=str(REPO),
        progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
