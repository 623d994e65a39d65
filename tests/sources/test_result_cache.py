"""Results kept with their provenance: reused, refreshed, damaged entries asked again, replayed offline."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import __version__
from analysis.cli import main
from analysis.errors import KitError
from analysis.investigation import findings as findings_doc
from analysis.investigation.run import investigate
from analysis.sources import SourceOptions, open_source
from analysis.sources.base import Wrapping
from analysis.sources.cache import MANIFEST, CachedSource, CacheFolder, CacheReplay, cache_folder
from tests.azure_server import (
    LA_PATH,
    WORKSPACE,
    FakeCredential,
    answer_like_log_analytics,
    answer_like_metrics,
    certificate,
    serve,
)

__all__ = ["certificate", "serve"]  # fixtures used by name


SAMPLE_WINDOW = (pd.Timestamp("2025-02-25T08:30"), pd.Timestamp("2025-02-25T10:30"))


class Counting(Wrapping):
    """The sample source, counting the queries that reach it."""

    def __init__(self) -> None:
        self.inner = open_source("sample")
        self.runs = 0

    def run(self, kql: str) -> pd.DataFrame:
        self.runs += 1
        return self.inner.run(kql)


def cached(root: Path, refresh: bool = False) -> tuple[CachedSource, Counting]:
    counting = Counting()
    return CachedSource.wrap(counting, ["sample"], root, refresh=refresh), counting


def findings_text(source) -> str:
    return findings_doc.dumps(investigate(source).findings)


def test_a_second_run_reuses_every_result_and_finds_the_same(tmp_path):
    first, counted = cached(tmp_path)
    before = findings_text(first)
    assert counted.runs > 0
    again, recounted = cached(tmp_path)
    assert findings_text(again) == before  # durations included: they are the recorded ones
    assert recounted.runs == 0
    refreshed, counted_again = cached(tmp_path, refresh=True)
    findings_text(refreshed)
    assert counted_again.runs == counted.runs


def test_each_result_has_its_provenance_beside_it(tmp_path):
    source, _ = cached(tmp_path)
    investigate(source)
    folder = source.folder.path
    assert folder.parent == tmp_path and "/" not in folder.name and folder.name.endswith("-resource")
    records = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != MANIFEST]
    health = next(r for r in records if r["query"] == "destination_health")
    assert health["source"] == source.description and health["mode"] == "resource"
    assert health["kql"].startswith("// destination_health (mode: resource)")
    assert health["parameters"]["bin_size"] == "60s" and health["parameters"]["start"].startswith("datetime(")
    assert health["rows"] == len(pd.read_parquet(health_path(folder).with_suffix(".parquet")))
    assert health["complete"] is True and health["warnings"] == [] and health["duration_s"] >= 0
    assert health["kit_version"] == __version__ and {"duckdb-kql", "azure-monitor-query"} <= set(health["sdk_versions"])
    assert pd.Timestamp(health["ran_at"]) <= pd.Timestamp.now(tz="UTC")
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))


def health_path(folder: Path) -> Path:
    return next(folder.glob("destination_health-*.json"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda parquet, record: parquet.write_bytes(parquet.read_bytes()[:100]),
        lambda parquet, record: parquet.unlink(),
        lambda parquet, record: record.write_text("{not json", encoding="utf-8"),
        lambda parquet, record: record.write_text(
            json.dumps(json.loads(record.read_text()) | {"kql": "something else"}), encoding="utf-8"
        ),
    ],
    ids=["truncated-parquet", "missing-parquet", "broken-record", "record-of-another-query"],
)
def test_a_damaged_entry_is_asked_again_with_a_warning(tmp_path, caplog, damage):
    source, _ = cached(tmp_path)
    expected = findings_text(source)
    record = health_path(source.folder.path)
    damage(record.with_suffix(".parquet"), record)
    again, counted = cached(tmp_path)
    with caplog.at_level("WARNING", logger="analysis.sources.cache"):
        assert without_durations(findings_text(again)) == without_durations(expected)
    assert counted.runs == 1 and "damaged cache entry destination_health-" in caplog.text
    replayed = findings_text(CacheReplay.open(source.folder.path))  # the entry is whole again
    assert without_durations(replayed) == without_durations(expected)


def without_durations(text: str) -> dict:
    """A findings document less the query durations (a query asked again took its own time)."""
    document = json.loads(text)
    for query in document["queries"]:
        query.pop("duration_s")
    return document


def test_an_interrupted_write_leaves_a_miss_not_a_short_result(tmp_path, monkeypatch):
    source, _ = cached(tmp_path)
    replace = os.replace

    def crash_on_the_record(src, dst):
        if str(dst).endswith(".json") and "destination_health" in str(dst):
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_the_record)
    with pytest.raises(KeyboardInterrupt):
        investigate(source)
    monkeypatch.setattr(os, "replace", replace)
    folder = source.folder
    assert not list(folder.path.glob(".*.tmp"))  # the temporary file went with the interruption
    assert list(folder.path.glob("destination_health-*.parquet")) and not list(
        folder.path.glob("destination_health-*.json")
    )
    with pytest.raises(KitError, match="holds no result for destination_health"):
        investigate(CacheReplay.open(folder.path), *SAMPLE_WINDOW)


def test_offline_replay_of_a_report_folder_gives_byte_identical_findings(tmp_path):
    from analysis.report.kernel import save

    investigation = investigate(cached(tmp_path / "cache")[0])
    document = save(investigation, tmp_path / "report")
    written = (tmp_path / "report" / "findings.json").read_text(encoding="utf-8")
    replayed = investigate(open_source(f"cache:{tmp_path / 'report' / 'results'}"))
    assert findings_doc.dumps(replayed.findings) == written
    assert document["source"] == replayed.source


def test_offline_means_no_query_reaches_the_source(tmp_path):
    options = SourceOptions(cache=tmp_path, offline=True)
    with pytest.raises(KitError, match="not a cache folder"):
        open_source("sample", "resource", options)
    with pytest.raises(KitError, match="is not a cache folder"):
        open_source(f"cache:{tmp_path}")
    investigate(cached(tmp_path)[0])
    replay = open_source("sample", "resource", options)
    assert isinstance(replay, CacheReplay)
    with pytest.raises(KitError, match=f"is a cache root; give one of its cache folders: {replay.folder.path.name}"):
        open_source(f"cache:{tmp_path}")
    with pytest.raises(KitError, match="holds no result for destination_health from 2025-02-25T09:00:00Z"):
        investigate(replay, pd.Timestamp("2025-02-25T09:00"), pd.Timestamp("2025-02-25T09:30"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kit_version": "99.0.0"}, "written by a newer kit (99.0.0)"),
        ({"format": 2}, "written by a newer kit"),
        ({"mode": "azurediagnostics"}, "holds results of mode 'azurediagnostics', not 'resource'"),
    ],
)
def test_a_cache_folder_of_a_newer_kit_or_another_mode_is_refused_in_one_line(tmp_path, capsys, change, message):
    source, _ = cached(tmp_path)
    investigate(source)
    manifest = source.folder.path / MANIFEST
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | change), encoding="utf-8")
    code = main(
        ["report", "--source", f"cache:{source.folder.path}", "--mode", "resource", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len([line for line in err.splitlines() if "error" in line]) == 1
    assert "Traceback" not in err and not (tmp_path / "o").exists()
    with pytest.raises(KitError, match=re.escape(message)):
        CachedSource.wrap(Counting(), ["sample"], tmp_path)


def test_cache_folders_are_per_source_and_a_rewritten_file_gets_its_own(tmp_path):
    export = tmp_path / "logs.parquet"
    pd.read_parquet(_sample()).head(10).to_parquet(export)
    first = cache_folder(tmp_path / "c", [f"file:{export}"], "resource")
    os.utime(export, ns=(1, 1))
    assert cache_folder(tmp_path / "c", [f"file:{export}"], "resource") != first
    assert cache_folder(tmp_path / "c", [f"loganalytics:{WORKSPACE}"], "resource").name.startswith("loganalytics-")
    assert str(tmp_path) not in first.name


def _sample() -> Path:
    from analysis.assets import SAMPLE_LOGS, sample_dir

    return sample_dir() / SAMPLE_LOGS


def test_an_unwritable_cache_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(KitError, match="cannot write the cache folder"):
        CacheFolder.create(blocker / "sub", "somewhere", "resource")


# --- the Azure report, end to end: queried once, rendered offline, no secret anywhere ------------

SECRET = "planted-secret-7f3a9c1e-do-not-write"
RESOURCE = (
    "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/resourceGroups/rg-apim/providers/"
    "Microsoft.ApiManagement/service/contoso-apim"
)


def test_an_azure_report_queries_once_renders_offline_and_writes_no_secret(serve, tmp_path, monkeypatch, capsys):
    """The command line queries the workspace and the platform metric (here local stand-ins) and fills the
    cache; the notebook kernel renders from the cache alone; the report's results/ render the same again."""
    from analysis.assets import SAMPLE_LOGS, sample_dir
    from analysis.sources.local import open_local

    class PlantedToken(FakeCredential):
        token = SECRET

    local = open_local(sample_dir() / SAMPLE_LOGS)
    workspace = answer_like_log_analytics(local)
    platform = answer_like_metrics(RESOURCE, pd.read_parquet(sample_dir() / SAMPLE_LOGS))
    replay = serve({}, respond=lambda seen: (workspace if seen.path == LA_PATH else platform)(seen), lifetime=300)
    monkeypatch.setattr("analysis.sources.loganalytics.DEFAULT_ENDPOINT", replay.url)
    monkeypatch.setattr("analysis.sources.metrics.ENDPOINT", replay.url)
    monkeypatch.setattr("analysis.sources.azure.default_credential", lambda *args: PlantedToken())
    monkeypatch.setattr("analysis.sources.signin.make_credential", lambda *args: PlantedToken())
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    cache, out, again = tmp_path / "cache", tmp_path / "report", tmp_path / "again"
    window = ["--start", "2025-02-25T08:30Z", "--end", "2025-02-25T10:30Z"]
    metric = ["--metrics-resource", RESOURCE, "--metrics-region", "westeurope"]
    code = main(
        ["report", "--source", f"loganalytics:{WORKSPACE}", *window, *metric, "--cache", str(cache), "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert len(replay.requests_to(LA_PATH)) >= 5 and len(replay.seen) == len(replay.requests_to(LA_PATH)) + 1
    assert all(seen.headers["authorization"] == f"Bearer {SECRET}" for seen in replay.seen)
    document = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert document["verdict"] == "snat_exhaustion"
    assert document["source"] == f"Log Analytics workspace {WORKSPACE[:8]}… (ApiManagementGatewayLogs)"
    section = document["platform_metric"]
    assert section["verdict"] == "complete" and section["logged_share"] == 1.0
    assert section["metric_connection_failures"] == section["logged_connection_failures"] > 0
    assert [region["location"] for region in section["failure_regions"]] == ["West Europe"]
    assert "Platform metric" in (out / "report.html").read_text(encoding="utf-8")

    replay.stop()  # from here on nothing answers: the folder alone must do
    assert main(["report", "--source", f"cache:{out / 'results'}", "--out", str(again)]) == 0
    assert (again / "findings.json").read_bytes() == (out / "findings.json").read_bytes()

    logs = capsys.readouterr()
    outputs = [p for folder in (cache, out, again) for p in folder.rglob("*") if p.is_file()]
    assert len(outputs) > 10
    for path in outputs:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in logs.out + logs.err
