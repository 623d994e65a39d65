"""The postmortem's frame: its title, and the sections a review goes through (detection, resolution, what went well,
what went wrong, lessons, owners), filled in where the data knows and marked ``FILL`` where only people do.

The title names the instance (from the logs' resource id, ``findings.instances``) and the incident
(``--param incident_id``). The notebook shows each section's known lines here and keeps the fill-ins in its own
Markdown cells, where a reviewer writes the answers. Pure: findings in, Markdown and frames out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.diagnosis.words import HEADLINES, WHAT, destination_name
from analysis.postmortem.body import minute_text
from analysis.postmortem.markup import md

#: How a fill-in reads, so nobody mistakes it for a finding.
FILL = "*[to fill in: {what}]*"
#: A fill-in cell of a table, kept on one line.
TO_FILL = "[to\N{NO-BREAK SPACE}fill\N{NO-BREAK SPACE}in]"
#: A note this close before a recovery is named as what may have ended the trouble.
RESOLVING_MINUTES = 10


def fill(what: str) -> str:
    """A marked fill-in.

    >>> fill("who")
    '*[to fill in: who]*'
    """
    return FILL.format(what=what)


def title(findings: dict[str, Any]) -> str:
    """``# Postmortem: SNAT port exhaustion on contoso-apim (INC-42)``, and the window it read."""
    instances = findings.get("instances") or []
    where = md(instances[0]) + (f" and {len(instances) - 1} more" if len(instances) > 1 else "") if instances else ""
    text = f"# Postmortem: {HEADLINES[findings['verdict']]}" + (f" on {where}" if where else "")
    if findings.get("incident_id"):
        text += f" ({md(findings['incident_id'])})"
    window = findings["window"]
    return (
        f"{text}\n\nFrom the API Management gateway logs of {minute_text(window['start'])} to "
        f"{minute_text(window['end'])} UTC, aggregated per backend destination (`host:port`), gateway region and "
        "minute: is it SNAT port exhaustion, on which destination, since when, how bad, why then, whom it hurt and "
        "what each owner does next."
    )


def _troubled(findings: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in findings["destinations"] if e["episodes"] and e["classification"] not in ("healthy", "unknown")]


def _first(findings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The destination and episode that began first."""
    found = [(e, x) for e in _troubled(findings) for x in e["episodes"]]
    return min(found, key=lambda pair: pair[1]["onset"]) if found else None


def detection(findings: dict[str, Any]) -> str:
    """When the trouble began, as the logs show it: the first onset, and the first minute with failed calls."""
    first = _first(findings)
    if first is None:
        return "- The logs show no trouble in this window."
    entry, episode = first
    seen = "" if episode.get("onset_observed", True) else " (or before: the data starts inside it)"
    lines = [
        f"- **First trouble in the logs:** {minute_text(episode['onset'])} UTC{seen}, "
        f"{WHAT[entry['classification']]} on {md(destination_name(entry))}."
    ]
    failing = [
        (x["onset"], e) for e in _troubled(findings) for x in e["episodes"] if e["classification"] != "slow_backend"
    ]
    if failing:
        onset, entry = min(failing, key=lambda pair: pair[0])
        lines.append(f"- **First failed calls:** {minute_text(onset)} UTC, on {md(destination_name(entry))}.")
    return "\n".join(lines)


def resolution(findings: dict[str, Any]) -> str:
    """When each troubled destination recovered, and the notes just before it (what may have ended it)."""
    lines = []
    notes = findings.get("annotations", [])
    for entry in _troubled(findings):
        last = max(entry["episodes"], key=lambda x: x["onset"])
        if last["recovery"] is None:
            lines.append(f"- {md(destination_name(entry))}: not recovered by the end of the window.")
            continue
        recovery = pd.Timestamp(last["recovery"].removesuffix("Z"))
        near = [
            n
            for n in notes
            if recovery - pd.Timedelta(minutes=RESOLVING_MINUTES)
            <= pd.Timestamp(n["time"].removesuffix("Z"))
            <= recovery
        ]
        text = f"- {md(destination_name(entry))}: recovered at {minute_text(last['recovery'])} UTC"
        if near:
            text += "; just before it: " + "; ".join(f"{n['time'][11:16]} {md(n['label'])}" for n in near)
        lines.append(text + ".")
    return "\n".join(lines) or "- Nothing to recover from in this window."


def went_well(findings: dict[str, Any]) -> str:
    """What the data shows went well: destinations that stayed healthy, trouble that ended."""
    healthy = [e for e in findings["destinations"] if e["classification"] == "healthy"]
    lines = []
    if healthy:
        named = ", ".join(md(destination_name(e)) for e in healthy[:5])
        more = f" and {len(healthy) - 5} more" if len(healthy) > 5 else ""
        lines.append(f"- {len(healthy)} destination(s) stayed healthy throughout: {named}{more}.")
    impact = findings["impact"]
    if impact["affected"] and impact["recovered"]:
        lines.append("- Every troubled destination recovered within the window.")
    return "\n".join(lines)


def went_wrong(findings: dict[str, Any]) -> str:
    """What the data shows went wrong: per cause, its failed calls and minutes; the triggers that rose."""
    impact = findings["impact"]
    lines = [
        f"- {WHAT[c['classification']]}: {c['destinations']} destination(s), {c['minutes']} minutes from "
        f"{minute_text(c['first_onset'])} UTC, {c['failed_requests_during']:,} failed calls."
        for c in impact["by_cause"]
    ]
    for t in findings["trigger"]:
        if t["factor"] is not None and t["drivers"]:
            lines.append(f"- Nothing held back the rise: {md(t['statement'])}.")
    unguarded = [m for m in findings["mitigations"] if m["id"] == "rate_limit_by_key"]
    if unguarded:
        lines.append("- No rate-limit-by-key kept the few callers who sent most of the calls within the ports.")
    return "\n".join(lines)


def owners_table(findings: dict[str, Any]) -> pd.DataFrame:
    """Every action with its destination and the role that owns it; the name and the date are fill-ins."""
    rows = [
        {
            "action": action["title"],
            "destination": entry["destination"],
            "region": entry["region"] or "-",
            "owner (role)": action["owner"],
            "owner (name)": TO_FILL,
            "due": TO_FILL,
        }
        for entry in findings["destinations"]
        for action in entry["actions"]
    ]
    return pd.DataFrame(rows, columns=["action", "destination", "region", "owner (role)", "owner (name)", "due"])
