"""The bad-input matrix of the issue "Safe to share, safe to run": each row, probed as a careless user or an
attacker would, ends as it must: the exit code, one line on stderr, no traceback, and an earlier report untouched.

Rows whose probe renders a whole report (markup in the logs), needs a real kernel (signals), a crafted
export or a machine without a network live in their own test files, named in ``COVERED_ELSEWHERE``; a test
below checks those tests exist, and another that every row of the issue has its place.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.outfolder import Kind, claim, write_marker
from tests.paths import SAMPLE_DIR

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))
ISSUE_ROWS = set(range(1, 13))

COVERED_ELSEWHERE = {
    1: ["tests.test_hostile_input::test_markup_from_the_logs_neither_runs_nor_loads_and_every_section_is_there"],
    2: [
        "tests.test_hostile_input::test_the_page_forbids_scripts_and_remote_loads_and_links_only_within_itself",
        "tests.test_narrative::test_strings_from_the_findings_never_become_markup",
    ],
    3: ["tests.test_hostile_input::test_markup_from_the_logs_neither_runs_nor_loads_and_every_section_is_there"],
    9: [
        "tests.test_outfolder::test_a_second_run_into_the_same_folder_refuses_while_the_first_writes",
        "tests.test_outfolder::test_leftovers_of_a_killed_run_are_cleaned_by_the_next",
        "tests.test_signals::test_a_report_stopped_while_its_kernel_runs",
    ],
    10: ["tests.test_signals::test_a_report_stopped_while_its_kernel_runs"],
    5: [
        "tests.test_local_safety::test_every_query_the_engine_refuses_is_one_line",
        "tests.test_local_safety::test_the_cli_says_each_refusal_in_one_line",
    ],
    6: [
        "tests.test_local_safety::test_one_row_dated_2225_does_not_make_a_200_year_window",
        "tests.test_local_safety::test_a_window_over_the_limit_is_refused_before_any_query",
    ],
    # The time it takes is bench/bench_bounds.py's figure; what the report shows of them is a behaviour.
    7: ["tests.test_narrative::test_at_most_the_first_destinations_are_shown_in_full_and_the_rest_named"],
    8: [
        "tests.test_local_safety::test_bad_values_are_counted_per_column",
        "tests.test_local_safety::test_a_negative_backend_time_cannot_lower_the_p95",
        "tests.test_local_formats::test_a_column_named_twice_is_an_error_naming_it",
    ],
    11: [
        "tests.test_azure_sources::test_without_name_resolution_the_query_line_names_the_endpoint_and_the_cause",
        "tests.test_azure_sources::test_without_name_resolution_sign_in_blames_the_network_not_the_credential",
    ],
}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def earlier(tmp_path) -> Path:
    """An earlier report of the kit, which no bad run may change."""
    folder = tmp_path / "earlier"
    folder.mkdir()
    (folder / "findings.json").write_text('{"verdict": "snat_exhaustion"}', encoding="utf-8")
    (folder / "report.html").write_text("<p>the earlier report</p>", encoding="utf-8")
    write_marker(folder, Kind.REPORT, ["findings.json", "report.html"])
    return folder


# What the report command says while it works; everything else on stderr is the failure.
PROGRESS = ("apim-snat: checking source ", "apim-snat: window ", "apim-snat: executing ", "apim-snat: writing ")


def probe(capsys, args: list[str]) -> tuple[int, list[str]]:
    """Exit code and the lines of stderr that are not progress."""
    code = main(args)
    return code, [line for line in capsys.readouterr().err.splitlines() if not line.startswith(PROGRESS)]


def truncated_export(tmp_path: Path) -> Path:
    whole = (SAMPLE_DIR / "gateway_logs.parquet").read_bytes()
    path = tmp_path / "truncated.parquet"
    path.write_bytes(whole[: len(whole) // 2])
    return path


# Each case: issue row, arguments ({earlier}, {tmp} filled in), the words the one line must hold.
CASES = [
    (4, ["report", "--out", "{tmp}/mine"], "holds files the kit did not write there (findings.json, notes.txt)"),
    (4, ["report", "--out", "{tmp}/link-to-earlier"], "is a symbolic link"),
    (4, ["report", "--out", "{tmp}/link-to-mine"], "is a symbolic link"),
    (10, ["report", "--out", "{tmp}/afile"], "exists and is not a folder"),
    (10, ["report", "--out", "{tmp}/afile/sub"], "afile is not a folder"),
    (10, ["report", "--out", "{tmp}/loop"], "is a symbolic link"),
    (10, ["report", "--out", "{tmp}/loop/sub"], "is a symbolic link to nowhere (broken, or a loop)"),
    (10, ["report", "--out", "/proc/apim-snat/report"], "--out /proc/apim-snat/report: cannot write in"),
    (10, ["report", "--out", "/sys/kernel/apim-snat"], "cannot write in /sys/kernel"),
    (12, ["query", "--kql", ".show tables"], "KQL syntax error: could not parse KQL at 1:0"),
    (12, ["query", "--kql", "GatewayRequests | project column_ifexists("], "KQL syntax error"),
    (12, ["query", "--kql", 'print column_ifexists("x", 1'], "KQL syntax error"),
    (5, ["query", "--kql", "['/etc/hostname']"], "reads only the export's table"),
    (5, ["query", "--kql", "['http://127.0.0.1:9/x.csv']"], "reads only the export's table"),
    (6, ["report", "--start", "2024-01-01", "--end", "2026-01-01", "--out", "{earlier}"], "over the limit of 31 days"),
    (8, ["report", "--source", "file:{tmp}/twice.csv", "--out", "{earlier}"], "column 'BackendUrl' appears twice"),
    (0, ["report", "--source", "file:{tmp}", "--out", "{earlier}"], "holds files of several formats"),
    (0, ["report", "--source", "file:{tmp}/fifo.csv", "--out", "{earlier}"], "fifo.csv"),
    (0, ["report", "--source", "file:/dev/zero", "--out", "{earlier}"], "/dev/zero"),
    (0, ["report", "--source", "file:{tmp}/truncated.parquet", "--out", "{earlier}"], "not a readable Parquet file"),
]


@pytest.mark.parametrize(("row", "args", "words"), CASES, ids=[f"row{c[0]}-{' '.join(c[1])[:40]}" for c in CASES])
def test_bad_input_is_one_line_exit_2_and_the_earlier_report_untouched(capsys, tmp_path, earlier, row, args, words):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "findings.json").write_text("{}", encoding="utf-8")
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "link-to-earlier").symlink_to(earlier)
    (tmp_path / "link-to-mine").symlink_to(mine)
    (tmp_path / "afile").write_text("", encoding="utf-8")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    os.mkfifo(tmp_path / "fifo.csv")
    truncated_export(tmp_path)
    (tmp_path / "twice.csv").write_text("TimeGenerated,BackendUrl,ResponseCode,BackendUrl\n", encoding="utf-8")
    before, mine_before = fingerprint(earlier), fingerprint(mine)
    code, lines = probe(capsys, [a.format(tmp=tmp_path, earlier=earlier) for a in args])
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("apim-snat: error: ") and words in lines[0], lines
    assert fingerprint(earlier) == before and fingerprint(mine) == mine_before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".earlier.lock"]
    assert leftovers == []


def test_a_second_run_into_a_folder_being_written_refuses_in_one_line(capsys, earlier):
    before = fingerprint(earlier)
    with claim(earlier, Kind.REPORT):  # a first run holds the folder
        code, lines = probe(capsys, ["report", "--out", str(earlier)])
    assert code == 2
    assert lines == [f"apim-snat: error: --out {earlier}: another apim-snat run is writing this folder; "
                     "wait for it or choose another"]  # fmt: skip
    assert fingerprint(earlier) == before


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--out", "{tmp}/afile/sub"],
        ["query", "--kql", ".show tables"],
        ["report", "--source", "file:/dev/zero", "--out", "{tmp}/out"],
    ],
)
def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path, args):
    (tmp_path / "afile").write_text("", encoding="utf-8")
    result = subprocess.run(
        [APIM_SNAT, *(a.format(tmp=tmp_path) for a in args)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith(PROGRESS)]
    assert len(lines) == 1 and lines[0].startswith("apim-snat: error: "), result.stderr


def test_every_row_of_the_issue_has_its_place():
    assert {row for row, _, _ in CASES} | set(COVERED_ELSEWHERE) >= ISSUE_ROWS


def test_the_tests_named_for_other_rows_exist():
    for names in COVERED_ELSEWHERE.values():
        for name in names:
            module, _, function = name.partition("::")
            assert callable(getattr(importlib.import_module(module), function)), name
