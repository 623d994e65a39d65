"""The sample incident read from its gateway logs and from Application Insights (100 % and 25 %): time to
open the export and to run every query and the analysis, and what weighting by ItemCount costs.

.venv/bin/python -m bench.bench_app_insights [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from analysis.investigation.run import investigate
from analysis.sources.local import open_local
from analysis.synthetic import generate
from analysis.synthetic.exports import to_app_insights, write_app_insights, write_parquet
from analysis.synthetic.library import scenario


def timed(path: Path) -> tuple[float, float, int]:
    """Seconds to open, seconds to investigate, and the rows of requests read."""
    began = time.perf_counter()
    source = open_local(path)
    opened = time.perf_counter()
    investigate(source)
    done = time.perf_counter()
    rows = source.data_quality.rows if source.data_quality else 0
    source.close()
    return opened - began, done - opened, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    incident = generate(scenario("sample"))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        exports = {"gateway logs (Parquet)": root / "gateway.parquet"}
        write_parquet(incident.logs, exports["gateway logs (Parquet)"])
        for percent in (100.0, 25.0):
            tables = to_app_insights(incident.all_requests, incident.scenario.service, percent, seed=1)
            for kind in ("parquet", "csv"):
                path = root / f"app-insights-{percent:g}-{kind}"
                write_app_insights(tables, path, kind)
                exports[f"Application Insights {percent:g} % ({kind})"] = path
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in exports}
        for _ in range(args.runs):
            for name, path in exports.items():  # interleaved, so a busy spell slows them alike
                results[name].append(timed(path))
    base = statistics.median(run[1] for run in results["gateway logs (Parquet)"])
    print(f"sample incident: {len(incident.all_requests):,} requests, median of {args.runs} runs")
    for name, runs in results.items():
        opened = statistics.median(run[0] for run in runs)
        queried = statistics.median(run[1] for run in runs)
        print(
            f"{name:38} {runs[0][2]:>9,} rows  open {opened:5.2f} s  queries + analysis {queried:5.2f} s "
            f"({queried / base:4.2f} x gateway logs)"
        )


if __name__ == "__main__":
    main()
