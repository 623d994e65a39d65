"""End to end: the sample incident becomes kernel.html, kernel.ipynb and findings.json, opened in a real browser."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from analysis.diagnosis.assumptions import Assumptions
from analysis.investigation import findings as findings_doc
from analysis.report.render import KERNEL_NAME
from analysis.report.request import ReportRequest
from tests.browser import open_page
from tests.paths import REPO, SAMPLE_DIR

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))


def render(out: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [APIM_SNAT, "report", *args, "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "sample"
    render(out, "--source", "sample")
    return out


def test_the_report_folder_holds_the_report_and_what_renders_it_again(sample_report):
    files = sorted(p.name for p in sample_report.iterdir() if p.is_file())
    assert files == [".apim-snat", "findings.json", "parameters.json", "report.html", "report.ipynb"]
    assert list((sample_report / "results").glob("destination_health-*.parquet"))


def test_findings_flag_the_exhausted_destination_and_only_it(sample_report):
    document = json.loads((sample_report / "findings.json").read_text(encoding="utf-8"))
    findings_doc.validate(document)
    truth = json.loads((SAMPLE_DIR / "truth.json").read_text(encoding="utf-8"))["destinations"]
    expected = {name for name, t in truth.items() if t["classification"] == "snat_exhaustion"}
    assert document["verdict"] == "snat_exhaustion"
    flagged = {d["destination"] for d in document["destinations"] if d["classification"] == "snat_exhaustion"}
    assert flagged == expected
    for entry in document["destinations"]:
        assert entry["classification"] == truth[entry["destination"]]["classification"]
        if entry["destination"] in expected:
            onset = pd.Timestamp(entry["onset"])
            assert abs(onset - pd.Timestamp(truth[entry["destination"]]["onset"])) <= pd.Timedelta(minutes=2)
    incident = json.loads((SAMPLE_DIR / "truth.json").read_text(encoding="utf-8"))
    assert document["window"] == {"start": incident["start"], "end": incident["end"]}
    assert [m["id"] for m in document["mitigations"]][0] == "scale_out"
    assert document["queries"][0]["name"] == "destination_health" and document["queries"][0]["rows"] > 0


def test_the_notebook_ran_under_the_kits_kernel_without_errors(sample_report):
    notebook = nbformat.read(sample_report / "report.ipynb", as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == KERNEL_NAME
    assert notebook.metadata["papermill"]["parameters"]["source"] == "sample"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert not [o for cell in code for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert any("injected-parameters" in cell.metadata.get("tags", []) for cell in code)


def test_the_html_is_self_contained_with_code_hidden(sample_report):
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    external = re.findall(
        r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"' >]+"""
        r"""|@import\s+url\(\s*["']?https?:|url\(\s*["']?https?://""",
        html,
    )
    assert external == []
    assert "require.min.js" not in html and "mathjax" not in html.lower()
    # Over time, the failure fingerprint, the demand band against capacity, the what-if.
    assert html.count("data:image/png;base64,") >= 4
    headings = ("Executive summary", "Incident timeline", "SNAT pools", "How the calls failed", "Data quality")
    for heading in (*headings, "Demand against capacity, per pool", "Appendix: how this report was made"):
        assert heading in html
    assert "Verdict: SNAT port exhaustion" in html
    assert "kernel.run(" not in html and "from analysis" not in html


#: Where the first line holding a text ends, relative to the window's height (1.0 = its bottom edge).
FIRST_SCREEN = {
    "summary": "[...document.querySelectorAll('h2')].find(h => h.textContent.startsWith('Executive summary'))"
    ".getBoundingClientRect().bottom / innerHeight",
    "affected": "(() => { const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);"
    " while (walker.nextNode()) { if (walker.currentNode.data.includes('orders.contoso-backend.com:443')) {"
    " const range = document.createRange(); range.selectNodeContents(walker.currentNode);"
    " return range.getBoundingClientRect().bottom / innerHeight; } } return null; })()",
    "verdict": "document.body.innerText.includes('Verdict: SNAT port exhaustion')",
    "images": "[...document.images].map(i => [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width])",
}
#: On paper (A4 landscape less its margins, at 96 px per inch) nothing may stick out past the page's right edge.
PRINTED = {
    "overflowing": "[...document.querySelectorAll('table, img, pre, .jp-OutputArea-output')]"
    ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
    ".map(e => e.tagName + ' ' + e.textContent.slice(0, 60))",
}


