"""Write the embedded sample incident: ``python -m analysis.synthetic OUTDIR [SCENARIO]``.

Produces the same bytes on every run, so the committed ``data/sample`` only
changes when the generator does. The portal's CSV shape of the same rows is not
committed: ``exports.write_portal_export`` writes it when a test needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.errors import KitError
from analysis.synthetic.exports import to_azure_diagnostics, write_parquet
from analysis.synthetic.incident import generate
from analysis.synthetic.library import scenario

OUTPUT_FILES = ("gateway_logs.parquet", "azure_diagnostics.parquet", "truth.json")


def write_sample(outdir: Path, name: str = "sample") -> list[Path]:
    """Generate scenario ``name`` and write its files into ``outdir``: the logs in both logging modes, the truth."""
    incident = generate(scenario(name))
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [outdir / f for f in OUTPUT_FILES]
    write_parquet(incident.logs, paths[0])
    write_parquet(to_azure_diagnostics(incident.logs), paths[1])
    paths[2].write_text(incident.truth_json(), encoding="utf-8", newline="\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 on a usage error."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m analysis.synthetic OUTDIR [SCENARIO]", file=sys.stderr)
        return 2
    try:
        paths = write_sample(Path(args[0]), *args[1:])
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"{path}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
