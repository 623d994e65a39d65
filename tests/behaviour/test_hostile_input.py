"""Markup in the logs stays text: a report of an export with markup in every string column, opened in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis.report.html_page import CONTENT_SECURITY_POLICY, clean_html
from tests.browser import open_page
from tests.hostile import FILE_NAME, HOSTS, PERSONAL, SECRETS, SHOWN_COLUMNS, plant_credentials, write_hostile_export
from tests.paths import REPO

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))
PAGE = {
    "title": "document.title",
    "headings": "[...document.querySelectorAll('h2')].map(h => h.textContent.replace('\\u00b6', '').trim())",
    "text": "document.body.innerText",
    "images": "[...document.images].map(i => i.naturalWidth * i.naturalHeight)",
}


def report_sections() -> list[str]:
    """The second-level headings the report notebook writes itself, in order."""
    notebook = nbformat.read(REPO / "notebooks" / "snat_incident_report.ipynb", as_version=4)
    lines = (line for cell in notebook.cells if cell.cell_type == "markdown" for line in cell.source.splitlines())
    return [line.removeprefix("## ").strip() for line in lines if line.startswith("## ")]


@pytest.fixture(scope="module")
def hostile_report(incident, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    export = write_hostile_export(incident("sample").logs, folder)
    out = folder / "report"
    result = subprocess.run(
        [APIM_SNAT, "report", "--source", f"file:{export}", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_markup_from_the_logs_neither_runs_nor_loads_and_every_section_is_there(hostile_report, tmp_path):
    page_path = hostile_report / "report.html"
    page = open_page(page_path, tmp_path / "profile", evaluate=PAGE)
    assert page.requests == [page_path.as_uri()]
    assert page.scripts == [] and page.dialogs == [] and page.exceptions == [] and page.console == []
    assert page.log_entries == []  # a Content-Security-Policy violation would be an entry
    assert page.values["title"] == "APIM SNAT incident report"
    headings = page.values["headings"]
    assert headings[0] == "Executive summary"
    assert "Verdict: SNAT port exhaustion" in page.values["text"]
    assert headings[1:] == report_sections()
    assert len(page.values["images"]) >= 2 and all(page.values["images"])
    text = " ".join(page.values["text"].split())
    for host in HOSTS.values():
        assert host in text
    for column in SHOWN_COLUMNS:
        assert f"</table></div><h2>{column}</h2>" in text, column
    assert FILE_NAME in text


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def test_the_page_forbids_scripts_and_remote_loads_and_links_only_within_itself(hostile_report):
    parser = _Elements()
    parser.feed((hostile_report / "report.html").read_text(encoding="utf-8"))
    policies = [a["content"] for tag, a in parser.found if tag == "meta" and a.get("http-equiv")]
    assert policies == [CONTENT_SECURITY_POLICY]
    assert not [tag for tag, _ in parser.found if tag in {"script", "iframe", "object", "embed", "form", "base"}]
    assert not [name for _, attrs in parser.found for name in attrs if name.startswith("on")]
    assert {a["href"][0] for tag, a in parser.found if tag == "a" and a.get("href")} == {"#"}
    assert {a["src"][:15] for tag, a in parser.found if tag == "img"} == {"data:image/png;"}


def test_findings_keep_the_strings_as_they_were(hostile_report):
    document = json.loads((hostile_report / "findings.json").read_text(encoding="utf-8"))
    assert document["verdict"] == "snat_exhaustion"
    ports = {"legacy-erp.fabrikam.net": 8443}
    expected = {f"{twin}:{ports.get(host, 443)}" for host, twin in HOSTS.items()}
    assert {d["destination"] for d in document["destinations"]} == expected


def test_the_sanitiser_keeps_the_reports_markup_and_drops_the_rest():
    kept = '<h2 id="a">A</h2><p><strong>b</strong> <code>c</code></p><table><tbody><tr><td>e</td></tr></tbody></table>'
    assert clean_html(kept) == kept
    dropped = '<img src="http://x/y.png"><a href="javascript:alert(1)" onclick="f()">z</a><style>p{}</style>'
    assert clean_html(dropped) == "<a>z</a>"


# --- credentials the logs quote (issue "Safe to share, part 2", rows 2 to 4) ------------------------------


def output_texts(folder: Path) -> dict[str, str]:
    """Every output file of a report folder as text, results' Parquet cells included."""
    texts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            texts[name] = "\n".join([*map(str, frame.columns), *(str(v) for c in frame for v in frame[c].tolist())])
        else:
            texts[name] = path.read_text(encoding="utf-8")
    return texts


@pytest.fixture(scope="module", params=["default", "redact"])
def credentials_report(request, incident, tmp_path_factory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp(f"credentials-{request.param}")
    export = folder / "logs.parquet"
    plant_credentials(incident("sample").logs).to_parquet(export, index=False)
    ip_map = folder / "hosts.csv"
    ip_map.write_text("host,ip,owner\norders.contoso-backend.com,2001:db8::10,alice.doe@contoso.com\n", "utf-8")
    out = folder / "report"
    options = ["--redact"] if request.param == "redact" else []
    result = subprocess.run(
        [APIM_SNAT, "report", "--source", f"file:{export}", "--ip-map", str(ip_map), *options, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return request.param, out


def test_no_credential_the_logs_quote_reaches_any_output(credentials_report):
    _, out = credentials_report
    texts = output_texts(out)
    assert {"report.html", "report.ipynb", "findings.json", "parameters.json", "ip-map.csv"} <= set(texts)
    assert any(name.startswith("results/error_breakdown") and name.endswith(".parquet") for name in texts)
    for name, text in texts.items():
        leaked = [what for what, secret in SECRETS.items() if secret in text]
        assert not leaked, (name, leaked)
    # The messages are shown, masked: the report says a credential was there.
    for shown in ("code=***", "sig=***", "subscription-key=***", "Authorization: Bearer ***", "Basic ***"):
        assert shown in texts["report.html"], shown


def test_user_information_is_no_part_of_a_destination(credentials_report):
    _, out = credentials_report
    document = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert document["verdict"] == "snat_exhaustion"
    destinations = {d["destination"] for d in document["destinations"]}
    assert {"orders.contoso-backend.com:443", "inventory.azurewebsites.net:443"} <= destinations
    assert not [d for d in destinations if "@" in d] and len(destinations) == len(HOSTS)


def test_redact_replaces_emails_and_every_ip_in_every_output(credentials_report):
    kind, out = credentials_report
    texts = output_texts(out)
    personal = [*PERSONAL.values(), "10.9.8.7", "2001:db8::10", "20.61.102.17", "40.114.201.66"]
    found = {name: [value for value in personal if value in text] for name, text in texts.items()}
    if kind == "redact":
        assert not [name for name, values in found.items() if values], found
        assert "email-" in texts["report.html"] and texts["ip-map.csv"].startswith(
            "host,ip\norders.contoso-backend.com,ip-"
        )
    else:  # not asked to redact: the addresses are shown as the logs and the map have them
        assert PERSONAL["email"] in texts["report.html"] and "2001:db8::10" in texts["ip-map.csv"]
    assert "owner" not in texts["ip-map.csv"] and PERSONAL["email"] not in texts["ip-map.csv"]
