"""What each of the local engine's faster renderings saves, on the generated day of ``bench_offline``.

The local engine changes duckdb-kql's SQL in three places: the rewrites of
``analysis/sources/rewrites.py`` (``merged_percentiles``, ``bucketed_bins``) and the window's
authority found by prefix tests (``destinations.known_authorities``). Each configuration below
turns some of them off in a fresh process and times the kit's queries and analysis over the
Parquet export (``open_source`` + ``investigate``, as ``bench_offline``'s (b)): the figure a change
upstream would save is the difference to the kit as it is. Rounds are interleaved and the medians
printed, with CPU time (steadier than wall time on a shared machine), the peak RSS and the time of
the health and inventory queries (the first of them also makes the window's destinations).

    .venv/bin/python -m bench.bench_rewrites [--rows 1e6] [--runs 3] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench.bench_offline import REPO, Figure, interleaved, load, work_kit

#: The local engine's renderings, each by the name of the function that makes it.
RENDERINGS = ("merged_percentiles", "bucketed_bins", "known_authorities")
#: Configuration -> the renderings turned off in it.
CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "the kit as it is": (),
    "without merged_percentiles": ("merged_percentiles",),
    "without bucketed_bins": ("bucketed_bins",),
    "without known_authorities": ("known_authorities",),
    "duckdb-kql's plain SQL": RENDERINGS,
}
#: The queries whose own time is printed: the two the renderings change most.
WHOLE_WINDOW = ("destination_health", "destination_inventory")


def work_without(path: str, off: str) -> dict[str, object]:
    """(b) with the renderings named in ``off`` (comma-separated) turned off."""
    from analysis.sources import destinations, rewrites

    names = {name for name in off.split(",") if name}
    unknown = names - set(RENDERINGS)
    if unknown:
        raise SystemExit(f"unknown rendering: {', '.join(sorted(unknown))}")
    rewrites.REWRITES = tuple(r for r in rewrites.REWRITES if r.__name__ not in names)
    if "known_authorities" in names:
        destinations.known_authorities = lambda sql, authorities: sql
    return work_kit(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_rewrites", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, default=1e6, help="rows of the generated day (default 1e6)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration (default 3)")
    parser.add_argument("--folder", type=Path, help="where the exports are (default bench/.exports/ROWS)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(work_without(*args.worker)))
        return 0

    from bench.exports import ensure

    rows = int(args.rows)
    path = str(ensure(rows, args.folder or REPO / "bench" / ".exports" / str(rows), ("parquet",))["parquet"])
    print(f"the Parquet export of about {rows:,} rows; {args.runs} runs each")
    print(f"before: {load()}", flush=True)
    command = [sys.executable, "-m", "bench.bench_rewrites", "--worker", path]
    plan = {label: (label, [*command, ",".join(off)]) for label, off in CONFIGURATIONS.items()}
    figures = interleaved(plan, args.runs)
    print(f"after:  {load()}")
    print()
    kit = figures["the kit as it is"]
    print("what each configuration costs more than the kit as it is (medians; peak: the largest run):")
    print(f"{'':<30} {'cpu':>10} {'wall':>11} {'peak':>11}   " + "   ".join(WHOLE_WINDOW))
    for label, figure in figures.items():
        queries = "   ".join(f"{_query(figure, name):>{len(name)}.2f}" for name in WHOLE_WINDOW)
        saved = f"{figure.cpu - kit.cpu:8.2f} s {figure.wall - kit.wall:9.2f} s {figure.peak - kit.peak:7.0f} MiB"
        print(f"{label:<30} {saved}   {queries}")
    return 0


def _query(figure: Figure, name: str) -> float:
    """The median time of one query over the figure's runs (seconds)."""
    times = []
    for run in figure.runs:
        queries = run.output.get("queries", {})
        assert isinstance(queries, dict)
        times.append(float(queries.get(name, 0.0)))
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())
