"""``apim-snat batch FLEET.yaml --out DIR``: one report per fleet entry, several at once, and an index.

Each entry runs as its own ``apim-snat report`` process (papermill inside, so a crash, a hang
or a signal touches one entry only) into ``DIR/<name>``, at most as many at once as the
machine has cores. ``DIR/index.html`` lists every entry worst verdict first, linking each report,
and ``DIR/findings.json`` combines their findings; a failed entry is listed with its one-line
error and the others carry on. The exit code is 0 only when every entry rendered.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis import __version__
from analysis.diagnosis.words import headline, what
from analysis.errors import KitError, one_line
from analysis.fleet.file import Entry, load
from analysis.investigation.findings import FINDINGS_FILE
from analysis.report.html_page import CONTENT_SECURITY_POLICY, TEMPLATES
from analysis.report.outfolder import (
    PRIVATE_FOLDER,
    Kind,
    claim,
    read_marker,
    target,
    write_marker,
    write_private,
    written,
)
from analysis.safety.credentials import scrub
from analysis.sources.sharing import KEY_VARIABLE, shown_spec

EXIT_SOME_FAILED = 1
# A local absolute path in a message: "/" after a space, a quote, a colon or the start, then names.
_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(=:])/(?:[^\s/'\"]+/)*[^\s/'\"]+")
INDEX_FILE = "index.html"
# Worst first: a confirmed exhaustion, then what could not be judged at all, then the rest.
VERDICT_ORDER = {"snat_exhaustion": 0, None: 1, "insufficient_data": 2, "no_snat_evidence": 3}


@dataclass(frozen=True)
class Outcome:
    """How one entry went: its findings when it rendered, its one-line error when it did not."""

    entry: Entry
    findings: dict[str, Any] | None
    error: str | None

    @property
    def verdict(self) -> str | None:
        return None if self.findings is None else self.findings.get("verdict")

    def record(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "rendered": self.findings is not None,
            "report": f"{self.entry.name}/report.html" if self.findings is not None else None,
            "error": self.error,
            "findings": self.findings,
        }


def report_arguments(entry: Entry, folder: Path, redact: bool, verbose: bool) -> list[str]:
    """The ``apim-snat report`` arguments that render ``entry`` into ``folder``."""
    arguments = ["report", "--verbose" if verbose else "--quiet", "--source", entry.source, "--out", str(folder)]
    for option, value in (("--start", entry.start), ("--end", entry.end), ("--mode", entry.mode)):
        if value is not None:
            arguments += [option, value]
    for name, value in entry.params:
        arguments += ["--param", f"{name}={value}"]
    for note in entry.annotations:
        span = note.as_dict()
        when = span["time"] if span["end"] is None else f"{span['time']}/{span['end']}"
        arguments += ["--annotate", f"{when}={note.label}"]
    return [*arguments, "--redact"] if redact else arguments


def error_line(stderr: str, code: int) -> str:
    """The one line a failed report printed (its ``error:`` line), or what is known of the failure.

    >>> error_line("apim-snat: checking source x\\napim-snat: error: x: no such file\\n", 2)
    'x: no such file'
    """
    lines = [line.removeprefix("apim-snat: ") for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else f"the report command ended with exit code {code}"


def shown_error(message: str) -> str:
    """An entry's error as the index may show it: every local path by its last name, credentials masked.

    >>> shown_error("/home/me/x.parquet: no such file; see https://example.com/a/b and 3/4 of /tmp/out/a:")
    'x.parquet: no such file; see https://example.com/a/b and 3/4 of a:'
    >>> shown_error("unknown source 'file:/home/me/x.csv', see ?sig=abc")
    "unknown source 'file:x.csv', see ?sig=***"
    """
    return scrub(_ABSOLUTE_PATH.sub(lambda found: found.group(0).rsplit("/", 1)[-1], one_line(message)))


class _Runner:
    """Runs entries as child processes; on a signal, stops starting new ones and ends the running ones."""

    def __init__(self, env: dict[str, str], folder: Path, verbose: bool):
        self._env = env
        self._folder = folder
        self._verbose = verbose
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopped = False

    def render(self, entry: Entry, out: Path, redact: bool) -> Outcome:
        command = [
            sys.executable,
            "-m",
            "analysis.cli",
            *report_arguments(entry, out / entry.name, redact, self._verbose),
        ]
        with self._lock:
            if self._stopped:
                return Outcome(entry, None, "not started: the batch was stopped")
            child = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self._env, cwd=self._folder
            )
            self._running.add(child)
        try:
            _, stderr = child.communicate()
        finally:
            with self._lock:
                self._running.discard(child)
        if self._verbose and stderr:
            sys.stderr.write(stderr)
        if child.returncode != 0:
            return Outcome(entry, None, shown_error(error_line(stderr, child.returncode)))
        try:
            document = json.loads((out / entry.name / FINDINGS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            return Outcome(entry, None, f"the report has no readable {FINDINGS_FILE}: {err}")
        return Outcome(entry, document, None)

    def stop(self) -> None:
        """End every running entry the way a user would (SIGTERM: each removes its staging folder)."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for child in running:
            child.terminate()
        for child in running:
            child.wait()


