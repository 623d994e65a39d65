"""``apim-snat``: argument parsing only; the work is done by the modules it calls.

Every mistake a user can make ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from analysis.errors import KitError

EXIT_USAGE = 2


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
    from analysis.report import optional_time
    from analysis.sources import open_source

    assumptions = from_params(_key_values(args.param))
    start, end = optional_time("--start", args.start), optional_time("--end", args.end)
    _say(f"checking source {args.source}")
    source = open_source(args.source, args.mode)
    window = window_for(source, start, end)
    _say(f"window {window[0].isoformat()}Z to {window[1].isoformat()}Z, mode {source.mode}")
    parameters = {
        "source": args.source,
        "start": window[0].isoformat(),
        "end": window[1].isoformat(),
        "mode": source.mode,
        **assumptions.as_dict(),
    }
    out_dir = render(Path(args.out), parameters, progress=_say)
    _say(f"report written to {out_dir}/ (report.html, report.ipynb, findings.json)")
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
    report.add_argument("--source", default="sample",
                        help="'sample' (the embedded incident, the default) or 'file:PATH' to a gateway log export "
                             "(.parquet, .csv as the Log Analytics portal exports it, .jsonl)")
    report.add_argument("--start", help="window start, ISO 8601 (UTC unless an offset is given); default: the source's first minute")
    report.add_argument("--end", help="window end (exclusive), ISO 8601; default: just after the source's last minute")
    report.add_argument("--mode", choices=("resource", "azurediagnostics"),
                        help="logging mode: resource-specific ApiManagementGatewayLogs or legacy AzureDiagnostics; "
                             "default: detected from the file's columns")
    report.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override an assumption, repeatable: snat_ports (per unit, default 1024, not published by "
                             "Microsoft), units (default 1), requests_per_connection (default 1 = no reuse), "
                             "port_hold_minutes (4), slow_p95_ms (3000), min_requests (200)")
    report.add_argument("--out", required=True, help="report folder; replaced in one step when the report is complete")
    report.set_defaults(handler=_report)
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
