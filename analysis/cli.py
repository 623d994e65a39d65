"""``apim-snat``: argument parsing only; the work is done by the modules it calls.

Every failure ends as one line on stderr: a mistake a user can make with exit code 2, Ctrl-C
with 130 and SIGTERM with 143 (after the clean-up has run), a defect in the kit with 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from analysis import __version__
from analysis.assets import SAMPLE_SOURCE
from analysis.errors import KitError, one_line
from analysis.query.modes import Mode
from analysis.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, raise_on_signals

if TYPE_CHECKING:
    from analysis.sources import SourceOptions

EXIT_USAGE = 2
EXIT_DEFECT = 1
MODE_CHOICES = tuple(mode.value for mode in Mode)
WINDOW_OPTIONS = ("--start", "--end")
SOURCE_HELP = (
    "'sample' (the embedded incident); 'file:PATH' to a gateway log export "
    "(.parquet, .csv as the Log Analytics portal exports it, .jsonl, any of them .gz; a folder of them, "
    "searched recursively, or a glob; a storage-account archive folder of PT1H.json blobs; a folder of "
    "Application Insights tables, one file each, named after its table; a self-hosted gateway's JSON log lines); "
    "'loganalytics:WORKSPACE_ID', 'loganalytics-resource:RESOURCE_ID' or 'kusto:https://CLUSTER/DATABASE' "
    "to query Azure (needs --start and --end); 'cache:DIR' to render again from kept results "
    "(a report's results/ folder). Repeat for several workspaces: one query over all of them"
)
TIME_FORMS = "ISO 8601 (UTC unless an offset is given) or relative to now, e.g. -2h, now-1d"


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


def _shown(message: str) -> str:
    """An error message as it is printed: one bounded line, credentials masked (it may quote the logs)."""
    from analysis.safety.credentials import scrub

    return one_line(scrub(message))


def _say(message: str) -> None:
    print(f"apim-snat: {message}", file=sys.stderr, flush=True)


def _source_options(args: argparse.Namespace, keep: bool = True) -> SourceOptions:
    """The sign-in, timeout and (when results are ``keep``-t) cache options of a command."""
    from analysis.sources import SourceOptions
    from analysis.sources.signin import check_auth, quiet_sdk_logging

    quiet_sdk_logging(getattr(args, "verbose", False))
    given = {"auth": check_auth(args.auth, args.tenant), "tenant": args.tenant, "server_timeout": args.timeout}
    if not keep:
        return SourceOptions(**given)
    return SourceOptions.from_environment(cache=args.cache, refresh=args.refresh, **given)


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    """Where a command reports what it is doing: stderr, unless --quiet."""
    return (lambda _: None) if getattr(args, "quiet", False) else _say


def _source_spec(spec: str) -> str:
    """``spec`` when it can name a source; a bare path gets the spelling it probably meant.

    >>> _source_spec("sample")
    'sample'
    """
    if spec != SAMPLE_SOURCE and ":" not in spec and (Path(spec).suffix or "/" in spec or Path(spec).exists()):
        raise KitError(f"--source {spec!r} is a path, not a source; did you mean 'file:{spec}'?")
    return spec


def _report(args: argparse.Namespace) -> int:
    from analysis.diagnosis import annotations
    from analysis.report.pipeline import Progress, make_report
    from analysis.report.request import ReportRequest

    say = _progress(args)
    given = {  # in the notebook's parameters' words; an earlier report's parameters go under them
        "source": [_source_spec(spec) for spec in args.source or [SAMPLE_SOURCE]],
        "start": args.start,
        "end": args.end,
        "mode": args.mode,
        "metrics_resource": args.metrics_resource,
        "metrics_region": args.metrics_region,
        "redact": args.redact,
        "annotations": annotations.dumps([annotations.from_option(text) for text in args.annotate]),
        "ip_map": args.ip_map,
    }
    request = ReportRequest.from_command_line(given, _key_values(args.param), WINDOW_OPTIONS, say)
    make_report(request, args.out, _source_options(args), Progress(say, args.quiet), args.verbose)
    return 0


def _queries_list(args: argparse.Namespace) -> int:
    from analysis.query import pack

    for query in pack.packaged():
        print(f"{query.name}\t{query.description}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.investigation.run import window_for
    from analysis.sources import absolute, open_source
    from analysis.sources.export import export
    from analysis.times import user_window, window_text

    source = open_source([absolute(spec) for spec in args.source], args.mode, _source_options(args, keep=False))
    try:
        start, end = window_for(source, *user_window(args.start, args.end, WINDOW_OPTIONS))
        _progress(args)(f"exporting {source.description}, window {window_text(start, end)}")
        with tqdm(unit=" rows", file=sys.stderr, disable=None, desc="apim-snat: export") as bar:
            rows = export(source, start, end, Path(args.out), progress=bar.update)
    finally:
        source.close()
    _progress(args)(f"{rows} rows written to {args.out} (read it with --source file:{args.out})")
    return 0


def _default_window() -> dict[str, Any]:
    """The last 24 hours in whole minutes: what a pasted query looks at unless told otherwise."""
    import pandas as pd

    from analysis.times import current_minute

    end = current_minute()
    return {"start": end - pd.Timedelta(days=1), "end": end}


def _queries_show(args: argparse.Namespace) -> int:
    from analysis.query import pack
    from analysis.times import window_text

    query = pack.load(args.name)
    given = query.parse_params(_key_values(args.param))
    if ("start" in given) != ("end" in given):
        raise KitError("give both start and end, or neither for the last 24 hours")
    values = {**_default_window(), **given}
    if not values["start"] < values["end"]:
        raise KitError(f"start {values['start'].isoformat()} is not before end {values['end'].isoformat()}")
    _progress(args)(f"window {window_text(values['start'], values['end'])}, mode {args.mode}")
    print(query.render(values, args.mode), end="")
    return 0


def _query(args: argparse.Namespace) -> int:
    from analysis.investigation.adhoc import SETS_ITS_OWN, adhoc_query, run_adhoc
    from analysis.investigation.run import window_for
    from analysis.sources import open_source
    from analysis.sources.progress import watched
    from analysis.times import user_window, window_text

    if args.file is not None:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise KitError(f"cannot read {args.file}: {getattr(err, 'strerror', None) or err}") from None
    else:
        text = args.kql
    query = adhoc_query(text)
    if query.standalone and (args.param or args.start or args.end):
        raise KitError(SETS_ITS_OWN)
    specs = [_source_spec(spec) for spec in args.source or [SAMPLE_SOURCE]]
    say = _progress(args)
    source = watched(open_source(specs, args.mode, _source_options(args)), say, args.quiet)
    try:
        window = None
        if query.standalone:
            say("window: as the text's own let statements set it")
        else:
            # An ad-hoc query aggregates as its text says: no limit on the window it reads.
            window = window_for(source, *user_window(args.start, args.end, WINDOW_OPTIONS), max_days=None)
            say(f"window {window_text(*window)}, mode {source.mode}")
        result = run_adhoc(source, query, window, _key_values(args.param))
    finally:
        source.close()
    if args.format == "csv":
        result.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(result.to_json(orient="records", date_format="iso", indent=1))
    else:
        print(result.to_string(index=False, max_rows=args.max_rows) if len(result) else "(no rows)")
    return 0


def _add_source_options(parser: argparse.ArgumentParser, keep: bool = True) -> None:
    """Sign-in, server timeout and (when results are ``keep``-t) the cache: alike on every command that queries."""
    from analysis.sources.azure import DEFAULT_SERVER_TIMEOUT
    from analysis.sources.signin import AUTH, DEFAULT_AUTH

    parser.add_argument(
        "--auth",
        choices=tuple(AUTH),
        default=DEFAULT_AUTH,
        help="how to sign in to Azure: default (azure-identity's DefaultAzureCredential: environment, managed "
        "identity, az login, ...), cli (az login), device-code (a code to enter in a browser), managed-identity, "
        "environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)",
    )
    parser.add_argument("--tenant", help="Microsoft Entra tenant id or domain, for --auth cli or device-code")
    parser.add_argument(
        "--timeout",
        type=int,
        metavar="SECONDS",
        help=f"how long a query may run on the service (default {DEFAULT_SERVER_TIMEOUT}; at most 600 on "
        "Log Analytics, 3600 on Azure Data Explorer); a query cut at this limit is split by time and asked again",
    )
    if not keep:
        return
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="where query results are kept with their provenance and reused "
        "(default: $APIM_SNAT_CACHE, else the user's cache folder, e.g. ~/.cache/apim-snat)",
    )
    parser.add_argument("--refresh", action="store_true", help="query the source again instead of reusing results")


def common_options() -> _Parser:
    """--quiet and --verbose, which every command takes."""
    common = _Parser(add_help=False)
    noise = common.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="print errors only, no progress")
    noise.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show what the libraries and the report's kernel print, and the traceback of a defect",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    from analysis.fleet import batch

    parser = _Parser(
        prog="apim-snat",
        description="Diagnose SNAT port exhaustion in Azure API Management from gateway logs.",
    )
    parser.add_argument("--version", action="version", version=f"apim-snat {__version__}")
    common = common_options()
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    report = commands.add_parser(
        "report",
        parents=[common],
        help="render the incident report (HTML, notebook, findings.json)",
        description="Run the packaged queries on a source, diagnose every backend destination and write "
        "report.html (self-contained, code hidden), report.ipynb (executed) and findings.json into --out.",
    )
    report.add_argument("--source", action="append", help=f"{SOURCE_HELP}. Default: sample")
    report.add_argument("--start", help=f"window start, {TIME_FORMS}; default: the source's first minute")
    report.add_argument(
        "--end", help=f"window end (exclusive), {TIME_FORMS}; default: just after the source's last minute"
    )
    report.add_argument(
        "--mode",
        choices=MODE_CHOICES,
        help="logging mode: resource-specific ApiManagementGatewayLogs, legacy AzureDiagnostics, or "
        "Application Insights (appinsights: AppRequests, AppDependencies, AppExceptions; an Application Insights "
        "resource answers in its classic tables); default: detected from a file's columns, 'resource' for Azure",
    )
    report.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an assumption, repeatable: snat_ports (per unit, default 1024, not published by "
        "Microsoft), units (during the incident, every region; default 1), 'units.REGION' (one region's units), "
        "requests_per_connection (least reuse; default 1 = none), port_hold_minutes (4), connect_timeout_s (read "
        "from the failed connects unless given), "
        "log_sampling_percent (of successful requests logged; default 100), slow_p95_ms (3000), min_requests (200), "
        "max_window_days (31; a longer window is refused), tier (Developer, Basic, Standard, Premium, Consumption, "
        "'Basic v2', 'Standard v2', 'Premium v2': what scale-out and a NAT gateway need); and incident_id (the "
        "incident in your tracker, for the postmortem's title)",
    )
    report.add_argument(
        "--ip-map",
        metavar="FILE",
        help="CSV with columns host,ip (a host may have several rows): hosts on one IP share one SNAT pool; "
        "resolve the backend names (nslookup; App Service: the app's inbound IP) to write it",
    )
    report.add_argument(
        "--annotate",
        action="append",
        default=[],
        metavar="TIME[/END]=LABEL",
        help="something that happened (a deploy, a scale-out, a mitigation), shown beside the timeline; "
        "repeatable, e.g. --annotate '2025-02-25T09:40Z=scaled out to 2 units'",
    )
    report.add_argument(
        "--redact",
        action="store_true",
        help="replace caller IPs, subscription ids and user ids by pseudonyms in every output, for reports "
        "sent outside the team (stable within the report; across reports when APIM_SNAT_REDACT_KEY is set)",
    )
    report.add_argument(
        "--out",
        required=True,
        help="report folder: new, empty, or an earlier report of the kit (recognised by its .apim-snat file), "
        "replaced in one step when the report is complete; never a folder holding other files",
    )
    report.add_argument(
        "--metrics-resource",
        metavar="RESOURCE_ID",
        help="the APIM service's resource id: its unsampled Requests platform metric is set beside the logs "
        "(are they sampled or missing? with no logs, when did BackendConnectionFailure rise, per region); "
        "default: the loganalytics-resource: source's",
    )
    report.add_argument("--metrics-region", metavar="REGION", help="the APIM service's region, e.g. westeurope")
    _add_source_options(report)
    report.set_defaults(handler=_report)

    listing = commands.add_parser(
        "queries",
        parents=[common],
        help="list the packaged KQL queries or print one ready to paste",
        description="The packaged queries in kql/, rendered for Log Analytics or ADX.",
    )
    query_commands = listing.add_subparsers(dest="queries_command", required=True, parser_class=_Parser)
    query_commands.add_parser("list", parents=[common], help="one query per line: name, then description").set_defaults(
        handler=_queries_list
    )
    show = query_commands.add_parser(
        "show",
        parents=[common],
        help="print a query rendered with typed parameters, ready to paste",
        description="Print the rendered KQL: parameters become typed let statements; start and end "
        "(both or neither) default to the last 24 hours. 'apim-snat query --file' runs the text as it is.",
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
        help="a query parameter, repeatable, e.g. start=2025-02-25T09:00Z, start=-2h or "
        "destination=api.contoso.com:443",
    )
    show.set_defaults(handler=_queries_show)

    adhoc = commands.add_parser(
        "query",
        parents=[common],
        help="run ad-hoc KQL on a source and print the result",
        description="Run KQL text on a source. The text may use start, end and the "
        "normalised table GatewayRequests (either logging mode), or the raw table.",
    )
    adhoc.add_argument("--source", action="append", help=f"{SOURCE_HELP}. Default: sample")
    text = adhoc.add_mutually_exclusive_group(required=True)
    text.add_argument("--kql", help="the KQL text")
    text.add_argument("--file", help="a file holding the KQL text")
    adhoc.add_argument("--start", help=f"window start, {TIME_FORMS}; default: the source's first minute")
    adhoc.add_argument("--end", help=f"window end (exclusive), {TIME_FORMS}; default: after the source's last minute")
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
    _add_source_options(adhoc)
    adhoc.set_defaults(handler=_query)

    rows = commands.add_parser(
        "export",
        parents=[common],
        help="write the raw gateway log rows of a window to a Parquet file",
        description="Write the raw gateway log rows of a window, with the table's own columns, into one Parquet "
        "file that any command reads later with --source file:FILE.parquet. From Log Analytics or Azure Data "
        "Explorer the rows are fetched in parts small enough for the service's limits (500,000 rows or 64 MB a "
        "result); from a local export (CSV, JSON lines, a storage archive) the window's rows become one Parquet "
        "file. --source is required (no default); Azure sources need --start and --end. A progress bar counts "
        "the rows on a terminal; the file appears only when complete and is not kept in the result cache.",
    )
    rows.add_argument("--source", required=True, action="append", help=f"{SOURCE_HELP}. Required: no default")
    rows.add_argument(
        "--start", help=f"window start, {TIME_FORMS}; default: the source's first minute (local files only)"
    )
    rows.add_argument(
        "--end",
        help=f"window end (exclusive), {TIME_FORMS}; default: after the source's last minute (local files only)",
    )
    rows.add_argument("--mode", choices=MODE_CHOICES, help="logging mode; default: detected, 'resource' for Azure")
    rows.add_argument("--out", required=True, metavar="FILE.parquet", help="the Parquet file to write")
    _add_source_options(rows, keep=False)
    rows.set_defaults(handler=_export)
    batch.add_command(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``apim-snat``; returns the exit code."""
    verbose = False
    with raise_on_signals():
        try:
            args = build_parser().parse_args(argv)
            verbose = args.verbose
            return int(args.handler(args))
        except KitError as err:
            _say(f"error: {_shown(str(err))}")
            return EXIT_USAGE
        except KeyboardInterrupt:
            _say("interrupted (Ctrl-C); nothing half-written was left behind")
            return EXIT_INTERRUPTED
        except Terminated:
            _say("terminated (SIGTERM); nothing half-written was left behind")
            return EXIT_TERMINATED
        except Exception as err:
            if verbose:
                raise
            first = _shown((str(err).splitlines() or [""])[0])
            _say(f"error: a defect in the kit: {type(err).__name__}: {first} (--verbose shows where)")
            return EXIT_DEFECT


def run() -> NoReturn:
    """The ``apim-snat`` command: ``main``, then exit with its code.

    After Ctrl-C or SIGTERM the clean-up has run inside ``main``; the process then ends at once,
    without the interpreter's own shutdown, in which a kernel client interrupted while it
    connected can wait forever for its sockets.
    """
    code = main()
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
