"""Run every benchmark in this folder and print its figures; never fails a build on a number.

Each runs as a module from the repository root (``python -m bench.NAME``), so it imports the kit and
the tests' helpers as packages.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in sorted(HERE.glob("bench_*.py")):
    print(f"== {script.name}", flush=True)
    subprocess.run([sys.executable, "-m", f"bench.{script.stem}"], cwd=HERE.parent, check=False)
