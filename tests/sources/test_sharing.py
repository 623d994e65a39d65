"""--redact and the source's description: who called the API and where the export lay stay out of every output."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.diagnosis.pools import parse_ip_map
from analysis.report.from_folder import IP_MAP_FILE, keep_ip_map
from analysis.sources import open_source
from analysis.sources.sharing import KEY_VARIABLE, Pseudonyms, SharedSource, describe, shared, shown_spec
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


def test_redact_replaces_every_spelling_of_an_address_and_emails_in_every_text_column():
    names = Pseudonyms(b"k")
    result = pd.DataFrame(
        {
            "destination": ["10.0.0.5:8080", "orders.contoso.com:443"],
            "region": ["West Europe", "West Europe"],
            "key_kind": ["api", "caller_ip"],
            "key": ["orders for bob@fabrikam.com", "2001:DB8:0:0:0:0:0:7"],
            "reason": ["from fe80::1%eth0", "to [::ffff:10.9.8.7]:443"],
            "sample_message": ["Alice.Doe@contoso.com via 2001:db8::7", "10.9.8.7 refused at 09:19:25"],
        }
    )
    redacted = names.frame(result)
    assert redacted["destination"].tolist() == result["destination"].tolist()  # what the report is about
    assert redacted["region"].tolist() == ["West Europe"] * 2
    ip, email = (lambda v: names("ip", v)), (lambda v: names("email", v))
    assert redacted["key"].tolist() == [f"orders for {email('bob@fabrikam.com')}", ip("2001:db8::7")]
    assert redacted["reason"].tolist() == [f"from {ip('fe80::1')}%eth0", f"to [{ip('10.9.8.7')}]:443"]
    assert redacted["sample_message"].tolist() == [
        f"{email('alice.doe@contoso.com')} via {ip('2001:db8::7')}",
        f"{ip('10.9.8.7')} refused at 09:19:25",
    ]
    assert names.frame(redacted).equals(redacted)  # a redacted report rendered again is not redacted twice


def test_a_kept_ip_map_holds_host_and_ip_only_as_the_report_names_them_and_is_private(tmp_path):
    given = "host,ip,owner\nOrders.contoso.com,20.50.1.7,alice@contoso.com\norders.contoso.com,2001:DB8::1,x\n"
    ip_map = parse_ip_map(given, "--ip-map hosts.csv")
    names = Pseudonyms(b"k")
    assert keep_ip_map(tmp_path, None) == "" and not (tmp_path / IP_MAP_FILE).exists()
    assert keep_ip_map(tmp_path, ip_map) == IP_MAP_FILE
    assert (tmp_path / IP_MAP_FILE).read_text(encoding="utf-8") == (
        "host,ip\norders.contoso.com,20.50.1.7\norders.contoso.com,2001:db8::1\n"
    )
    keep_ip_map(tmp_path, ip_map, names)
    kept = (tmp_path / IP_MAP_FILE).read_text(encoding="utf-8")
    assert (
        kept
        == f"host,ip\norders.contoso.com,{names('ip', '20.50.1.7')}\norders.contoso.com,{names('ip', '2001:db8::1')}\n"
    )
    assert stat.S_IMODE((tmp_path / IP_MAP_FILE).stat().st_mode) == 0o600
    assert parse_ip_map(kept).hosts == {"orders.contoso.com": (names("ip", "20.50.1.7"), names("ip", "2001:db8::1"))}