def test_the_postmortem_opens_on_its_summary_in_a_headless_browser_with_no_network(sample_report, tmp_path):
    """The first screen of a laptop shows the summary and the affected destination; every chart is drawn."""
    page_path = sample_report / "report.html"
    page = open_page(page_path, tmp_path / "profile", evaluate=FIRST_SCREEN, screenshot=True, window=(1280, 800))
    assert page.requests == [page_path.as_uri()]
    assert page.scripts == [] and page.console == [] and page.exceptions == [] and page.log_entries == []
    assert page.values["verdict"]
    assert 0 < page.values["summary"] <= 1 and 0 < page.values["affected"] <= 1, page.values
    images = page.values["images"]
    assert len(images) >= 4 and all(width > 0 and height > 0 and shown > 0 for width, height, shown in images)
    shot = tmp_path / "first-screen.png"
    shot.write_bytes(page.screenshot)
    print(f"first screen of the postmortem: {shot}")
    from PIL import Image

    assert Image.open(shot).width == 1280  # the window, not the whole page


def test_the_postmortem_prints_without_cut_tables_or_charts(sample_report, tmp_path):
    page = open_page(
        sample_report / "report.html", tmp_path / "profile", evaluate=PRINTED, media="print", window=(1032, 700)
    )
    assert page.values["overflowing"] == []
    wide = open_page(sample_report / "report.html", tmp_path / "wide", evaluate=PRINTED, window=(700, 700))
    assert wide.values["overflowing"], "the check finds a table wider than a narrow screen"


#: What the browser reads of the postmortem's own sections and tables.
SECTIONS = {
    "title": "document.querySelector('h1').innerText",
    "headings": "[...document.querySelectorAll('h2, h3, h4')].map(h => h.innerText.replace(/\\u00b6$/, '').trim())",
    "text": "document.body.innerText",
    # A cell the report keeps on one line (a host name, an id, a time) that the browser broke across lines.
    "broken": "[...document.querySelectorAll('table.kit td.nowrap')].filter(td => { const r = document.createRange();"
    " r.selectNodeContents(td); return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; })"
    ".map(td => td.innerText)",
    "aligned": "[...document.querySelectorAll('table.kit td')].map(td => [td.className.split(' ').pop(),"
    " getComputedStyle(td).textAlign])",
    "headers": "[...document.querySelectorAll('table.kit')].flatMap(t => [...t.querySelectorAll('th')].map((th, n) =>"
    " [t.className.split(' ').includes('r' + n), getComputedStyle(th).textAlign]))",
    "fill_ins": "[...document.querySelectorAll('em')].filter(e => e.innerText.startsWith('[to fill in:')).length",
}


def test_the_postmortem_states_its_trigger_who_was_hurt_and_an_action_for_every_cause(sample_report, tmp_path):
    """Read in a headless browser: the title names the instance; the trigger, whom the failures reached and the
    actions of all four troubled destinations are there; the frame's fill-ins are marked; tables keep host names
    whole, text to the left and numbers (and their headings) to the right."""
    page = open_page(sample_report / "report.html", tmp_path / "profile", evaluate=SECTIONS, window=(1280, 900))
    document = json.loads((sample_report / "findings.json").read_text(encoding="utf-8"))
    assert page.values["title"].startswith("Postmortem: SNAT port exhaustion on contoso-apim")
    headings = page.values["headings"]
    for heading in (
        "What changed before each onset",
        "Who was hurt",
        "What to do",
        "Postmortem",
        "Detection",
        "Resolution",
        "What went well",
        "What went wrong",
        "Lessons",
        "Owners",
    ):
        assert heading in headings, heading
    text = page.values["text"]
    assert "Why then: at 09:21 calls to orders.contoso-backend.com:443 (West Europe) rose 6.5x" in text
    assert "subscription partner-bulk-sync sent 46% of the rise" in text
    for kind in ("By subscription", "By API", "By product", "By operation"):
        assert kind in headings
    troubled = [e for e in document["destinations"] if e["classification"] != "healthy"]
    assert len(troubled) == 4
    for entry in troubled:
        assert entry["actions"] and f"{entry['destination']} ({entry['region']}): " in text
        for action in entry["actions"]:
            assert action["title"] in text, action["title"]
    assert page.values["fill_ins"] >= 6
    assert page.values["broken"] == []
    classes = dict.fromkeys(cls for cls, _ in page.values["aligned"])
    assert set(classes) == {"text", "nowrap", "num"}
    for cls, align in page.values["aligned"]:
        assert align == ("right" if cls == "num" else "left"), (cls, align)
    assert all((align == "right") == numeric for numeric, align in page.values["headers"])


