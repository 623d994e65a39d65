"""Wall time of `apim-snat batch` over the example fleet: one report at a time against as many as there are cores.

Prints, for --jobs 1 and for the default (the machine's cores), the wall time of the whole batch
and the time per report, so the gain from rendering several at once shows on this machine.

    .venv/bin/python -m bench.bench_batch
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analysis.fleet.file import load

REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "data" / "fleet.example.yaml"
APIM_SNAT = str(Path(sys.executable).with_name("apim-snat"))


def batch_seconds(jobs: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        subprocess.run(
            [APIM_SNAT, "batch", "--quiet", str(FLEET), "--out", str(Path(folder) / "fleet"), *jobs], check=True
        )
        return time.perf_counter() - began


def main() -> None:
    reports = len(load(str(FLEET)))
    cores = len(os.sched_getaffinity(0))
    for label, jobs in (("--jobs 1", ["--jobs", "1"]), (f"default ({cores} cores)", [])):
        seconds = batch_seconds(jobs)
        print(f"{label:>20}: {reports} reports in {seconds:6.1f} s ({seconds / reports:5.1f} s per report)")


if __name__ == "__main__":
    main()