def _failed_calls(outcome: Outcome) -> int:
    return int(((outcome.findings or {}).get("impact") or {}).get("failed_requests") or 0)


def ordered(outcomes: list[Outcome]) -> list[Outcome]:
    """By impact: the entries whose calls failed, the most failed calls first; then the entries that did not render
    (their impact is not known); then the rest. Ties: worst verdict first, then by name."""

    def rank(outcome: Outcome) -> tuple[int, int, int, str]:
        failed = _failed_calls(outcome)
        group = 1 if outcome.findings is None else 0 if failed else 2
        return group, -failed, VERDICT_ORDER.get(outcome.verdict, 1), outcome.entry.name

    return sorted(outcomes, key=rank)


def _first_action(found: dict[str, Any]) -> str:
    """The one thing to do first: the first mitigation, else the most affected destination's first action."""
    if found.get("mitigations"):
        return str(found["mitigations"][0]["title"])
    entries = {(e.get("region"), e.get("destination")): e for e in found.get("destinations", [])}
    for row in (found.get("impact") or {}).get("affected", []):
        actions = entries.get((row["region"], row["destination"]), {}).get("actions") or []
        if actions:
            return str(actions[0]["title"])
    return "-"


def _durations(found: dict[str, Any]) -> str:
    """Each cause's minutes: ``SNAT port exhaustion 17 min; slow backend 25 min`` (never one span over causes)."""
    causes = (found.get("impact") or {}).get("by_cause") or []
    return "; ".join(f"{what(c['classification'])} {c['minutes']} min" for c in causes) or "-"


def _assumed(found: dict[str, Any]) -> str:
    """The assumptions a reader of the index should know: ports, units, tier, reuse."""
    a = found.get("assumptions") or {}
    if not a:
        return "-"
    regions = ", ".join(f"{name}: {count}" for name, count in (a.get("units_by_region") or {}).items())
    units = f"{a['units']} unit(s)" + (f" ({regions})" if regions else "")
    tier = a.get("tier") or "tier not given"
    return f"{a['snat_ports']:,} ports x {units}; {tier}; {a['requests_per_connection']:g} request(s) per connection"


def index_row(outcome: Outcome) -> dict[str, Any]:
    """What the index shows of one entry (every value escaped by the template)."""
    found = outcome.findings or {}
    impact = found.get("impact") or {}
    affected = [f"{row['destination']} ({what(row['classification'])})" for row in impact.get("affected", [])] or [
        d["destination"] for d in found.get("destinations", []) if d.get("classification") != "healthy"
    ]
    requests = impact.get("requests")
    failed = _failed_calls(outcome)
    return {
        "name": outcome.entry.name,
        "link": f"{outcome.entry.name}/report.html" if outcome.findings is not None else None,
        "verdict": outcome.verdict or "failed",
        "words": headline(outcome.verdict),
        "confidence": found.get("confidence") or "",
        "reason": found.get("verdict_reason") or outcome.error or "",
        "affected": affected,
        "failed": f"{failed:,} of {requests:,} ({failed / requests:.1%})" if requests else "-",
        "durations": _durations(found),
        "first_action": _first_action(found) if outcome.findings is not None else "-",
        "assumptions": _assumed(found),
        "window": found.get("window", {}),
        "source": found.get("source", shown_spec(outcome.entry.source)),
    }


def fleet_totals(outcomes: list[Outcome]) -> dict[str, Any]:
    """The fleet in a line: entries, rendered, with SNAT exhaustion, failed calls of all calls."""
    rendered = [o for o in outcomes if o.findings is not None]
    requests = sum(int((o.findings or {}).get("impact", {}).get("requests") or 0) for o in rendered)
    failed = sum(_failed_calls(o) for o in rendered)
    return {
        "entries": len(outcomes),
        "rendered": len(rendered),
        "snat": sum(o.verdict == "snat_exhaustion" for o in rendered),
        "failed": failed,
        "requests": requests,
        "share": f"{failed / requests:.1%}" if requests else "0.0%",
    }


