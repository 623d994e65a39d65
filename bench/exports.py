"""Day-sized gateway log exports for the offline benchmark: Parquet, the portal's CSV, the storage archive.

A day (24 h) of a dozen backend destinations with one SNAT incident: the sample incident's two
hours (SNAT exhaustion on the orders backend beside a slow, a failing and an unreachable one) set
into an otherwise healthy day, six more healthy destinations beside them. Request rates scale to
the asked row count; connection reuse scales with them, so every destination needs the same SNAT
ports at any size and the incident stays the same incident.

The day is drawn one destination and two hours at a time with the sample generator
(``analysis.synthetic.generate``) and appended to the Parquet file as it goes, so ten million rows
never sit in memory at once. The CSV and the archive are written from that Parquet file.

    .venv/bin/python -m bench.exports ROWS FOLDER [parquet,csv,archive]
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from analysis.synthetic import Behaviour, Destination, Scenario, generate
from analysis.synthetic.archive import write_archive
from analysis.synthetic.exports import PORTAL_COLUMNS, portal_frame
from analysis.synthetic.library import scenario

DAY_START = datetime(2025, 2, 25)
SLICE_MINUTES = 120
SLICES = 12
#: The two hours of the sample incident: 08:00 to 10:00 UTC.
INCIDENT_SLICE = 4
#: Six more backends of the same instance, healthy all day: (base URL, like which sample backend).
EXTRA_BACKENDS = (
    ("https://catalog.contoso.com", 0),
    ("https://accounts.contoso-backend.com", 4),
    ("https://notifications.fabrikam.net", 5),
    ("https://reports.contoso.com:8443", 2),
    ("https://pricing.azurewebsites.net", 4),
    ("http://fax-gateway.fabrikam.net", 5),
)
FORMATS = ("parquet", "csv", "archive")
ROW_GROUP = 122_880


def _healthy(destination: Destination) -> Destination:
    return replace(destination, behaviour=Behaviour.HEALTHY, window=None, bursts=())


def destinations() -> tuple[tuple[Destination, ...], tuple[Destination, ...]]:
    """The day's backends: as they behave during the incident, and as they behave the rest of the day."""
    sample = scenario("sample").destinations
    extra = tuple(replace(_healthy(sample[like]), base_url=url) for url, like in EXTRA_BACKENDS)
    return sample + extra, tuple(_healthy(d) for d in sample) + extra


def _scaled(destination: Destination, factor: float) -> Destination:
    """``factor`` times the requests, the same SNAT ports: reuse grows with the rate."""
    return replace(
        destination,
        baseline_rpm=destination.baseline_rpm * factor,
        requests_per_connection=max(1.0, destination.requests_per_connection * factor),
    )


def day_slices(rows: int) -> list[Scenario]:
    """One single-destination scenario per destination and two hours, in time order."""
    incident, normal = destinations()
    per_day = sum(d.baseline_rpm for d in normal) * SLICE_MINUTES * SLICES
    factor = rows / per_day
    template = scenario("sample")
    slices = []
    for index in range(SLICES):
        start = DAY_START + timedelta(minutes=SLICE_MINUTES * index)
        for number, destination in enumerate(incident if index == INCIDENT_SLICE else normal):
            slices.append(
                replace(
                    template,
                    name=f"day-{index:02d}-{number:02d}",
                    start=start,
                    duration_minutes=SLICE_MINUTES,
                    destinations=(_scaled(destination, factor),),
                    seed=template.seed + 100 * index + number,
                )
            )
    return slices


def write_parquet_day(rows: int, path: Path) -> int:
    """Write about ``rows`` requests of the day to ``path``, two hours at a time; returns the row count."""
    writer = None
    written = 0
    by_slice: dict[datetime, list[pa.Table]] = {}
    try:
        for part in day_slices(rows):
            table = pa.Table.from_pandas(generate(part).logs, preserve_index=False)
            by_slice.setdefault(part.start, []).append(table)
            if len(by_slice[part.start]) < len(destinations()[0]):
                continue
            two_hours = pa.concat_tables(by_slice.pop(part.start))
            order = pc.sort_indices(two_hours, [("TimeGenerated", "ascending")])
            if writer is None:
                writer = pq.ParquetWriter(path, two_hours.schema, compression="zstd")
            # Sorted one row group at a time: a sorted copy of two hours would double the memory.
            for first in range(0, len(order), ROW_GROUP):
                writer.write_table(two_hours.take(order[first : first + ROW_GROUP]), row_group_size=ROW_GROUP)
            written += two_hours.num_rows
    finally:
        if writer is not None:
            writer.close()
    return written


def write_csv_day(parquet: Path, path: Path) -> None:
    """The same rows as the portal's "Export to CSV" writes them (US-English times), batch by batch."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        for number, batch in enumerate(pq.ParquetFile(parquet).iter_batches(250_000, columns=list(PORTAL_COLUMNS))):
            frame = portal_frame(batch.to_pandas())
            frame.to_csv(handle, index=False, header=number == 0, lineterminator="\r\n")


def ensure(rows: int, folder: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """The exports of about ``rows`` rows in ``folder``, written if missing; format -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "parquet": folder / "gateway_logs.parquet",
        "csv": folder / "gateway_logs.csv",
        "archive": folder / "archive",
    }
    if not paths["parquet"].exists():
        began = time.perf_counter()
        partial = paths["parquet"].with_suffix(".partial")
        count = write_parquet_day(rows, partial)
        partial.rename(paths["parquet"])
        print(f"wrote {paths['parquet']} ({count:,} rows) in {time.perf_counter() - began:.0f} s", flush=True)
    if "csv" in formats and not paths["csv"].exists():
        partial = paths["csv"].with_suffix(".partial")
        write_csv_day(paths["parquet"], partial)
        partial.rename(paths["csv"])
        print(f"wrote {paths['csv']}", flush=True)
    if "archive" in formats and not paths["archive"].exists():
        partial = folder / "archive.partial"
        write_archive(ds.dataset(paths["parquet"]), partial)
        partial.rename(paths["archive"])
        print(f"wrote {paths['archive']}/", flush=True)
    return {name: paths[name] for name in formats}


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    formats = tuple(argv[2].split(",")) if len(argv) == 3 else FORMATS
    ensure(int(float(argv[0])), Path(argv[1]), formats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
