"""A self-hosted gateway's JSON log lines read as gateway logs, and the kit says whose NAT carried the calls."""

from __future__ import annotations

import gzip
import shutil

import pandas as pd
import pytest

from analysis.investigation.run import investigate
from analysis.postmortem import body
from analysis.postmortem.markup import md
from analysis.query import pack
from analysis.sources import SourceOptions, open_source
from analysis.sources.local import open_local
from analysis.synthetic import generate
from analysis.synthetic.exports import write_parquet, write_self_hosted_log
from analysis.synthetic.library import scenario

REGION = "factory-floor"


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return generate(scenario("snat_only")).logs


@pytest.fixture(scope="module")
def log_file(logs, tmp_path_factory):
    return write_self_hosted_log(logs, tmp_path_factory.mktemp("self-hosted") / "gateway.jsonl", REGION)


def health(path) -> pd.DataFrame:
    source = open_local(path)
    try:
        first, last = source.time_range()
        span = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
        return source.run(pack.load("destination_health").render(span, source.mode))
    finally:
        source.close()


def test_the_log_lines_read_like_the_same_rows_exported(logs, log_file, tmp_path):
    write_parquet(logs.assign(Region=REGION), tmp_path / "same.parquet")
    pd.testing.assert_frame_equal(health(log_file), health(tmp_path / "same.parquet"), check_dtype=False)


def test_lines_that_are_no_request_are_left_out_and_a_cut_line_is_counted(logs, log_file):
    text = log_file.read_text(encoding="utf-8").splitlines()
    assert len(text) > len(logs) + 2 and any('"level":"Verbose"' in line for line in text)
    source = open_local(log_file)
    assert source.mode == "resource" and source.self_hosted
    assert source.description == "local file gateway.jsonl (ApiManagementGatewayLogs, self-hosted gateway)"
    quality = source.data_quality
    assert quality.rows == len(logs)
    (cut,) = [p for p in quality.problems if p.column == "log line"]
    assert (cut.rows, cut.treatment) == (1, "skipped")
    source.close()


def test_a_gzipped_log_reads_alike(log_file, tmp_path):
    packed = tmp_path / "gateway.jsonl.gz"
    with log_file.open("rb") as plain, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(plain, out)
    pd.testing.assert_frame_equal(health(packed), health(log_file))


def test_the_findings_say_whose_nat_it_was_and_where_its_exhaustion_shows(log_file, logs, tmp_path):
    source = open_local(log_file)
    findings = investigate(source).findings
    source.close()
    gateway = findings["gateway"]
    assert gateway["self_hosted"] is True
    for words in ("not through the SNAT ports of an APIM unit", "nf_conntrack: table full", "SnatPortExhaustion"):
        assert words in gateway["statement"]
    assert md(gateway["statement"]) in body.destination_lines(findings).splitlines()
    write_parquet(logs, tmp_path / "managed.parquet")
    managed = open_local(tmp_path / "managed.parquet")
    assert investigate(managed).findings["gateway"] == {"self_hosted": False, "statement": ""}
    managed.close()


def test_a_replay_from_the_cache_still_knows_the_gateway_was_self_hosted(log_file, tmp_path):
    spec = f"file:{log_file}"
    cached = open_source(spec, options=SourceOptions(cache=tmp_path))
    assert cached.self_hosted
    window = investigate(cached).window
    cached.close()
    replay = open_source(spec, options=SourceOptions(cache=tmp_path, offline=True))
    found = investigate(replay, *window)
    assert found.findings["gateway"]["self_hosted"] is True
    assert found.findings["source"].endswith("self-hosted gateway)")


def test_a_flat_json_lines_export_is_not_taken_for_a_self_hosted_log(logs, tmp_path):
    path = tmp_path / "rows.jsonl"
    logs.head(200).to_json(path, orient="records", lines=True, date_format="iso")
    source = open_local(path)
    assert not source.self_hosted and "self-hosted" not in source.description
    source.close()


def test_a_self_hosted_gateway_is_not_judged_by_azures_ports(log_file):
    """The same connects timing out under load: its NAT ran out, but an APIM unit's ports are not that NAT's, so
    the capacity check does not vote, nothing contradicts them, and no APIM-only mitigation is offered."""
    source = open_local(log_file)
    found = investigate(source)
    source.close()
    (entry,) = [d for d in found.findings["destinations"] if d["classification"] == "snat_exhaustion"]
    assert "self-hosted gateway: the NAT of its node or cluster ran out" in entry["reason"]
    (capacity,) = [c for c in entry["checks"] if c["name"] == "demand_could_reach_capacity"]
    assert capacity["outcome"] == "not_judged" and "self-hosted gateway" in capacity["detail"]
    assert entry["holds_if"]["contradiction"] is None
    assert any("nf_conntrack" in line for line in entry["holds_if"]["confirm"])
    ids = {m["id"] for m in found.findings["mitigations"]}
    assert ids and not ids & {"scale_out", "private_endpoint", "nat_gateway", "azure_firewall"}
