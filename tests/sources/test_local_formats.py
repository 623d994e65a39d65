"""The local source reads an export however it arrives: Parquet, the portal's CSV, JSON lines or the
storage archive; one file, a folder, a glob, gzipped; and always gives the same rows."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import KitError
from analysis.query import pack
from analysis.sources.local import open_local
from analysis.synthetic.archive import write_archive
from analysis.synthetic.exports import write_parquet, write_portal_csv


def health_of(source) -> pd.DataFrame:
    first, last = source.time_range()
    window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
    try:
        return source.run(pack.load("destination_health").render(window, source.mode))
    finally:
        source.close()


def gzipped(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    with path.open("rb") as plain, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    path.unlink()
    return target


@pytest.fixture(scope="module")
def logs(incident) -> pd.DataFrame:
    """Two hours: the snat_only incident, then the same requests an hour later."""
    first = incident("snat_only").logs
    later = first.assign(TimeGenerated=first["TimeGenerated"] + pd.Timedelta(hours=1))
    return pd.concat([first, later], ignore_index=True)


@pytest.fixture(scope="module")
def expected(logs, tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("parquet") / "logs.parquet"
    write_parquet(logs, path)
    return health_of(open_local(path))


@pytest.fixture(scope="module")
def archive(logs, tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("archive")
    return root, write_archive(logs, root)


def test_the_archive_tree_is_the_one_diagnostic_settings_write(archive, logs):
    root, blobs = archive
    assert len(blobs) == 2
    relative = blobs[0].relative_to(root).as_posix()
    assert relative.startswith("insights-logs-gatewaylogs/resourceId=/SUBSCRIPTIONS/")
    assert relative.endswith(
        "/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO-APIM/y=2025/m=03/d=04/h=14/m=00/PT1H.json"
    )
    record = json.loads(blobs[0].read_text(encoding="utf-8").splitlines()[0])
    assert {"time", "resourceId", "category", "durationMs", "callerIpAddress", "properties"} <= set(record)
    assert record["time"].endswith("Z") and record["category"] == "GatewayLogs"
    assert {"backendUrl", "responseCode", "backendTime", "apiId"} <= set(record["properties"])
    lines = sum(len(b.read_text(encoding="utf-8").splitlines()) for b in blobs)
    assert lines == len(logs)


def test_an_archive_failure_record_keeps_its_last_error(archive):
    _, blobs = archive
    records = (json.loads(line) for b in blobs for line in b.read_text(encoding="utf-8").splitlines())
    failed = next(r for r in records if r["properties"]["lastError"] is not None)
    assert failed["properties"]["lastError"]["reason"] == "BackendConnectionFailure"
    assert failed["properties"]["lastError"]["source"] == "forward-request"


@pytest.mark.parametrize("how", ["root folder", "one blob's folder", "glob", "gzipped blobs"])
def test_the_archive_reads_like_parquet(archive, expected, how, tmp_path):
    root, blobs = archive
    if how == "root folder":
        spec = str(root)
    elif how == "glob":
        spec = str(root / "**" / "PT1H.json")
    elif how == "one blob's folder":
        spec = str(blobs[1].parent)
    else:
        copy = tmp_path / "archive"
        shutil.copytree(root, copy)
        for blob in copy.rglob("PT1H.json"):
            gzipped(blob)
        spec = str(copy)
    source = open_local(spec)
    assert source.mode == "resource"
    got = health_of(source)
    if how == "one blob's folder":
        expected = expected[expected["minute"] >= pd.Timestamp("2025-03-04 15:00")].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_an_archive_record_may_leave_out_fields(tmp_path):
    """The gateway omits what a request did not have (no backend answer, no error)."""
    record = {
        "time": "2025-03-04T14:00:01.1234567Z",
        "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APIM",
        "category": "GatewayLogs",
        "durationMs": 21000,
        "properties": {"method": "GET", "backendUrl": "https://Api.Contoso.com/x", "responseCode": 500},
    }
    failed = {**record, "properties": {**record["properties"], "lastError": {"reason": "BackendConnectionFailure"}}}
    blob = tmp_path / "PT1H.json"
    blob.write_text(json.dumps(record) + "\n" + json.dumps(failed) + "\n", encoding="utf-8")
    health = health_of(open_local(blob))
    assert health[["destination", "requests", "http_5xx", "connection_failures"]].values.tolist() == [
        ["api.contoso.com:443", 2, 2, 1]
    ]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_gzipped_files_read_like_plain_ones(logs, expected, kind, tmp_path):
    path = tmp_path / f"logs.{kind}"
    if kind == "csv":
        write_portal_csv(logs, path, list(logs.columns))  # every column: the portal's choice lacks Region
    else:
        write_parquet(logs, path)
    got = health_of(open_local(gzipped(path)))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_a_folder_of_parquet_files_is_one_export(logs, expected, tmp_path):
    half = len(logs) // 2
    (tmp_path / "day" / "part").mkdir(parents=True)
    write_parquet(logs.iloc[:half], tmp_path / "day" / "a.parquet")
    write_parquet(logs.iloc[half:], tmp_path / "day" / "part" / "b.parquet")
    (tmp_path / "day" / "README.txt").write_text("not an export", encoding="utf-8")
    pd.testing.assert_frame_equal(health_of(open_local(tmp_path / "day")), expected, check_dtype=False)


@pytest.mark.parametrize(
    ("files", "spec", "message"),
    [
        ({"notes.txt": "x"}, ".", "no .parquet, .csv or .json files in this folder"),
        ({}, "*.parquet", "no .parquet, .csv or .json files match"),
        ({"a.csv": "x\n", "b.json": "{}\n"}, ".", "several formats \\(CSV, JSON lines\\)"),
    ],
)
def test_folders_and_globs_that_hold_no_export(tmp_path, files, spec, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(KitError, match=message):
        open_local(tmp_path / spec)


def test_a_column_named_twice_is_an_error_naming_it(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(
        "TimeGenerated,BackendUrl,ResponseCode,BackendTime,ResponseCode\n2025-02-25T09:00:00Z,https://a/,200,5,500\n",
        encoding="utf-8",
    )
    with pytest.raises(KitError, match="column 'ResponseCode' appears twice"):
        open_local(path)
    portal = tmp_path / "portal.csv"
    portal.write_text("TimeGenerated [UTC],TimeGenerated,BackendUrl,ResponseCode\n", encoding="utf-8")
    with pytest.raises(KitError, match="column 'TimeGenerated' appears twice"):
        open_local(portal)
