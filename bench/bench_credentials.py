"""What masking credentials (always) and --redact pseudonyms cost, against the investigation they guard.

Every result is scrubbed where it comes back from its source; ``--redact`` then rewrites every text
column but the destinations. Both work per distinct text, so the cost follows how many different
texts a result holds, not its rows. Timed on the sample incident: the results of one investigation,
and the raw rows of the export (the worst case: ``apim-snat export`` or an ad-hoc query of every
column), clean and with credentials planted in every error message and two backend URLs.

    .venv/bin/python -m bench.bench_credentials
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd

from analysis.investigation.run import investigate
from analysis.safety.credentials import scrub_frame
from analysis.sources import open_source
from analysis.sources.sharing import Pseudonyms
from tests.hostile import plant_credentials
from tests.paths import SAMPLE_DIR


def timed(run: Callable[[], object], repeat: int = 3) -> float:
    """The best of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    began = time.perf_counter()
    found = investigate(open_source("sample"))
    investigation_s = time.perf_counter() - began
    results = [run.result for run in found.queried]
    rows = sum(len(r) for r in results)
    names = Pseudonyms(b"bench")
    scrub_s = timed(lambda: [scrub_frame(r) for r in results])
    redact_s = timed(lambda: [names.frame(r) for r in results])
    print(f"investigation of the sample (scrubbed inside)  {investigation_s:6.2f} s")
    print(
        f"its {len(results)} results, {rows:,} rows: scrub {scrub_s * 1000:7.1f} ms, --redact {redact_s * 1000:7.1f} ms"
    )
    raw = pd.read_parquet(SAMPLE_DIR / "gateway_logs.parquet")
    for label, frame in (("raw rows", raw), ("raw rows, credentials planted", plant_credentials(raw))):
        texts = sum(frame[c].nunique() for c in frame.columns if pd.api.types.is_string_dtype(frame[c].dtype))
        seconds = timed(lambda f=frame: scrub_frame(f), repeat=1)
        print(
            f"{label:<30} {len(frame):,} rows, {texts:,} distinct texts: scrub {seconds:6.2f} s "
            f"({seconds / len(frame) * 1e6:5.1f} µs a row)"
        )


if __name__ == "__main__":
    main()
