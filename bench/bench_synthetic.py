"""Wall time of generating the sample incident (what `make sample` and many tests pay).

Prints the median of a few runs of the generator on the sample scenario, and its row count.

    .venv/bin/python -m bench.bench_synthetic [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time

from analysis.synthetic import generate
from analysis.synthetic.library import scenario


def main(runs: int = 3) -> None:
    seconds, rows = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        rows = len(generate(scenario("sample")).logs)
        seconds.append(time.perf_counter() - began)
    print(f"sample incident: {rows:,} rows")
    print(
        f"generate:        {statistics.median(seconds):6.2f} s (median of {runs}; runs: "
        f"{', '.join(f'{s:.2f}' for s in seconds)})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
