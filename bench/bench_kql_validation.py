"""Wall time of offline KQL validation (tests/kusto_language.py).

Prints: node start + library load alone, one query, 20 queries in one
process, and, for contrast, the same 20 queries with one process each. The
first query in a process pays for the language service's lazy set-up, so the
per-query cost after it is (20 queries - 1 query) / 19.

    .venv/bin/python -m bench.bench_kql_validation
"""

from __future__ import annotations

import statistics
import time

from tests import kusto_language as kl

TEMPLATES = [
    "ApiManagementGatewayLogs | where TimeGenerated > ago({n}h)"
    " | summarize requests = count(), p95 = percentile(BackendTime, 95) by bin(TimeGenerated, 1m), BackendUrl",
    "ApiManagementGatewayLogs | where TimeGenerated > ago({n}h) and ResponseCode >= 500"
    " | summarize failures = count() by LastErrorReason, BackendId | top 10 by failures",
    'AzureDiagnostics | where Category == "GatewayLogs" | where backendTime_d > {n}000'
    " | project TimeGenerated, backendUrl_s, responseCode_d, lastError_reason_s",
    "let start = datetime(2025-02-25T09:00:00Z); let window = {n}m;\n"
    "ApiManagementGatewayLogs | where TimeGenerated between (start .. start + window)"
    " | extend host = tostring(parse_url(BackendUrl).Host)"
    " | summarize calls = count(), slow = countif(BackendTime > 1000) by host, bin(TimeGenerated, 10s)",
    "declare query_parameters(start:datetime, end:datetime);\n"
    "ApiManagementGatewayLogs | where TimeGenerated between (start .. end)"
    " | make-series calls = count() default = 0 on TimeGenerated step {n}m by BackendUrl",
]
QUERIES = {f"q{i:02d}": TEMPLATES[i % len(TEMPLATES)].format(n=i + 1) for i in range(20)}


def timed(queries: dict[str, str], tables: dict[str, list[kl.Column]]) -> tuple[float, dict[str, kl.ValidationResult]]:
    t0 = time.perf_counter()
    results = kl.validate(queries, tables)
    return time.perf_counter() - t0, results


def main() -> None:
    tables = kl.kit_tables()
    repeats = 3
    empty = [timed({}, tables)[0] for _ in range(repeats)]
    first = dict(list(QUERIES.items())[:1])
    single = [timed(first, tables)[0] for _ in range(repeats)]
    batch = []
    for _ in range(repeats):
        seconds, results = timed(QUERIES, tables)
        batch.append(seconds)
    errors = sum(len(r.errors) for r in results.values())
    many_queries = {f"{name}_{k}": text for k in range(10) for name, text in QUERIES.items()}
    many = statistics.median(timed(many_queries, tables)[0] for _ in range(repeats))
    separate = sum(timed({name: text}, tables)[0] for name, text in QUERIES.items())

    load = statistics.median(empty)
    one = statistics.median(single)
    twenty = statistics.median(batch)
    n = len(QUERIES)
    rows = [
        ("node start + library load, no queries", f"{load:.2f} s"),
        ("1 query, one process", f"{one:.2f} s"),
        (f"{n} queries, one process", f"{twenty:.2f} s (runs: {', '.join(f'{s:.2f}' for s in batch)})"),
        (f"{len(many_queries)} queries, one process", f"{many:.2f} s"),
        ("  steady cost per query", f"{(many - twenty) / (len(many_queries) - n) * 1000:.1f} ms"),
        (f"{n} queries, one process each", f"{separate:.2f} s"),
    ]
    print(f"queries: {n} (errors reported: {errors}), median of {repeats} runs")
    for label, value in rows:
        print(f"{label + ':':<40}{value}")


if __name__ == "__main__":
    main()
