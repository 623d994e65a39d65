"""The bad-input matrix of the issue "Safe to share, safe to run": each row, probed as a careless user or an
attacker would, ends as it must: the exit code, one line on stderr, no traceback, and an earlier report untouched.

Rows whose probe renders a whole report (markup in the logs), needs a real kernel (signals), a crafted
export or a machine without a network live in their own test files, named in ``COVERED_ELSEWHERE``; a test
below checks those tests exist, and another that every row of the issue has its place.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.report.outfolder import Kind, claim, write_marker
from tests.paths import REPO, SAMPLE_DIR

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))
ISSUE_ROWS = set(range(1, 13))

COVERED_ELSEWHERE = {
    1: [
        "tests.behaviour.test_hostile_input::"
        "test_markup_from_the_logs_neither_runs_nor_loads_and_every_section_is_there",
    ],
    2: [
        "tests.behaviour.test_hostile_input::"
        "test_the_page_forbids_scripts_and_remote_loads_and_links_only_within_itself",
        "tests.postmortem.test_body::test_strings_from_the_findings_never_become_markup",
    ],
    3: [
        "tests.behaviour.test_hostile_input::"
        "test_markup_from_the_logs_neither_runs_nor_loads_and_every_section_is_there",
    ],
    9: [
        "tests.report.test_outfolder::test_a_second_run_into_the_same_folder_refuses_while_the_first_writes",
        "tests.report.test_outfolder::test_leftovers_of_a_killed_run_are_cleaned_by_the_next",
        "tests.test_signals::test_a_report_stopped_while_its_kernel_runs",
    ],
    10: ["tests.test_signals::test_a_report_stopped_while_its_kernel_runs"],
    5: [
        "tests.sources.test_local_safety::test_every_query_the_engine_refuses_is_one_line",
        "tests.sources.test_local_safety::test_the_cli_says_each_refusal_in_one_line",
    ],
    6: [
        "tests.sources.test_local_safety::test_one_row_dated_2225_does_not_make_a_200_year_window",
        "tests.sources.test_local_safety::test_a_window_over_the_limit_is_refused_before_any_query",
    ],
    # The time it takes is bench/bench_bounds.py's figure; what the report shows of them is a behaviour.
    7: ["tests.postmortem.test_body::test_at_most_the_first_destinations_are_shown_in_full_and_the_rest_named"],
    8: [
        "tests.sources.test_local_safety::test_bad_values_are_counted_per_column",
        "tests.sources.test_local_safety::test_a_negative_backend_time_cannot_lower_the_p95",
        "tests.sources.test_local_formats::test_a_column_named_twice_is_an_error_naming_it",
    ],
    11: [
        "tests.sources.test_azure_sources::"
        "test_without_name_resolution_the_query_line_names_the_endpoint_and_the_cause",
        "tests.sources.test_azure_sources::test_without_name_resolution_sign_in_blames_the_network_not_the_credential",
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


# --- The matrix of the issue "Safe to share, part 2": every folder or file handed to the kit is untrusted ----------
# Each case plants one hostile thing in a copy of a report folder (the replay), a fleet file, a marker or a map, and
# the run must end in one line and exit 2, delete nothing, block on nothing and read nothing past its bound.

SHARE_ROWS = set(range(1, 11))
SHARE_COVERED_ELSEWHERE = {
    2: [
        "tests.behaviour.test_hostile_input::test_user_information_is_no_part_of_a_destination",
        "tests.query.test_kql_pack::test_user_information_never_becomes_part_of_a_destination",
        "tests.safety.test_credentials::test_user_information_goes_from_every_url",
    ],
    3: [
        "tests.behaviour.test_hostile_input::test_no_credential_the_logs_quote_reaches_any_output",
        "tests.safety.test_credentials::test_each_kind_of_credential_is_masked_and_its_name_kept",
        "tests.safety.test_credentials::test_results_are_masked_where_they_come_back_from_a_source_or_a_cache",
    ],
    4: [
        "tests.behaviour.test_hostile_input::test_redact_replaces_emails_and_every_ip_in_every_output",
        "tests.sources.test_sharing::test_redact_replaces_every_spelling_of_an_address_and_emails_in_every_text_column",
    ],
    5: [
        "tests.sources.test_sharing::test_a_kept_ip_map_holds_host_and_ip_only_as_the_report_names_them_and_is_private",
    ],
    9: ["tests.fleet.test_batch::test_a_failed_entry_is_listed_by_its_file_name_never_its_local_path"],
}
GIB = 1 << 30
LAUGHS = "".join(
    [
        "a0: &a0 ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']\n",
        *(
            f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]\n"
            for n in range(1, 7)
        ),
        "reports: [{name: x, source: *a6}]\n",
    ]
)


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> Path:
    """A report folder of the sample (results, parameters, marker), made without rendering."""
    from analysis.diagnosis.assumptions import Assumptions
    from analysis.investigation.run import investigate
    from analysis.report.from_folder import keep_parameters
    from analysis.report.kernel import save
    from analysis.sources import open_source
    from analysis.sources.sharing import shared

    folder = tmp_path_factory.mktemp("replay") / "earlier-report"
    source = shared("sample", open_source("sample"))
    try:
        found = investigate(source)
    finally:
        source.close()
    save(found, folder)
    start, end = (t.isoformat() for t in found.window)
    given = {"source": "sample", "start": start, "end": end, "mode": str(found.mode), "redact": False}
    keep_parameters(folder, {**given, "annotations": "", "ip_map": "", **Assumptions().as_dict()})
    write_marker(folder, Kind.REPORT, ["findings.json", "parameters.json", "results"])
    return folder


def sparse(path: Path, size: int = 2 * GIB) -> None:
    path.unlink(missing_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)


def fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def record(folder: Path, query: str = "destination_health") -> Path:
    return next((folder / "results").glob(f"{query}-*.json"))


def edit_parameters(folder: Path, **changes: object) -> None:
    path = folder / "parameters.json"
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **changes}), encoding="utf-8")


def edit_record(folder: Path, **changes: object) -> None:
    path = record(folder)
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **changes}), encoding="utf-8")


def mark_batch(folder: Path, *names: str) -> None:
    folder.mkdir()
    (folder / "index.html").write_text("<p>an earlier batch</p>", encoding="utf-8")
    write_marker(folder, Kind.BATCH, ["index.html", *names])


def link_ip_map_out(folder: Path) -> None:
    edit_parameters(folder, ip_map="ip-map.csv")
    (folder / "ip-map.csv").symlink_to(folder.parent / "private-hosts.csv")


PLANTS = {
    "marker lists an absolute path": lambda tmp, replay: mark_batch(tmp / "batch", str(tmp / "other-report")),
    "marker lists a parent": lambda tmp, replay: mark_batch(tmp / "batch", "../other-report"),
    "report marker lists a parent": lambda tmp, replay: write_marker(replay, Kind.REPORT, ["../other-report"]),
    "fifo cache.json": lambda tmp, replay: fifo(replay / "results" / "cache.json"),
    "fifo record": lambda tmp, replay: fifo(record(replay)),
    "fifo parquet": lambda tmp, replay: fifo(record(replay).with_suffix(".parquet")),
    "fifo parameters.json": lambda tmp, replay: fifo(replay / "parameters.json"),
    "fifo kept ip-map.csv": lambda tmp, replay: (edit_parameters(replay, ip_map="x"), fifo(replay / "ip-map.csv")),
    "fifo --ip-map": lambda tmp, replay: fifo(tmp / "hosts.csv"),
    "kept ip-map.csv links out": lambda tmp, replay: link_ip_map_out(replay),
    "sparse --ip-map": lambda tmp, replay: sparse(tmp / "hosts.csv"),
    "sparse kept ip-map.csv": lambda tmp, replay: (edit_parameters(replay, ip_map="x"), sparse(replay / "ip-map.csv")),
    "parquet links to /dev/zero": lambda tmp, replay: (
        record(replay).with_suffix(".parquet").unlink(),
        record(replay).with_suffix(".parquet").symlink_to("/dev/zero"),
    ),
    "sparse parquet": lambda tmp, replay: sparse(record(replay).with_suffix(".parquet")),
    "sparse parameters.json": lambda tmp, replay: sparse(replay / "parameters.json"),
    "sparse cache.json": lambda tmp, replay: sparse(replay / "results" / "cache.json"),
    "sparse record": lambda tmp, replay: sparse(record(replay)),
    "billion laughs": lambda tmp, replay: (tmp / "fleet.yaml").write_text(LAUGHS, encoding="utf-8"),
    "deep fleet": lambda tmp, replay: (tmp / "fleet.yaml").write_text("reports: " + "[" * 5000, encoding="utf-8"),
    "nested record": lambda tmp, replay: record(replay).write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8"),
    "string duration": lambda tmp, replay: edit_record(replay, duration_s="a minute"),
    "nested parameters": lambda tmp, replay: edit_parameters(replay, units_by_region=json.loads("[" * 50 + "]" * 50)),
    "list as a start": lambda tmp, replay: edit_parameters(replay, start=[2025, 2, 25]),
    "notes nested deep": lambda tmp, replay: edit_parameters(replay, annotations="[" * 100_000),
    "rows not the record's": lambda tmp, replay: edit_record(replay, rows=10**9),
    "a long bad value": lambda tmp, replay: (tmp / "long.csv").write_text(
        "TimeGenerated,BackendUrl,ResponseCode\n2025-02-25T09:00Z,https://a/," + "9x" * 500_000 + "\n", "utf-8"
    ),
}
REPLAY = ["report", "--source", "cache:{replay}/results", "--out", "{earlier}"]
# Progress of a replay besides PROGRESS.
REPLAYING = ("apim-snat: rendering again with the parameters of the report in ", "apim-snat: querying ")
FLEET = ["batch", "{tmp}/fleet.yaml", "--out", "{tmp}/batch"]
# Each case: issue row, what is planted, arguments ({tmp}, {replay}, {earlier}, {example}), the words the line holds.
SHARE_CASES = [
    (1, "marker lists an absolute path", ["batch", "{example}", "--out", "{tmp}/batch"], "not a name directly inside"),
    (1, "marker lists a parent", ["batch", "{example}", "--out", "{tmp}/batch"], "lists '../other-report', not a name"),
    (1, "report marker lists a parent", ["report", "--out", "{replay}"], "lists '../other-report', not a name"),
    (5, "kept ip-map.csv links out", REPLAY, "--ip-map ip-map.csv is a symbolic link"),
    (6, "fifo cache.json", REPLAY, "cache folder results: cache.json is a FIFO, not a regular file"),
    (6, "fifo record", REPLAY, ".json is a FIFO, not a regular file"),
    (6, "fifo parquet", REPLAY, ".parquet is a FIFO, not a regular file"),
    (6, "fifo parameters.json", REPLAY, "earlier-report/parameters.json is a FIFO, not a regular file"),
    (6, "fifo kept ip-map.csv", REPLAY, "--ip-map ip-map.csv is a FIFO, not a regular file"),
    (6, "fifo --ip-map", ["report", "--ip-map", "{tmp}/hosts.csv", "--out", "{earlier}"], "hosts.csv is a FIFO"),
    (7, "sparse --ip-map", ["report", "--ip-map", "{tmp}/hosts.csv", "--out", "{earlier}"], "is 2.0 GiB, more than"),
    (7, "sparse kept ip-map.csv", REPLAY, "--ip-map ip-map.csv is 2.0 GiB, more than such a file can be (16.0 MiB)"),
    (7, "parquet links to /dev/zero", REPLAY, ".parquet is a symbolic link; the kit reads only the file itself"),
    (7, "sparse parquet", REPLAY, ".parquet is 2.0 GiB, more than such a file can be (1.0 GiB)"),
    (7, "sparse parameters.json", REPLAY, "parameters.json is 2.0 GiB, more than such a file can be (1.0 MiB)"),
    (7, "sparse cache.json", REPLAY, "cache.json is 2.0 GiB, more than such a file can be (1.0 MiB)"),
    (7, "sparse record", REPLAY, ".json is 2.0 GiB, more than such a file can be (4.0 MiB)"),
    (8, "billion laughs", FLEET, "fleet.yaml: larger than 1 MiB once its aliases are expanded"),
    (8, "deep fleet", FLEET, "fleet.yaml: nested deeper than"),
    (8, "a long bad value", ["report", "--source", "file:{tmp}/long.csv", "--out", "{earlier}"], "read '9x9x9x"),
    (10, "nested record", REPLAY, "nested deeper than 16 levels"),
    (10, "string duration", REPLAY, "the record's duration_s is 'a minute'"),
    (10, "nested parameters", REPLAY, "parameters.json: nested deeper than 16 levels"),
    (10, "list as a start", REPLAY, "not the parameters of a report ('start' is a list)"),
    (10, "notes nested deep", REPLAY, "annotations: not JSON text"),
    (10, "rows not the record's", REPLAY, "rows, the record says 1000000000"),
]


@pytest.mark.parametrize(
    ("row", "plant", "args", "words"), SHARE_CASES, ids=[f"row{c[0]}-{c[1].replace(' ', '-')}" for c in SHARE_CASES]
)
def test_an_untrusted_folder_or_file_is_one_line_exit_2_and_nothing_is_deleted(
    capsys, tmp_path, earlier, replay, row, plant, args, words
):
    mine = shutil.copytree(replay, tmp_path / "earlier-report", symlinks=True)
    other = tmp_path / "other-report"
    other.mkdir()
    (other / "findings.json").write_text("{}", encoding="utf-8")
    write_marker(other, Kind.REPORT, ["findings.json"])
    (tmp_path / "private-hosts.csv").write_text("host,ip,owner\nsecret.contoso.com,10.0.0.1,alice\n", "utf-8")
    PLANTS[plant](tmp_path, mine)
    before = {folder: fingerprint(folder) for folder in (earlier, other)}
    given = {"tmp": tmp_path, "replay": mine, "earlier": earlier, "example": REPO / "data" / "fleet.example.yaml"}
    code, lines = probe(capsys, [a.format(**given) for a in args])
    lines = [line for line in lines if not line.startswith(REPLAYING)]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("apim-snat: error: ") and words in lines[0], lines
    assert len(lines[0]) < 400 and str(tmp_path / "private-hosts.csv") not in lines[0]
    assert {folder: fingerprint(folder) for folder in (earlier, other)} == before
    assert (tmp_path / "batch" / "index.html").exists() or not plant.startswith("marker")


# The probes that would read gigabytes or expand an alias bomb, run as the installed command in a process of their
# own: the one line comes, and the process never grows past what the kit needs to start (a few hundred MB). The
# peak is the process's own memory's (VmHWM): ru_maxrss keeps the high-water mark of the test process it was
# started from, across the exec.
PEAK = "import re, sys; from analysis.cli import main; code = main(sys.argv[1:]); " + (
    "status = open('/proc/self/status').read(); "
    "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr); sys.exit(code)"
)


@pytest.mark.parametrize(
    "plant",
    ["sparse --ip-map", "sparse parquet", "sparse parameters.json", "billion laughs", "parquet links to /dev/zero"],
)
def test_the_largest_probes_end_in_one_line_in_bounded_memory(tmp_path, replay, plant):
    mine = shutil.copytree(replay, tmp_path / "earlier-report", symlinks=True)
    PLANTS[plant](tmp_path, mine)
    args = {
        "sparse --ip-map": ["report", "--ip-map", str(tmp_path / "hosts.csv")],
        "billion laughs": ["batch", str(tmp_path / "fleet.yaml")],
    }
    command = args.get(plant, ["report", "--source", f"cache:{mine}/results"])
    result = subprocess.run(
        [sys.executable, "-c", PEAK, *command, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *lines, peak_kib = result.stderr.splitlines()
    lines = [line for line in lines if not line.startswith((*PROGRESS, *REPLAYING))]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("apim-snat: error: "), result.stderr
    assert int(peak_kib) < 600 * 1024, f"{int(peak_kib) // 1024} MB"


def test_every_row_of_the_second_issue_has_its_place():
    assert {row for row, *_ in SHARE_CASES} | set(SHARE_COVERED_ELSEWHERE) >= SHARE_ROWS
    assert set(PLANTS) == {plant for _, plant, *_ in SHARE_CASES}


def test_the_tests_named_for_other_rows_of_the_second_issue_exist():
    for names in SHARE_COVERED_ELSEWHERE.values():
        for name in names:
            module, _, function = name.partition("::")
            assert callable(getattr(importlib.import_module(module), function)), name
