"""``apim-snat``: argument parsing only; the work is done by the modules it calls.

Every mistake a user can make ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from analysis.errors import KitError
from analysis.modes import Mode

EXIT_USAGE = 2
MODE_CHOICES = tuple(mode.value for mode in Mode)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        raise KitError(f"{message} (see '{self.prog} --help')")


def _key_values(items: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise KitError(f"--param takes NAME=VALUE, got {item!r}")
        values[name.strip()] = value.strip()
    return values


def _say(message: str) -> None:
    print(f"apim-snat: {message}", file=sys.stderr, flush=True)


def _report(args: argparse.Namespace) -> int:
    from analysis.assumptions import from_params
    from analysis.investigation import window_for
    from analysis.render import render
    from analysis.sources import absolute, open_source
    from analysis.times import optional_time

    assumptions = from_params(_key_values(args.param))
    start, end = optional_time("--start", args.start), optional_time("--end", args.end)
    _say(f"checking source {args.source}")
    source = open_source(args.source, args.mode)
    try:
        window = window_for(source, start, end, assumptions.max_window_days)
    finally:
        source.close()  # the notebook opens the source again in its own kernel
    _say(f"window {window[0].isoformat()}Z to {window[1].isoformat()}Z, mode {source.mode}")
    parameters = {
        "source": absolute(args.source),
        "start": window[0].isoformat(),
        "end": window[1].isoformat(),
        "mode": str(source.mode),
        **assumptions.as_dict(),
    }
    out_dir = render(Path(args.out), parameters, progress=_say)
    _say(f"report written to {out_dir}/ (report.html, report.ipynb, findings.json)")
    return 0


def _queries_list(args: argparse.Namespace) -> int:
    from analysis import queries

    for query in queries.packaged():
        print(f"{query.name}\t{query.description}")
    return 0


def _default_window() -> dict[str, Any]:
    """The last 24 hours in whole minutes: what a pasted query looks at unless told otherwise."""
    import pandas as pd

    end = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("min")
    return {"start": end - pd.Timedelta(days=1), "end": end}


def _queries_show(args: argparse.Namespace) -> int:
    from analysis import queries

    query = queries.load(args.name)
    values = {**_default_window(), **query.parse_params(_key_values(args.param))}
    print(query.render(values, args.mode), end="")
    return 0


def _query(args: argparse.Namespace) -> int:
    from analysis import queries
    from analysis.investigation import window_for
    from analysis.sources import open_source
    from analysis.times import optional_time

    if args.file is not None:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise KitError(f"cannot read {args.file}: {getattr(err, 'strerror', None) or err}") from None
    else:
        text = args.kql
    query = queries.adhoc(text)
    source = open_source(args.source, args.mode)
    try:
        # An ad-hoc query aggregates as its text says: no limit on the window it reads.
        start, end = window_for(
            source, optional_time("--start", args.start), optional_time("--end", args.end), max_days=None
        )
        values = {"start": start, "end": end, **query.parse_params(_key_values(args.param))}
        values = {name: value for name, value in values.items() if name in {p.name for p in query.parameters}}
        result = source.run(query.render(values, source.mode))
    finally:
        source.close()
    if args.format == "csv":
        result.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(result.to_json(orient="records", date_format="iso", indent=1))
    else:
        print(result.to_string(index=False, max_rows=args.max_rows) if len(result) else "(no rows)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="apim-snat",
        description="Diagnose SNAT port exhaustion in Azure API Management from gateway logs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    report = commands.add_parser(
        "report",
        help="render the incident report (HTML, notebook, findings.json)",
        description="Run the packaged queries on a source, diagnose every backend destination and write "
        "report.html (self-contained, code hidden), report.ipynb (executed) and findings.json into --out.",
    )
    report.add_argument(
        "--source",
        default="sample",
        help="'sample' (the embedded incident, the default); 'file:PATH' to a gateway log export "
        "(.parquet, .csv as the Log Analytics portal exports it, .jsonl, any of them .gz; a folder of them, "
        "searched recursively, or a glob; a storage-account archive folder of PT1H.json blobs); "
        "'loganalytics:WORKSPACE_ID' or 'kusto:https://CLUSTER/DATABASE' to query Azure "
        "(signs in with azure-identity's DefaultAzureCredential; needs --start and --end)",
    )
    report.add_argument(
        "--start", help="window start, ISO 8601 (UTC unless an offset is given); default: the source's first minute"
    )
    report.add_argument("--end", help="window end (exclusive), ISO 8601; default: just after the source's last minute")
    report.add_argument(
        "--mode",
        choices=MODE_CHOICES,
        help="logging mode: resource-specific ApiManagementGatewayLogs or legacy AzureDiagnostics; "
        "default: detected from a file's columns, 'resource' for Azure sources",
    )
    report.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an assumption, repeatable: snat_ports (per unit, default 1024, not published by "
        "Microsoft), units (default 1), requests_per_connection (default 1 = no reuse), "
        "port_hold_minutes (4), slow_p95_ms (3000), min_requests (200), "
        "max_window_days (31; a longer window is refused)",
    )
    report.add_argument("--out", required=True, help="report folder; replaced in one step when the report is complete")
    report.set_defaults(handler=_report)

    listing = commands.add_parser(
        "queries",
        help="list the packaged KQL queries or print one ready to paste",
        description="The packaged queries in kql/, rendered for Log Analytics or ADX.",
    )
    query_commands = listing.add_subparsers(dest="queries_command", required=True, parser_class=_Parser)
    query_commands.add_parser("list", help="one query per line: name, then description").set_defaults(
        handler=_queries_list
    )
    show = query_commands.add_parser(
        "show",
        help="print a query rendered with typed parameters, ready to paste",
        description="Print the rendered KQL: parameters become typed let statements; "
        "start/end default to the last 24 hours.",
    )
    show.add_argument("name", help="query name, as 'apim-snat queries list' prints it")
    show.add_argument(
        "--mode",
        choices=MODE_CHOICES,
        default=Mode.RESOURCE.value,
        help="logging mode of the workspace (default: resource)",
    )
    show.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query parameter, repeatable, e.g. start=2025-02-25T09:00Z or destination=api.contoso.com:443",
    )
    show.set_defaults(handler=_queries_show)

    adhoc = commands.add_parser(
        "query",
        help="run ad-hoc KQL on a source and print the result",
        description="Run KQL text on a source. The text may use start, end and the "
        "normalised table GatewayRequests (either logging mode), or the raw table.",
    )
    adhoc.add_argument(
        "--source",
        required=True,
        help="'sample', 'file:PATH', 'loganalytics:WORKSPACE_ID' or 'kusto:https://CLUSTER/DATABASE'",
    )
    text = adhoc.add_mutually_exclusive_group(required=True)
    text.add_argument("--kql", help="the KQL text")
    text.add_argument("--file", help="a file holding the KQL text")
    adhoc.add_argument("--start", help="window start, ISO 8601; default: the source's first minute")
    adhoc.add_argument("--end", help="window end (exclusive), ISO 8601; default: after the source's last minute")
    adhoc.add_argument("--mode", choices=MODE_CHOICES, help="logging mode; default: detected")
    adhoc.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for a parameter the text declares with declare query_parameters",
    )
    adhoc.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)"
    )
    adhoc.add_argument("--max-rows", type=int, default=200, help="rows printed in table format (default: 200)")
    adhoc.set_defaults(handler=_query)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``apim-snat``; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except KitError as err:
        _say(f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
