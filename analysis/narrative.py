"""The report's words, written from the findings document (pure: dict in, Markdown out).

Every string taken from the findings (destinations, reasons, keys, messages, the source) may
come from the logs; it enters the Markdown through ``markup.md`` and so reads as plain text.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.assessment import Classification
from analysis.markup import code, code_block, md
from analysis.verdict import Outcome

HEADLINES = {
    Outcome.SNAT_EXHAUSTION: "SNAT port exhaustion",
    Outcome.NO_SNAT_EVIDENCE: "No evidence of SNAT port exhaustion",
    Outcome.INSUFFICIENT_DATA: "Not enough traffic to judge",
}
NO_MITIGATION = "No SNAT mitigation applies: no destination was classified as SNAT exhaustion."
NO_WHAT_IF = "Nothing to replay: no destination was exhausted."
# A gateway may call thousands of destinations; the report shows this many in full, the most
# affected first (the findings' order), and names the rest in one list.
SHOWN_DESTINATIONS = 20


def _minute(text: str | None) -> str:
    return "-" if text is None else text.replace("T", " ").removesuffix("Z")[:16]


def _words(classification: str) -> str:
    return md(classification.replace("_", " "))


def summary(findings: dict[str, Any]) -> str:
    """The verdict, the window and the destinations that matter, in a few lines."""
    window = findings["window"]
    lines = [
        f"## Verdict: {HEADLINES[findings['verdict']]}",
        "",
        f"**{md(findings['verdict_reason'])}.**",
        "",
        f"Window: {_minute(window['start'])} to {_minute(window['end'])} UTC; source: {md(findings['source'])}; "
        f"logging mode: {code(findings['mode'])}.",
        "",
    ]
    for query in findings["queries"]:
        for warning in query["warnings"]:
            lines += [
                f"**Warning: the result of {code(query['name'])} is incomplete, so the findings may be too.** "
                f"{md(warning)}.",
                "",
            ]
    for entry in shown(findings):
        if entry["classification"] == Classification.HEALTHY:
            continue
        lines.append(
            f"- **{md(entry['destination'])}**: {_words(entry['classification'])} from {_minute(entry['onset'])}"
            f" to {_minute(entry['recovery'])} UTC; {md(entry['reason'])}."
        )
    return "\n".join(lines)


def assumptions(findings: dict[str, Any]) -> str:
    """The SNAT demand model in plain words, with the figures it used."""
    a = findings["assumptions"]
    text = (
        "### How SNAT demand is estimated\n\n"
        f"Each backend connection takes one SNAT port for its destination IP and port. A closed connection keeps "
        f"its port for **{a['port_hold_minutes']} more minutes**, so the ports a destination needs at any minute are "
        f"about the connections it opened in the last {a['port_hold_minutes']} minutes. Connections opened are the "
        f"requests divided by **{a['requests_per_connection']:g} request(s) per connection** "
        f"(1 = no reuse, the worst case). "
        f"Capacity is **{a['snat_ports']:,} ports per unit x {a['units']} unit(s) = {a['snat_capacity']:,}** "
        f"per destination.\n\n"
        f"*Assumption:* Microsoft does not publish APIM's SNAT ports per unit (azure-docs issue #109030). "
        f"{a['snat_ports']:,} is the Azure Load Balancer default for pools of 1-50 instances; set "
        f"`--param snat_ports=...`, `units=...` and `requests_per_connection=...` to what you know."
    )
    empirical = findings["empirical_capacity"]
    if empirical:
        text += (
            "\n\n**Empirical capacity:** "
            + "; ".join(
                f"failures on {md(e['destination'])} began at an estimated {e['demand_at_onset']:,.0f} connections "
                f"({e['demand_at_onset'] / e['assumed_capacity']:.0%} of the assumed {e['assumed_capacity']:,})"
                for e in empirical
            )
            + ". A figure far from 100 % means the capacity or the reuse assumption is off."
        )
    return text


def destination_table(findings: dict[str, Any]) -> pd.DataFrame:
    """One row per destination, the columns a responder scans first."""
    rows = [
        {
            "destination": e["destination"],
            "classification": e["classification"],
            "requests": e["requests"],
            "HTTP 5xx": e["http_5xx"],
            "connection failures": e["connection_failures"],
            "failure share": f"{e['evidence']['failure_share']:.1%}",
            "p95 backend (ms)": None if e["p95_backend_ms"] is None else round(e["p95_backend_ms"]),
            "peak SNAT demand": round(e["peak_snat_demand"]),
            "onset (UTC)": _minute(e["onset"]),
            "recovery (UTC)": _minute(e["recovery"]),
        }
        for e in shown(findings)
    ]
    return pd.DataFrame(rows)


def shown(findings: dict[str, Any]) -> list[dict[str, Any]]:
    """The destinations the report shows in full: the first ``SHOWN_DESTINATIONS``, the affected ones first."""
    return findings["destinations"][:SHOWN_DESTINATIONS]


def not_shown(findings: dict[str, Any]) -> str:
    """The destinations beyond ``shown``, named with their classification and requests; empty when none."""
    rest = findings["destinations"][SHOWN_DESTINATIONS:]
    if not rest:
        return ""
    listed = "; ".join(
        f"{md(e['destination'])} ({_words(e['classification'])}, {e['requests']:,} requests)" for e in rest
    )
    return f"**{len(rest):,} more destinations**, not shown in full (every figure is in findings.json): {listed}."


def evidence(findings: dict[str, Any]) -> str:
    """Per affected destination: why it was classified so, check by check."""
    parts = []
    for entry in shown(findings):
        busy = "implied_min_requests_per_connection" in entry["evidence"]
        if entry["classification"] == Classification.HEALTHY and not busy:
            continue
        parts.append(f"#### {md(entry['destination'])}: {_words(entry['classification'])}\n\n{md(entry['reason'])}.")
        for check in entry["checks"]:
            mark = "pass" if check["passed"] else "FAIL"
            parts.append(f"- \\[{mark}\\] {code(check['name'])}: {md(check['detail'])}")
        others = entry["evidence"].get("other_destinations_failing")
        if others is not None:
            listed = ", ".join(md(name) for name in others) if others else "none"
            parts.append(f"- other destinations failing at the same time: {listed}")
    return "\n".join(parts) if parts else "No destination shows trouble."


def mitigations(findings: dict[str, Any]) -> str:
    """Numbered, in the order to try them, each with its reason."""
    items = findings["mitigations"]
    if not items:
        return NO_MITIGATION
    return "\n".join(f"{n}. **{md(m['title'])}** ({code(m['id'])}): {md(m['reason'])}." for n, m in enumerate(items, 1))


def timeline_table(findings: dict[str, Any]) -> pd.DataFrame:
    """Onsets, peaks and recoveries of every destination, in time order."""
    return pd.DataFrame(
        [
            {
                "time (UTC)": _minute(e["time"]),
                "destination": e["destination"],
                "event": e["event"],
                "classification": e["classification"].replace("_", " "),
            }
            for e in findings["timeline"]
        ]
    )


def queries_table(findings: dict[str, Any]) -> pd.DataFrame:
    """The appendix index: every query run, with mode, parameters, rows and duration."""
    return pd.DataFrame(
        [
            {
                "query": q["name"],
                "mode": q["mode"],
                "parameters": ", ".join(f"{k} = {v}" for k, v in q["parameters"].items()),
                "rows": q["rows"],
                "duration (s)": q["duration_s"],
            }
            for q in findings["queries"]
        ]
    )


def query_text(query: dict[str, Any]) -> str:
    """One query of the appendix: its name and mode, then its exact KQL in a code block."""
    return f"#### {md(query['name'])} ({md(query['mode'])})\n\n{code_block(query['kql'], 'kusto')}"