def test_no_figure_appears_with_two_values(sample_report):
    """The figures the review quotes, in every place that shows them, are the findings' one value each; the
    failed connects' wait is never shown as the backend's latency, and no span adds up different causes."""
    document = json.loads((sample_report / "findings.json").read_text(encoding="utf-8"))
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    for row in document["impact"]["affected"]:
        during = f"{row['failed_requests_during']:,} of {row['requests_during']:,}"
        assert html.count(during) >= (2 if row["failed_requests_during"] else 1), during  # the table, the actions
        if row["answered_p95_ms_during"] is not None:
            assert f"{row['answered_p95_ms_during']:,.0f} ms" in html
    (orders,) = [r for r in document["impact"]["affected"] if r["classification"] == "snat_exhaustion"]
    assert orders["answered_p95_ms_during"] < 20_000 and "21,054 ms" not in html, "the connect timer is not latency"
    assert "All trouble together" not in html and "80 minutes" not in html
    assert "backend p95 during" not in html and "p95 backend (ms)" not in html


def test_the_charts_are_drawn_in_colour(sample_report, tmp_path):
    page_path = sample_report / "report.html"
    page = open_page(page_path, tmp_path / "profile", screenshot=True, window=(1200, 4000))
    shot = tmp_path / "report.png"
    shot.write_bytes(page.screenshot)
    from PIL import Image

    # Text and tables are grey; only the embedded charts bring saturated colour to the page.
    saturation = Image.open(shot).convert("HSV").getchannel("S")
    coloured = sum(saturation.histogram()[100:]) / (saturation.width * saturation.height)
    assert coloured > 0.002


