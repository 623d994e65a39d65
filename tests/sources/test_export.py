"""``apim-snat export``: raw rows of a window in parts under the service's limits, into one Parquet file."""

from __future__ import annotations

import stat

import pandas as pd
import pytest

from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.cli import main
from analysis.errors import KitError
from analysis.investigation.run import investigate
from analysis.sources import open_source
from analysis.sources.export import export
from analysis.sources.local import open_local
from tests.azure_server import LA_PATH, answer_like_log_analytics, certificate, la_source, serve

__all__ = ["certificate", "serve"]  # fixtures used by name
WINDOW = (pd.Timestamp("2025-02-25T08:30"), pd.Timestamp("2025-02-25T10:30"))
COLUMNS = ["TimeGenerated", "BackendUrl", "ResponseCode", "BackendTime", "LastErrorReason", "ApiId"]


@pytest.fixture(scope="module")
def local():
    source = open_local(sample_dir() / SAMPLE_LOGS)
    yield source
    source.close()


def test_a_window_is_fetched_in_parts_and_written_whole(serve, local, tmp_path):
    replay = serve({}, respond=answer_like_log_analytics(local, max_rows=9_000), lifetime=300)  # cut parts are split
    seen: list[int] = []
    rows = export(la_source(replay), *WINDOW, tmp_path / "rows.parquet", progress=seen.append, rows_per_part=10_000)
    written = pd.read_parquet(tmp_path / "rows.parquet")
    expected = pd.read_parquet(sample_dir() / SAMPLE_LOGS).sort_values("TimeGenerated", kind="stable")
    assert rows == len(written) == len(expected) == sum(seen) and len(seen) >= 6
    pd.testing.assert_frame_equal(
        written[COLUMNS].reset_index(drop=True), expected[COLUMNS].reset_index(drop=True), check_dtype=False
    )
    queries = [s.json()["query"] for s in replay.requests_to(LA_PATH)]
    assert queries[0].startswith("// raw_row_counts") and all(q.startswith("// raw_rows") for q in queries[1:])
    assert list(tmp_path.iterdir()) == [tmp_path / "rows.parquet"]
    assert stat.S_IMODE((tmp_path / "rows.parquet").stat().st_mode) == 0o600  # raw rows are their user's alone
    exported = investigate(open_source(f"file:{tmp_path / 'rows.parquet'}"), *WINDOW).findings
    assert exported["verdict"] == investigate(local, *WINDOW).findings["verdict"] == "snat_exhaustion"


def test_an_export_that_fails_midway_leaves_no_file(serve, local, tmp_path):
    answer = answer_like_log_analytics(local)
    asked = []

    def fail_on_the_third(seen):
        asked.append(seen)
        return answer(seen) if len(asked) < 3 else (403, b'{"error": {"code": "Forbidden", "message": "no"}}')

    replay = serve({}, respond=fail_on_the_third)
    with pytest.raises(KitError, match="Forbidden"):
        export(la_source(replay), *WINDOW, tmp_path / "rows.parquet", rows_per_part=10_000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("out", "message"),
    [("rows.csv", "written as Parquet"), ("folder.parquet", "is a folder")],
)
def test_a_bad_out_is_one_line(tmp_path, capsys, out, message):
    (tmp_path / "folder.parquet").mkdir()
    code = main(["export", "--source", "sample", "--out", str(tmp_path / out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_an_empty_window_is_one_line(tmp_path, capsys):
    code = main(
        [
            "export",
            "--source",
            "sample",
            "--start",
            "2024-01-01T00:00Z",
            "--end",
            "2024-01-01T01:00Z",
            "--out",
            str(tmp_path / "rows.parquet"),
        ]
    )
    assert code == 2 and "holds no gateway log rows" in capsys.readouterr().err
    assert not (tmp_path / "rows.parquet").exists()
