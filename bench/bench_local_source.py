"""Throughput and memory of the local source on a day of gateway logs.

Tiles the two-hour sample incident into 24 hours (about 630,000 rows), writes it as Parquet
and times the destination health query over the whole day through duckdb-kql. The query
aggregates in the engine, so the Python process holds only the per-minute result; the peak
resident memory printed shows it.

    .venv/bin/python -m bench.bench_local_source [HOURS]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from analysis import queries
from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.sources.local import open_local
from analysis.synthetic.exports import write_parquet


def tiled(hours: int) -> pd.DataFrame:
    sample = pd.read_parquet(sample_dir() / SAMPLE_LOGS)
    copies = []
    for block in range(hours // 2):
        copy = sample.copy()
        copy["TimeGenerated"] = copy["TimeGenerated"] + pd.Timedelta(hours=2 * block)
        copies.append(copy)
    return pd.concat(copies, ignore_index=True)


def main(hours: int = 24) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "day.parquet"
        frame = tiled(hours)
        rows = len(frame)
        write_parquet(frame, path)
        del frame
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began = time.perf_counter()
        source = open_local(path)
        opened = time.perf_counter() - began
        first, last = source.time_range()
        window = {"start": first.floor("min"), "end": last.floor("min") + pd.Timedelta(minutes=1)}
        began = time.perf_counter()
        result = source.run(queries.load("destination_health").render(window, source.mode))
        elapsed = time.perf_counter() - began
        source.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {rows:,} over {hours} h; result: {len(result):,} rows (one per destination and minute)")
    print(f"open (schema checks):   {opened:6.2f} s")
    print(f"destination_health:     {elapsed:6.2f} s = {rows / elapsed:,.0f} rows/s")
    print(f"peak RSS: {peak:,.0f} MiB (after building the file: {before:,.0f} MiB)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
