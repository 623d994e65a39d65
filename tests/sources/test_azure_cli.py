"""The source, sign-in, cache and metric options: every mistake is one line and exit 2, before any request."""

from __future__ import annotations

import socket

import pyarrow.parquet as pq
import pytest

from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.cli import main

WORKSPACE = "0f3c8a52-6b1d-4e27-9a4f-2c5d7e9b1a60"
RESOURCE = (
    "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/resourceGroups/rg-apim/providers/"
    "Microsoft.ApiManagement/service/contoso-apim"
)
WINDOW = ["--start", "2025-02-25T09:00Z", "--end", "2025-02-25T10:00Z"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach a host fails the test: these mistakes must be caught before."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a name was looked up: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "loganalytics:my-workspace"], "not a workspace id"),
        (["--source", "loganalytics-resource:/subscriptions/x"], "not an Azure resource id"),
        (["--source", "kusto:http://cluster.kusto.windows.net/db"], "kusto:https://CLUSTER/DATABASE"),
        (["--source", f"loganalytics:{WORKSPACE}", "--source", "sample"], "unioned by Log Analytics"),
        (["--source", f"loganalytics:{WORKSPACE}", "--auth", "password"], "invalid choice: 'password'"),
        (["--source", f"loganalytics:{WORKSPACE}", "--tenant", "contoso.com"], "--tenant applies to --auth cli"),
        (["--source", f"loganalytics:{WORKSPACE}", "--auth", "cli", "--tenant", "bad tenant!"], "--tenant"),
        (["--source", f"loganalytics:{WORKSPACE}", "--timeout", "601"], "between 1 and 600"),
        (["--source", "kusto:https://c.kusto.windows.net/db", "--timeout", "0"], "between 1 and 3600"),
        (["--source", f"loganalytics:{WORKSPACE}", "--timeout", "ten"], "invalid int value"),
        (["--source", f"loganalytics:{WORKSPACE}", "--metrics-region", "westeurope"], "--metrics-resource"),
        (["--source", f"loganalytics:{WORKSPACE}", "--metrics-resource", RESOURCE], "--metrics-region"),
        (
            [
                "--source",
                f"loganalytics:{WORKSPACE}",
                "--metrics-resource",
                "/subscriptions/x",
                "--metrics-region",
                "we",
            ],
            "not an Azure resource id",
        ),
        (["--source", "cache:/nonexistent/results"], "is not a cache folder"),
    ],
)
def test_report_mistakes_are_one_line_before_any_request(capsys, tmp_path, args, message):
    code = main(["report", *args, *WINDOW, "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_an_unwritable_cache_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    code = main(["query", "--source", "sample", "--kql", "GatewayRequests | count", "--cache", str(blocker / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the cache folder" in err and "Traceback" not in err


def test_query_answers_again_from_the_cache_without_the_file(capsys, tmp_path):
    export = tmp_path / "logs.parquet"
    export.write_bytes((sample_dir() / SAMPLE_LOGS).read_bytes())
    text = ["--kql", "GatewayRequests | summarize n = count()", "--format", "csv", "--cache", str(tmp_path / "c")]
    assert main(["query", "--source", f"file:{export}", *text]) == 0
    first = capsys.readouterr().out
    (folder,) = (tmp_path / "c").iterdir()
    export.unlink()
    assert main(["query", "--source", f"cache:{folder}", *text[:4]]) == 0
    rows = pq.read_metadata(sample_dir() / SAMPLE_LOGS).num_rows
    assert capsys.readouterr().out == first == f"n\n{rows}\n"
