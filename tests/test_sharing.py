"""--redact and the source's description: who called the API and where the export lay stay out of every output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.sharing import KEY_VARIABLE, Pseudonyms, SharedSource, describe, shared, shown_spec
from analysis.sources import open_source
from tests.paths import SAMPLE_DIR

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))
KEY = "a key for the tests"


def test_pseudonyms_are_stable_keyed_and_by_kind():
    names = Pseudonyms(b"one")
    assert names("ip", "10.1.2.3") == names("ip", "10.1.2.3") != names("subscription", "10.1.2.3")
    assert names("ip", "10.1.2.3") != Pseudonyms(b"two")("ip", "10.1.2.3")


def test_a_query_result_is_redacted_column_by_column():
    names = Pseudonyms(b"k")
    drivers = pd.DataFrame(
        {
            "key_kind": ["api", "subscription", "caller_ip", "operation"],
            "key": ["orders-api", "web-storefront", "40.114.201.66", "get-order"],
            "requests": [1, 2, 3, 4],
        }
    )
    drivers.attrs["warnings"] = ["cut short"]
    redacted = names.frame(drivers)
    assert redacted["key"].tolist() == [
        "orders-api",
        names("subscription", "web-storefront"),
        names("ip", "40.114.201.66"),
        "get-order",
    ]
    assert redacted.attrs == {"warnings": ["cut short"]} and drivers["key"][1] == "web-storefront"
    raw = pd.DataFrame({"CallerIpAddress": ["1.2.3.4"], "UserId": ["alice"], "sample_message": ["from 1.2.3.4 :)"]})
    assert names.frame(raw).iloc[0].tolist() == [
        names("ip", "1.2.3.4"),
        names("user", "alice"),
        f"from {names('ip', '1.2.3.4')} :)",
    ]


def test_the_key_comes_from_the_environment_when_set(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    assert Pseudonyms.from_environment()("ip", "1.2.3.4") == Pseudonyms(KEY.encode())("ip", "1.2.3.4")
    monkeypatch.delenv(KEY_VARIABLE)
    assert Pseudonyms.from_environment()("ip", "1.2.3.4") != Pseudonyms.from_environment()("ip", "1.2.3.4")


def test_a_source_is_described_without_local_paths(tmp_path):
    assert shown_spec(f"file:{tmp_path}/incident/logs.parquet") == "file:logs.parquet"
    opened = open_source(f"file:{SAMPLE_DIR / 'azure_diagnostics.parquet'}")
    try:
        view = shared(f"file:{SAMPLE_DIR / 'azure_diagnostics.parquet'}", opened)
        assert isinstance(view, SharedSource) and view.mode == "azurediagnostics"
        assert view.description == "local file azure_diagnostics.parquet (AzureDiagnostics)"
        assert view.time_range() == opened.time_range()
    finally:
        view.close()
    sample = open_source("sample")
    try:
        assert describe("sample", sample) == "the sample incident (ApiManagementGatewayLogs)"
    finally:
        sample.close()


@pytest.fixture(scope="module")
def redacted_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("redacted") / "report"
    result = subprocess.run(
        [APIM_SNAT, "report", "--redact", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, KEY_VARIABLE: KEY},
    )
    assert result.returncode == 0, result.stderr
    return out


def identities() -> dict[str, set[str]]:
    logs = pd.read_parquet(SAMPLE_DIR / "gateway_logs.parquet", columns=["CallerIpAddress", "ApimSubscriptionId"])
    return {
        "ip": set(logs["CallerIpAddress"].dropna()) - {""},
        "subscription": set(logs["ApimSubscriptionId"].dropna()) - {""},
    }


def test_no_caller_ip_or_subscription_reaches_any_output(redacted_report):
    found = identities()
    secrets = found["ip"] | found["subscription"]
    assert len(found["ip"]) >= 5 and len(found["subscription"]) >= 5
    for path in redacted_report.rglob("*"):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            cells = {str(v) for column in frame.columns for v in frame[column].tolist()} | set(map(str, frame.columns))
            assert not cells & secrets, path.name
        elif path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not [s for s in secrets if s in text], path.name


def test_the_pseudonyms_are_the_same_in_findings_results_and_html(redacted_report):
    names = Pseudonyms(KEY.encode())
    drivers = pd.read_parquet(next(redacted_report.glob("results/load_drivers*.parquet")))
    ips = drivers.loc[drivers["key_kind"] == "caller_ip", "key"].tolist()
    assert ips and set(ips) <= {names("ip", ip) for ip in identities()["ip"]}
    html = (redacted_report / "report.html").read_text(encoding="utf-8")
    assert all(ip in html for ip in ips)
    document = json.loads((redacted_report / "findings.json").read_text(encoding="utf-8"))
    (rate_limit,) = [m for m in document["mitigations"] if m["id"] == "rate_limit_by_key"]
    subscriptions = {names("subscription", s) for s in identities()["subscription"]}
    assert [word for word in rate_limit["reason"].split() if word in subscriptions]  # it names the top keys
