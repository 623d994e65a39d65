"""What the result cache costs and saves on the sample incident's investigation.

Times the whole investigation (every query the report runs) straight from the local source,
through the cache on a first run (every result queried and written with its record), on a
second run (every result read back), and replayed offline from the cache folder alone; then
prints the folder's size. Against Azure the saving is the service's time per query instead.

    .venv/bin/python -m bench.bench_result_cache
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from analysis.investigation.run import Investigation, investigate
from analysis.sources import SourceOptions, open_source


def timed(label: str, run: Callable[[], Investigation]) -> None:
    began = time.perf_counter()
    found = run()
    print(f"{label:<34} {time.perf_counter() - began:6.2f} s  ({len(found.queried)} queries)")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        timed("no cache", lambda: investigate(open_source("sample")))
        timed(
            "cache, first run (miss, write)",
            lambda: investigate(open_source("sample", None, SourceOptions(cache=root))),
        )
        timed(
            "cache, second run (hit, read)", lambda: investigate(open_source("sample", None, SourceOptions(cache=root)))
        )
        (cached,) = root.iterdir()
        timed("offline replay (cache:DIR)", lambda: investigate(open_source(f"cache:{cached}")))
        size = sum(p.stat().st_size for p in cached.iterdir())
        print(f"cache folder: {len(list(cached.iterdir()))} files, {size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
