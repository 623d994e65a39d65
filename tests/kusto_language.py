"""Offline KQL validation through Microsoft's Kusto language service.

Thin wrapper around ``tests/kusto/validate.js`` (npm package
``@kusto/language-service-next``, installed with ``npm ci`` at the repository
root). All queries of one :func:`validate` call are checked in a single node
process against a database made of the given tables.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from analysis.query.schema import TABLES, kusto_types

REPO_ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = REPO_ROOT / "tests" / "kusto" / "validate.js"
PACKAGE_DIR = REPO_ROOT / "node_modules" / "@kusto" / "language-service-next"

Column = tuple[str, str]


class KustoValidatorUnavailable(RuntimeError):
    """node or the npm package is missing."""


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "Error", "Warning", "Suggestion", "Information" or "Hidden"
    code: str  # e.g. "KS142"
    message: str
    start: int  # offsets into the query text (Python str indices)
    end: int
    snippet: str  # query text[start:end], the offending text
    source: str  # "compiler" (parser/binder) or "analyzer" (best-practice checks)

    def __str__(self) -> str:
        return f"{self.severity} {self.code} at {self.start}-{self.end} {self.snippet!r}: {self.message}"


@dataclass(frozen=True)
class ValidationResult:
    name: str
    diagnostics: tuple[Diagnostic, ...]
    columns: tuple[Column, ...]  # result columns of the last statement; () if not tabular

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "Error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "Warning")

    @property
    def ok(self) -> bool:
        return not self.errors


def kit_tables() -> dict[str, list[Column]]:
    """Every table the kit queries, as ``analysis.query.schema`` reads them from ``kql/schema``."""
    return {name: list(kusto_types(name).items()) for name in TABLES}


def validate(
    queries: dict[str, str],
    tables: dict[str, list[Column]],
    database: str = "LogAnalytics",
    timeout: float = 300.0,
) -> dict[str, ValidationResult]:
    """Parse and bind each query against ``tables``; returns results keyed by query name."""
    node = shutil.which("node")
    if node is None:
        raise KustoValidatorUnavailable(
            "node is not on PATH; install Node.js 20+, then run `npm ci` at the repository root"
        )
    if not (PACKAGE_DIR / "package.json").is_file():
        raise KustoValidatorUnavailable(f"{PACKAGE_DIR} is missing; run `npm ci` at the repository root ({REPO_ROOT})")
    request = {
        "database": database,
        "tables": {name: [list(col) for col in cols] for name, cols in tables.items()},
        "queries": [{"name": name, "text": text} for name, text in queries.items()],
    }
    proc = subprocess.run(
        [node, str(VALIDATOR)],
        cwd=REPO_ROOT,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"validate.js exited with {proc.returncode}: {proc.stderr.strip()}")
    results = json.loads(proc.stdout)["results"]
    return {
        r["name"]: ValidationResult(
            name=r["name"],
            diagnostics=tuple(Diagnostic(**d) for d in r["diagnostics"]),
            columns=tuple((c[0], c[1]) for c in r["columns"]),
        )
        for r in results
    }
