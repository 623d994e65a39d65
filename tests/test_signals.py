"""A report stopped by Ctrl-C or SIGTERM while its kernel runs: one line, 130 or 143, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.report.outfolder import Kind, write_marker

APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))


def kernel_running(folder: Path) -> Path | None:
    """The connection file of a report kernel started for ``folder``, once there is one."""
    found = sorted(folder.parent.glob(f".{folder.name}.new-*/.kernel/kernel.json"))
    return found[0] if found else None


def processes_mentioning(text: str) -> list[str]:
    listed = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listed.splitlines() if text in line]


@pytest.mark.parametrize(
    ("how", "code", "line"),
    [
        ("ctrl-c", 130, "apim-snat: interrupted (Ctrl-C); nothing half-written was left behind"),
        ("sigterm", 143, "apim-snat: terminated (SIGTERM); nothing half-written was left behind"),
    ],
)
def test_a_report_stopped_while_its_kernel_runs(tmp_path, how, code, line):
    out = tmp_path / "report"
    out.mkdir()
    (out / "findings.json").write_text("earlier", encoding="utf-8")
    write_marker(out, Kind.REPORT, ["findings.json"])
    # Its own session, as a shell runs a command: Ctrl-C reaches the whole group, SIGTERM the process only.
    run = subprocess.Popen(
        [APIM_SNAT, "report", "--quiet", "--out", str(out)], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while (connection := kernel_running(out)) is None:
        assert run.poll() is None and time.monotonic() < deadline, "the report kernel never started"
        time.sleep(0.1)
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)
    else:
        run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == code
    assert stderr.splitlines() == [line], stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder, no lock
    assert (out / "findings.json").read_text(encoding="utf-8") == "earlier"
    deadline = time.monotonic() + 10  # the kernel notices its parent is gone within a second or two
    while processes_mentioning(str(connection)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(str(connection))
