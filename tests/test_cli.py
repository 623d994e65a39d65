"""Command line: every user mistake is one line on stderr and exit code 2; reports replace folders whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analysis import __version__
from analysis.cli import main
from analysis.query import pack
from analysis.report import outfolder
from tests.paths import REPO, SAMPLE_DIR


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--source", "file:/nonexistent/logs.parquet", "--out", "{out}"], "no such file"),
        (["report", "--source", "file:{notes}", "--out", "{out}"], "not a readable Parquet file"),
        (["report", "--source", "ftp:somewhere", "--out", "{out}"], "unknown source 'ftp:somewhere'"),
        (
            ["report", "--start", "2025-02-25T10:00Z", "--end", "2025-02-25T09:00Z", "--out", "{out}"],
            "is not before end",
        ),
        (["report", "--start", "yesterday", "--out", "{out}"], "--start: expected an ISO 8601 time"),
        (["report", "--param", "snat_ports=-5", "--out", "{out}"], "'snat_ports' is out of range"),
        (["report", "--param", "snat_ports=abc", "--out", "{out}"], "'snat_ports': expected a whole number"),
        (["report", "--param", "units=0", "--out", "{out}"], "'units' is out of range"),
        (
            ["report", "--param", "requests_per_connection=0.5", "--out", "{out}"],
            "'requests_per_connection' is out of range",
        ),
        (["report", "--param", "colour=red", "--out", "{out}"], "unknown parameter 'colour'"),
        (["report", "--param", "units", "--out", "{out}"], "--param takes NAME=VALUE"),
        (["report", "--mode", "legacy", "--out", "{out}"], "invalid choice: 'legacy'"),
        (["report", "--param", "units.West Europe=0", "--out", "{out}"], "'units_by_region' is out of range"),
        (["report", "--param", "log_sampling_percent=0", "--out", "{out}"], "'log_sampling_percent' is out of range"),
        (["report", "--ip-map", "{columns}", "--out", "{out}"], "missing column ip"),
        (["report", "--ip-map", "{address}", "--out", "{out}"], "line 3: '20.1.1.999' is not an IP address"),
        (
            ["report", "--ip-map", "/nonexistent/map.csv", "--out", "{out}"],
            "--ip-map map.csv: no such file",
        ),
        (["report"], "the following arguments are required: --out"),
        (["explode"], "invalid choice: 'explode'"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(capsys, tmp_path, args, message):
    notes = tmp_path / "notes.parquet"
    notes.write_text("not parquet", encoding="utf-8")
    columns, address = tmp_path / "columns.csv", tmp_path / "address.csv"
    columns.write_text("host,address\norders.azurewebsites.net,20.1.1.1\n", encoding="utf-8")
    address.write_text("host,ip\norders.azurewebsites.net,20.1.1.1\nsearch.azurewebsites.net,20.1.1.999\n")
    args = [a.format(out=tmp_path / "out", notes=notes, columns=columns, address=address) for a in args]
    code, err = run_cli(capsys, *args)
    assert code == 2
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_installed_command_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("apim-snat")),
            "report",
            "--param",
            "units=0",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("'units' is out of range: 0 (at least 1)")
    assert "Traceback" not in result.stderr


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--source",
        "--start",
        "--end",
        "--mode",
        "--param",
        "--out",
        "--ip-map",
        "snat_ports",
        "units",
        "units.REGION",
        "requests_per_connection",
        "log_sampling_percent",
        "connect_timeout_s",
    ):
        assert option in out


def test_a_failed_run_leaves_the_earlier_report_untouched(capsys, tmp_path, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    out = tmp_path / "report"
    out.mkdir()
    (out / "findings.json").write_text('{"verdict": "earlier"}', encoding="utf-8")
    (out / "report.html").write_text("earlier", encoding="utf-8")
    outfolder.write_marker(out, outfolder.Kind.REPORT, ["findings.json", "report.html"])

    def failing(*args, **kwargs):
        Path(kwargs.get("output_path", args[1])).write_text("half", encoding="utf-8")
        raise PapermillExecutionError(
            2, 1, "report.run(...)", "KitError", "the window holds rows of another planet", []
        )

    monkeypatch.setattr("papermill.execute_notebook", failing)
    code, err = run_cli(capsys, "report", "--out", str(out))
    assert code == 2 and "another planet" in err
    assert (out / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'
    assert sorted(p.name for p in out.iterdir()) == [".apim-snat", "findings.json", "report.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging folder or lock left behind


def test_a_folder_of_other_files_is_not_replaced(capsys, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious", encoding="utf-8")
    code, err = run_cli(capsys, "report", "--out", str(tmp_path))
    assert code == 2 and "holds files the kit did not write there (thesis.tex)" in err
    assert (tmp_path / "thesis.tex").read_text(encoding="utf-8") == "precious"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["queries", "show", "nope"], "no packaged query named 'nope'"),
        (["queries", "show", "load_drivers", "--param", "destination"], "--param takes NAME=VALUE"),
        (["queries", "show", "load_drivers", "--param", "min_share=lots"], "'min_share' (real): expected a number"),
        (["queries", "show", "load_drivers", "--param", "colour=red"], "has no parameter 'colour'"),
        (["query", "--source", "sample", "--file", "/nonexistent/q.kql"], "cannot read /nonexistent/q.kql"),
        (["query", "--source", "sample", "--kql", "GatewayRequests | wherex"], "KQL syntax error"),
        (
            ["query", "--source", "sample", "--kql", "GatewayRequests | summarize percentiles(BackendTime, 50, 95)"],
            "write one percentile(x, N) per percentile",
        ),
    ],
)
def test_query_command_mistakes_are_one_line_and_exit_2(capsys, args, message):
    code, err = run_cli(capsys, *args)
    assert code == 2
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], err
    assert all(line.startswith("apim-snat: ") for line in err.splitlines()), err


def test_queries_list_names_each_query_with_its_description(capsys):
    assert main(["queries", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split("\t")[0] for line in lines]
    assert names == [
        "calls_by_key",
        "destination_health",
        "destination_inventory",
        "error_breakdown",
        "failure_fingerprint",
        "instances",
        "latency_distribution",
        "load_drivers",
        "logged_requests",
        "request_rows",
        "sampling",
    ]
    assert all(len(line.split("\t")[1]) > 20 for line in lines)


def test_queries_show_prints_pasteable_kql_with_typed_parameters(capsys):
    assert (
        main(
            [
                "queries",
                "show",
                "load_drivers",
                "--mode",
                "azurediagnostics",
                "--param",
                "start=2025-02-25T09:00Z",
                "--param",
                "end=2025-02-25T10:00Z",
                "--param",
                'destination=a"b:443',
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "let start = datetime(2025-02-25T09:00:00.000000Z);" in text
    assert 'let destination = "a\\"b:443";' in text
    assert "let min_share = real(0.01);" in text
    assert "AzureDiagnostics" in text and "declare query_parameters" not in text


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_runs_ad_hoc_kql_in_each_format(capsys, fmt):
    kql = "GatewayRequests | summarize requests = count() by Destination | order by requests desc"
    assert main(["query", "--source", "sample", "--format", fmt, "--kql", kql]) == 0
    out = capsys.readouterr().out
    assert "orders.contoso-backend.com:443" in out and "17671" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"apim-snat {__version__}"


def test_query_takes_the_same_default_source_as_report(capsys):
    assert main(["query", "--format", "csv", "--kql", "GatewayRequests | summarize n = count()"]) == 0
    rows = pq.read_metadata(SAMPLE_DIR / "gateway_logs.parquet").num_rows
    assert capsys.readouterr().out.split() == ["n", str(rows)]


@pytest.mark.parametrize("command", ["report", "query"])
def test_a_bare_path_gets_the_source_it_probably_meant(capsys, tmp_path, command):
    extra = ["--out", str(tmp_path / "out")] if command == "report" else ["--kql", "GatewayRequests | count"]
    code, err = run_cli(capsys, command, "--source", "exports/incident.parquet", *extra)
    assert code == 2
    assert err.splitlines() == [
        "apim-snat: error: --source 'exports/incident.parquet' is a path, not a source; "
        "did you mean 'file:exports/incident.parquet'?"
    ]


def test_quiet_and_verbose_exclude_each_other(capsys, tmp_path):
    code, err = run_cli(capsys, "report", "--quiet", "--verbose", "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.splitlines()) == 1 and "not allowed with argument" in err


def test_a_defect_is_one_line_unless_verbose(capsys, monkeypatch):
    def broken():
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("analysis.query.pack.packaged", broken)
    code, err = run_cli(capsys, "queries", "list")
    assert code == 1
    assert err.splitlines() == ["apim-snat: error: a defect in the kit: RuntimeError: boom (--verbose shows where)"]
    with pytest.raises(RuntimeError, match="boom"):
        main(["queries", "list", "--verbose"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["start=2025-02-25T09:00Z"], "give both start and end, or neither for the last 24 hours"),
        (["end=2025-02-25T09:00Z"], "give both start and end, or neither for the last 24 hours"),
        (["start=2025-02-25T10:00Z", "end=2025-02-25T09:00Z"], "start 2025-02-25T10:00:00 is not before end"),
    ],
)
def test_queries_show_checks_its_window_like_report(capsys, params, message):
    args = [arg for param in params for arg in ("--param", param)]
    code, err = run_cli(capsys, "queries", "show", "destination_health", *args)
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize("mode", ["resource", "azurediagnostics"])
def test_what_queries_show_prints_runs_with_query_file_as_it_is(capsys, tmp_path, mode):
    window = ["--param", "start=2025-02-25T09:20Z", "--param", "end=2025-02-25T09:30Z"]
    assert main(["queries", "show", "destination_inventory", "--mode", mode, *window]) == 0
    text = tmp_path / "inventory.kql"
    text.write_text(capsys.readouterr().out, encoding="utf-8")
    source = "sample" if mode == "resource" else f"file:{SAMPLE_DIR / 'azure_diagnostics.parquet'}"
    assert main(["query", "--source", source, "--format", "csv", "--file", str(text)]) == 0
    shown = capsys.readouterr().out
    expected = ["query", "--source", source, "--format", "csv", "--start", "2025-02-25T09:20Z"]
    body = pack.load("destination_inventory").body
    assert main([*expected, "--end", "2025-02-25T09:30Z", "--kql", body]) == 0
    assert shown == capsys.readouterr().out and "orders.contoso-backend.com" in shown
    code, err = run_cli(capsys, "query", "--file", str(text), "--param", "min_share=0.5")
    assert code == 2 and "sets its own parameters" in err


@pytest.mark.parametrize(
    ("kql", "message"),
    [
        ("GatewayRequests | where Foo == 1", "unknown column 'Foo'"),
        ("Nope | count", "unknown table 'Nope'"),
        ('GatewayRequests | where ResponseCode == "x" | count', "cannot convert 'x' to int"),
        ("GatewayRequests | where ApiId > 5 | count", "cannot compare a string with a long"),
        ("GatewayRequests | summarize avg(ApiId)", "avg() cannot take (string)"),
        (".show tables", "KQL syntax error: could not parse KQL at 1:0"),
        ("GatewayRequests\n| summarize x = count(\n", "could not parse KQL at 3:0: mismatched input '<EOF>'"),
        ("  ", "the KQL text is empty"),
    ],
)
def test_query_errors_are_in_kql_terms(capsys, kql, message):
    code, err = run_cli(capsys, "query", "--kql", kql)
    assert code == 2
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert message in line, line
    for engine_word in ("Binder Error", "Catalog Error", "Conversion Error", "VARCHAR", "BIGINT", "FROM clause"):
        assert engine_word not in line
    assert len(line) < 300
