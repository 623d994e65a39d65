"""A fleet run: the example fleet file over the sample, plus an entry that cannot render."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.fleet.batch import Outcome, error_line, fleet_totals, index_html, index_row, ordered, shown_error
from analysis.fleet.file import Entry, load
from analysis.report.outfolder import read_marker
from tests.browser import open_page
from tests.paths import REPO

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))
EXAMPLE = REPO / "data" / "fleet.example.yaml"
BROKEN_ENTRY = "  - name: export-on-a-share\n    source: file:exports/missing.parquet\n"


def batch(fleet: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [APIM_SNAT, "batch", str(fleet), "--out", str(out), *options],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("fleet")
    fleet = folder / "fleet.yaml"
    fleet.write_text(EXAMPLE.read_text(encoding="utf-8") + BROKEN_ENTRY, encoding="utf-8")
    out = folder / "out"
    return out, batch(fleet, out)


def test_one_failing_entry_does_not_stop_the_others_and_the_exit_code_says_so(fleet_run):
    out, result = fleet_run
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [
        "apim-snat: export-on-a-share: error: exports/missing.parquet: no such file",
        f"apim-snat: error: 1 of 4 entries failed (export-on-a-share); the others are in {out}/index.html",
    ]
    assert "Traceback" not in result.stderr
    for entry in load(str(EXAMPLE)):
        assert (out / entry.name / "report.html").is_file()
        assert read_marker(out / entry.name)["kind"] == "report"
    assert not (out / "export-on-a-share").exists()
    assert read_marker(out)["kind"] == "batch"


def test_the_combined_findings_hold_every_entry_in_fleet_order(fleet_run):
    out, _ = fleet_run
    combined = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    reports = combined["reports"]
    assert [r["name"] for r in reports] == [e.name for e in load(str(EXAMPLE))] + ["export-on-a-share"]
    incident, two_units, quiet, broken = reports
    assert incident["findings"]["verdict"] == "snat_exhaustion"
    assert two_units["findings"]["assumptions"]["units"] == 2
    assert two_units["findings"]["window"] == {"start": "2025-02-25T09:00:00Z", "end": "2025-02-25T10:00:00Z"}
    assert quiet["findings"]["verdict"] == "insufficient_data"
    assert broken == {
        "name": "export-on-a-share",
        "rendered": False,
        "report": None,
        "error": "exports/missing.parquet: no such file",
        "findings": None,
    }


def test_the_annotations_of_an_entry_reach_its_report(fleet_run):
    out, _ = fleet_run
    html = (out / "contoso-incident" / "report.html").read_text(encoding="utf-8")
    assert "orders backend deploy" in html and "scaled out to 2 units" in html


def test_the_index_lists_the_worst_first_and_links_each_report(fleet_run, tmp_path):
    out, _ = fleet_run
    page = open_page(
        out / "index.html",
        tmp_path / "profile",
        evaluate={
            "rows": "[...document.querySelectorAll('tbody tr')].map(r => r.cells[0].innerText)",
            "links": "[...document.links].map(a => a.getAttribute('href'))",
            "headers": "[...document.querySelectorAll('thead th')].map(h => h.innerText)",
            "first": "[...document.querySelector('tbody tr').cells].map(c => c.innerText)",
            "totals": "document.querySelector('p.totals').innerText",
        },
    )
    assert page.requests == [(out / "index.html").as_uri()]
    assert page.scripts == [] and page.console == [] and page.log_entries == []
    assert page.values["rows"] == [
        "contoso-incident",
        "contoso-two-units",
        "export-on-a-share",
        "contoso-quiet-minutes",
    ]
    assert page.values["links"] == [
        "contoso-incident/report.html",
        "contoso-two-units/report.html",
        "contoso-quiet-minutes/report.html",
    ]
    assert page.values["headers"] == [
        "entry", "verdict", "affected destinations", "failed calls", "minutes per cause", "do first", "assumed", "why",
        "window (UTC)", "source",
    ]  # fmt: skip
    first = page.values["first"]
    assert first[1] == "SNAT port exhaustion\n(high confidence)" and "orders.contoso-backend.com:443" in first[2]
    assert first[3] == "4,740 of 52,685 (9.0%)" and "SNAT port exhaustion 17 min" in first[4]
    assert first[5] == "Scale out to 3 units in West Europe" and "1,024 ports x 1 unit(s)" in first[6]
    assert page.values["totals"].startswith("4 report(s): 3 rendered, 1 failed; 2 with SNAT port exhaustion;")


def test_a_second_run_replaces_the_batch_and_drops_entries_no_longer_in_the_fleet(fleet_run, tmp_path):
    out, _ = fleet_run
    fleet = tmp_path / "one.yaml"
    fleet.write_text("reports:\n  - {name: contoso-quiet-minutes, source: sample, start: 2025-02-25T08:30Z, "
                     "end: 2025-02-25T08:35Z}\n", encoding="utf-8")  # fmt: skip
    result = batch(fleet, out, "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == [
        ".apim-snat",
        "contoso-quiet-minutes",
        "findings.json",
        "index.html",
    ]


def test_a_batch_never_replaces_a_folder_of_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = batch(EXAMPLE, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"apim-snat: error: --out {tmp_path} holds files the kit did not write there (notes.txt); "
        "give an empty folder, a new one or an earlier batch folder of the kit"
    ]


def test_the_index_escapes_every_value_and_orders_by_impact():
    hostile = "<script>alert(1)</script>"
    impact = {
        "requests": 1000,
        "failed_requests": 40,
        "affected": [{"destination": hostile, "region": "r", "classification": "snat_exhaustion"}],
        "by_cause": [{"classification": "snat_exhaustion", "minutes": 12}],
    }
    bad = {
        "verdict": "snat_exhaustion",
        "confidence": "medium",
        "verdict_reason": hostile,
        "source": hostile,
        "window": {"start": "s", "end": "e"},
        "impact": impact,
        "assumptions": {"snat_ports": 1024, "units": 2, "units_by_region": {hostile: 3}, "requests_per_connection": 1.0,
                        "tier": None},
        "mitigations": [{"id": "scale_out", "title": hostile}],
        "destinations": [{"destination": hostile, "region": "r", "classification": "snat_exhaustion"}],
    }  # fmt: skip
    worse = {**bad, "impact": {**impact, "failed_requests": 400}, "verdict": "no_snat_evidence"}
    outcomes = [
        Outcome(Entry("quiet", "sample"), {"verdict": "no_snat_evidence", "destinations": []}, None),
        Outcome(Entry("broken", f"file:{hostile}"), None, f"{hostile}: no such file"),
        Outcome(Entry("bad", "sample"), bad, None),
        Outcome(Entry("worse", "sample"), worse, None),
    ]
    assert [o.entry.name for o in ordered(outcomes)] == ["worse", "bad", "broken", "quiet"]
    row = index_row(outcomes[2])
    assert row["failed"] == "40 of 1,000 (4.0%)" and row["durations"] == "SNAT port exhaustion 12 min"
    assert row["first_action"] == hostile and row["confidence"] == "medium"
    assert row["assumptions"] == f"1,024 ports x 2 unit(s) ({hostile}: 3); tier not given; 1 request(s) per connection"
    assert fleet_totals(outcomes) == {"entries": 4, "rendered": 3, "snat": 1, "failed": 440, "requests": 2000,
                                      "share": "22.0%"}  # fmt: skip
    html = index_html(outcomes, hostile)
    assert "<script" not in html and html.count("&lt;script&gt;") >= 8


def test_a_failed_entry_is_listed_by_its_file_name_never_its_local_path(tmp_path):
    export = tmp_path / "private" / "logs.parquet"
    said = f"apim-snat: error: {export}: no such file (cache file:{tmp_path}/cache/x.json, ?sig=abc)\n"
    outcome = Outcome(Entry("broken", f"file:{export}"), None, shown_error(error_line(said, 2)))
    assert outcome.error == "logs.parquet: no such file (cache file:x.json, ?sig=***"
    html = index_html([outcome], "fleet.yaml")
    assert str(tmp_path) not in html and "abc" not in html
    assert "<td>file:logs.parquet</td>" in html and "logs.parquet: no such file" in html
    assert str(tmp_path) not in json.dumps(outcome.record())