def index_html(outcomes: list[Outcome], fleet_name: str) -> str:
    """The batch's index page: one row per entry, by impact; every value escaped, nothing run or fetched."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "batch"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    template = environment.get_template("index.html.j2")
    return template.render(
        rows=[index_row(outcome) for outcome in ordered(outcomes)],
        totals=fleet_totals(outcomes),
        fleet=fleet_name,
        version=__version__,
        content_security_policy=CONTENT_SECURITY_POLICY,
    )


def _remove_stale_entries(out: Path, keep: set[str]) -> None:
    """The reports of an earlier batch in ``out`` whose entries this fleet no longer has: folders directly
    inside ``out`` that its marker lists and whose own marker says the kit wrote a report there."""
    earlier = read_marker(out)
    for name in (written(earlier, str(out)) if earlier is not None else set()) - keep:
        folder = out / name
        if folder.is_dir() and not folder.is_symlink() and (read_marker(folder) or {}).get("kind") == Kind.REPORT:
            shutil.rmtree(folder)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` in one step, readable by its user alone."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    write_private(partial, text)
    partial.replace(path)


def run_batch(
    entries: list[Entry],
    out: Path,
    fleet_name: str,
    fleet_folder: Path,
    jobs: int,
    redact: bool,
    verbose: bool,
    done: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Render every entry into ``out`` (claimed by the caller), write the index and combined findings.

    Entries run in ``fleet_folder``, so a relative ``file:`` source is relative to the fleet file.
    """
    names = [e.name for e in entries]
    _remove_stale_entries(out, {*names, INDEX_FILE, FINDINGS_FILE})
    write_marker(out, Kind.BATCH, sorted({*names, INDEX_FILE, FINDINGS_FILE}))
    env = dict(os.environ)
    if redact and not env.get(KEY_VARIABLE):
        env[KEY_VARIABLE] = secrets.token_hex(32)  # one key for the whole fleet: the same caller, the same name
    runner = _Runner(env, fleet_folder, verbose)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            futures = [pool.submit(runner.render, entry, out, redact) for entry in entries]
            for future in as_completed(futures):
                outcomes.append(future.result())
                done(outcomes[-1])
        except BaseException:
            runner.stop()
            raise
    by_name = {o.entry.name: o for o in outcomes}
    outcomes = [by_name[name] for name in names]
    combined = {"kit_version": __version__, "fleet": fleet_name, "reports": [o.record() for o in outcomes]}
    _write(out / FINDINGS_FILE, json.dumps(combined, indent=2, ensure_ascii=False) + "\n")
    _write(out / INDEX_FILE, index_html(outcomes, fleet_name))
    return outcomes


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    entries = load(args.fleet)
    if args.jobs is not None and args.jobs < 1:
        raise KitError(f"--jobs must be at least 1, got {args.jobs}")
    jobs = min(len(entries), args.jobs or _cores())
    out = target(args.out)
    with claim(out, Kind.BATCH, args.out):
        out.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        with tqdm(total=len(entries), unit="report", file=sys.stderr, disable=args.quiet, desc="rendering") as bar:

            def done(outcome: Outcome) -> None:
                if outcome.error is not None:
                    bar.write(f"apim-snat: {outcome.entry.name}: error: {outcome.error}", file=sys.stderr)
                bar.update()

            fleet = Path(args.fleet)
            outcomes = run_batch(
                entries, out, fleet.name, fleet.absolute().parent, jobs, args.redact, args.verbose, done
            )
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        print(
            f"apim-snat: error: {len(failed)} of {len(outcomes)} entries failed "
            f"({', '.join(o.entry.name for o in failed)}); the others are in {args.out}/{INDEX_FILE}",
            file=sys.stderr,
        )
        return EXIT_SOME_FAILED
    if not args.quiet:
        print(f"apim-snat: {len(outcomes)} reports written; open {args.out}/{INDEX_FILE}", file=sys.stderr)
    return 0


def add_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``batch`` with the command line."""
    batch = commands.add_parser(
        "batch",
        parents=[common],
        help="render one report per entry of a fleet file, several at once, with an index",
        description="Render one report per entry of a YAML fleet file (reports: a list of name, source and "
        "optionally start, end, mode, params, annotations) into DIR/<name>, as many at once as the machine "
        "has cores; write DIR/index.html (verdicts worst first, linking each report) and DIR/findings.json. "
        "A failing entry is listed with its error and does not stop the others; the exit code is 0 only "
        "when every entry rendered. Relative file: paths are relative to the fleet file's folder.",
    )
    batch.add_argument("fleet", metavar="FLEET.yaml", help="the fleet file")
    batch.add_argument(
        "--out",
        required=True,
        help="batch folder: new, empty, or an earlier batch of the kit; each entry's folder is replaced in one step",
    )
    batch.add_argument("--jobs", type=int, help="reports rendered at once (default: the machine's cores)")
    batch.add_argument(
        "--redact",
        action="store_true",
        help="every report with --redact, under one key, so a caller has the same pseudonym in every report",
    )
    batch.set_defaults(handler=_batch)
