"""Time to generate every library scenario, and its rows (the tests generate each one once).

.venv/bin/python -m bench.bench_synthetic
"""

from __future__ import annotations

import time

from analysis.synthetic import generate
from analysis.synthetic.library import ESTATES, HOLDOUT, SCENARIOS, UNKNOWNS


def main() -> None:
    total = 0.0
    groups = (("scenarios", SCENARIOS), ("estates", ESTATES), ("holdout", HOLDOUT), ("unknowns", UNKNOWNS))
    for label, group in groups:
        for name, scenario in group.items():
            started = time.perf_counter()
            incident = generate(scenario)
            seconds = time.perf_counter() - started
            total += seconds
            print(
                f"{label:9} {name:32} {len(incident.all_requests):>8,} requests "
                f"{len(incident.logs):>8,} rows  {seconds:5.2f} s"
            )
    print(f"all scenarios: {total:.1f} s")


if __name__ == "__main__":
    main()