def test_an_empty_window_is_one_line_naming_where_the_data_is_and_writes_nothing(tmp_path):
    out = tmp_path / "empty"
    result = subprocess.run(
        [APIM_SNAT, "report", "--source", "sample", "--start", "2025-02-24T06:00:00Z", "--end", "2025-02-24T07:00:00Z"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 2
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("apim-snat: error:")]
    assert "no request between 2025-02-24T06:00Z" in line and "the source holds rows from 2025-02-25T08:30Z" in line
    assert not out.exists()


def test_a_quiet_window_renders_and_says_insufficient_data(tmp_path):
    out = tmp_path / "quiet"
    render(out, "--source", "sample", "--start", "2025-02-25T08:30:00Z", "--end", "2025-02-25T08:35:00Z")
    document = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert document["verdict"] == "insufficient_data" and document["confidence"] is None
    assert document["mitigations"] == []
    assert "Not enough to judge" in (out / "report.html").read_text(encoding="utf-8")


def test_an_ip_map_and_units_per_region_reach_the_report(tmp_path, scenario_export, scenario_ip_map):
    """Three App Service apps on one inbound IP, mapped: one pool, every app exhausted and naming it."""
    out = tmp_path / "shared"
    source = f"file:{scenario_export('app_service_shared_ip')}"
    render(
        out,
        "--source",
        source,
        "--ip-map",
        str(scenario_ip_map("app_service_shared_ip")),
        "--param",
        "units.West Europe=1",
    )
    document = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert document["ip_map"] is True and document["assumptions"]["units_by_region"] == {"West Europe": 1}
    (pool,) = [p for p in document["pools"] if p["state"] == "exhausted"]
    assert pool["kind"] == "ip" and len(pool["members"]) == 3
    apps = [d for d in document["destinations"] if d["destination"].endswith(".azurewebsites.net:443")]
    assert {(d["classification"], d["pool"]) for d in apps} == {("snat_exhaustion", pool["id"])}
    assert "Pools come from the <code>--ip-map</code>" in (out / "report.html").read_text(encoding="utf-8")


def test_a_report_folder_renders_its_postmortem_again_alone(tmp_path, scenario_export, scenario_ip_map):
    """Results, parameters, notes and a copy of the IP map stay in the folder: the export and the map can go."""
    export, ip_map = tmp_path / "shared.parquet", tmp_path / "hosts.csv"
    shutil.copyfile(scenario_export("app_service_shared_ip"), export)
    shutil.copyfile(scenario_ip_map("app_service_shared_ip"), ip_map)
    first = tmp_path / "first"
    note = "2025-02-25T09:40Z=scaled <b>out</b>"
    render(
        first,
        *("--source", f"file:{export}", "--ip-map", str(ip_map), "--param", "units=2", "--annotate", note),
        *("--param", "tier=standard_v2", "--param", "incident_id=INC-<7>"),
    )
    kept = json.loads((first / "parameters.json").read_text(encoding="utf-8"))
    assert kept["ip_map"] == "ip-map.csv" and kept["units"] == 2 and "scaled <b>out</b>" in kept["annotations"]
    assert kept["tier"] == "Standard v2" and kept["incident_id"] == "INC-<7>"
    document = json.loads((first / "findings.json").read_text(encoding="utf-8"))
    assert document["incident_id"] == "INC-<7>" and document["assumptions"]["tier"] == "Standard v2"
    assert "Postmortem: SNAT port exhaustion on contoso-apim (INC-&lt;7&gt;)" in (first / "report.html").read_text(
        encoding="utf-8"
    )
    assert str(tmp_path) not in json.dumps(kept)
    export.unlink(), ip_map.unlink()
    again = tmp_path / "again"
    result = render(again, "--source", f"cache:{first / 'results'}")
    assert "rendering again with the parameters of the report in first" in result.stderr
    assert json.loads((again / "findings.json").read_text(encoding="utf-8")) == json.loads(
        (first / "findings.json").read_text(encoding="utf-8")
    )
    assert "scaled &lt;b&gt;out&lt;/b&gt;" in (again / "report.html").read_text(encoding="utf-8")
    changed = tmp_path / "changed"
    render(changed, "--source", f"cache:{first / 'results'}", "--param", "units=1")
    assert json.loads((changed / "findings.json").read_text(encoding="utf-8"))["assumptions"]["units"] == 1


def test_an_unknown_tier_is_one_line_before_any_query(tmp_path):
    result = subprocess.run(
        [APIM_SNAT, "report", "--param", "tier=Gold", "--out", str(tmp_path / "gold")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and not (tmp_path / "gold").exists()
    assert result.stderr.splitlines() == [
        "apim-snat: error: parameter 'tier': unknown tier 'Gold' (known: Developer, Basic, Standard, Premium, "
        "Consumption, Basic v2, Standard v2, Premium v2)"
    ]


def test_relative_paths_mean_the_callers_folder(tmp_path):
    """The notebook runs inside the repository; a relative --source or --out must not follow it there."""
    shutil.copy(SAMPLE_DIR / "gateway_logs.parquet", tmp_path / "export.parquet")
    result = subprocess.run(
        [
            APIM_SNAT,
            "report",
            "--source",
            "file:export.parquet",
            "--start",
            "2025-02-25T09:00Z",
            "--end",
            "2025-02-25T09:30Z",
            "--out",
            "out",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert document["source"] == "local file export.parquet (ApiManagementGatewayLogs)"
    assert not (REPO / "out").exists()
    # No local absolute path in any output: the source by its file name, papermill's paths as file names.
    for name in ("findings.json", "report.ipynb", "report.html"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        for local in (str(tmp_path), str(REPO), str(Path.home()), sys.prefix):
            assert local not in text, (name, local)
    notebook = nbformat.read(tmp_path / "out" / "report.ipynb", as_version=4)
    record = notebook.metadata["papermill"]
    assert (record["input_path"], record["output_path"]) == ("snat_incident_report.ipynb", "report.ipynb")
    assert record["parameters"]["source"] == "file:export.parquet" and record["parameters"]["output_dir"] == "."


def test_the_notebooks_parameter_defaults_are_the_analysis_defaults():
    """A notebook run without -p must judge as the CLI and the explorer do: with ``Assumptions()``."""
    declared = papermill.inspect_notebook(str(REPO / "notebooks" / "snat_incident_report.ipynb"))
    defaults = Assumptions()
    fields = dataclasses.fields(Assumptions)
    for field in fields:
        parameter = declared[field.name]
        # papermill reads no "X | None": the notebook spells an optional setting "Optional[X]".
        declared_type = re.sub(r"^Optional\[(\w+)\]$", r"\1 | None", parameter["inferred_type_name"])
        assert declared_type == field.type, field.name
        assert ast.literal_eval(parameter["default"]) == getattr(defaults, field.name), field.name
    # The other parameters are exactly what a report request is handed over in, and where the kernel saves;
    # at their defaults they ask for the default request (the sample, its whole range, every mode detected).
    given = {name: ast.literal_eval(parameter["default"]) for name, parameter in declared.items()}
    assert set(declared) == set(ReportRequest(portal_resource="/subscriptions/s").parameters()) | {"output_dir"}
    assert ReportRequest.from_parameters(given) == ReportRequest()
    assert ReportRequest().parameters().items() <= given.items()
