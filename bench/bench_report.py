"""Wall time of `apim-snat report` on the sample, against the fixed cost of papermill itself.

Prints the median of a few runs of: the whole command on the sample; papermill executing an
empty notebook under the same kernel (what any report pays before doing work); and the
investigation alone, in-process, without a kernel.

    .venv/bin/python -m bench.bench_report [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

from analysis.investigation import investigate
from analysis.render import KERNEL_NAME, ensure_kernel
from analysis.sources import open_source

REPO = Path(__file__).resolve().parents[1]


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def _investigate_sample() -> None:
    source = open_source("sample")
    try:
        investigate(source)
    finally:
        source.close()


def main(runs: int = 3) -> None:
    ensure_kernel()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        empty = folder / "empty.ipynb"
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
        notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
        nbformat.write(notebook, empty)
        command = [
            str(Path(sys.executable).with_name("apim-snat")),
            "report",
            "--source",
            "sample",
            "--out",
            str(folder / "r"),
        ]
        report = [
            timed(lambda: subprocess.run(command, check=True, capture_output=True, cwd=REPO)) for _ in range(runs)
        ]
        fixed = [
            timed(
                lambda: papermill.execute_notebook(
                    str(empty),
                    str(folder / "out.ipynb"),
                    kernel_name=KERNEL_NAME,
                    progress_bar=False,
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                )
            )
            for _ in range(runs)
        ]
        analysis = [timed(lambda: _investigate_sample()) for _ in range(runs)]
    print(f"apim-snat report on the sample:       {statistics.median(report):6.2f} s (median of {runs})")
    print(f"papermill, empty notebook, same kernel: {statistics.median(fixed):6.2f} s (the fixed cost)")
    print(f"investigation alone, in-process:       {statistics.median(analysis):6.2f} s (queries + analysis)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
