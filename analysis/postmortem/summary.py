"""The postmortem's first screen, in plain words, and its incident timeline (pure: findings in, text out).

The executive summary is for people who will read nothing else: the verdict, the destinations
affected, when (onset, peak, recovery, duration), how bad (failed requests and their share, overall
and per destination, with the latency before and during) and the one action to take first. Every
figure comes from the findings document (``impact`` above all); every string from the logs goes
through ``markup.md``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assessment import Classification
from analysis.diagnosis.callers import KEY_WORDS
from analysis.diagnosis.verdict import Outcome
from analysis.diagnosis.words import HEADLINES, WHAT, destination_name
from analysis.postmortem.answers import hurt_lines
from analysis.postmortem.body import NOT_RECOVERED, minute_text, ms
from analysis.postmortem.markup import code, md

NOTHING_TO_DO = "Nothing: no destination shows trouble in this window"
EXPORT_COLUMNS = (
    "Export the gateway logs again with the columns named below, from a diagnostic setting at verbosity "
    "'information', and render the report again"
)
WIDEN_WINDOW = "Render the report over a longer or busier window: this one holds too little traffic to judge"


def _time(text: str | None, day: bool = True) -> str:
    """``2025-02-25 09:23`` (``09:23`` without ``day``), or ``-``."""
    minute = minute_text(text)
    return minute if day or text is None else minute[11:]


def _share(part: int, whole: int) -> str:
    """A share as people write it, kept on one line: ``46.8\N{NO-BREAK SPACE}%``."""
    return f"{part / whole:.1%}".replace("%", "\N{NO-BREAK SPACE}%") if whole else "0\N{NO-BREAK SPACE}%"


def _name(entry: dict[str, Any]) -> str:
    """The destination with its region, as Markdown text."""
    return md(destination_name(entry))


def _entries(findings: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["region"], e["destination"]): e for e in findings["destinations"]}


def _span(entry: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """First onset, the worst episode's peak and the last recovery (None when one did not recover)."""
    episodes = entry["episodes"]
    if not episodes:
        return entry["onset"], entry["peak"], entry["recovery"]
    recoveries = [e["recovery"] for e in episodes]
    last = None if None in recoveries else max(recoveries)
    return min(e["onset"] for e in episodes), entry["peak"], last


def _first_seen(entry: dict[str, Any]) -> bool:
    """Whether the first episode's onset is in the data (not the data's first minute)."""
    episodes = entry["episodes"]
    return min(episodes, key=lambda e: e["onset"]).get("onset_observed", True) if episodes else True


def onset_text(onset: str | None, observed: bool, day: bool = True) -> str:
    """The onset as people read it, or that it lies before the data starts.

    >>> onset_text("2025-02-25T09:25:00Z", False)
    'before 2025-02-25 09:25 (the data starts inside the episode)'
    """
    return _time(onset, day) if observed else f"before {_time(onset, day)} (the data starts inside the episode)"


def how_sure(findings: dict[str, Any]) -> list[str]:
    """How sure the verdict is, what decided it, what counts against it, and over which values it holds.

    The lead is the most affected destination whose failed connects were weighed as SNAT or not.
    """
    if findings.get("confidence") is None:
        return []
    weighed = [
        e
        for e in findings["destinations"]
        if e["classification"] in (Classification.SNAT_EXHAUSTION, Classification.BACKEND_UNREACHABLE) and e["checks"]
    ]
    if not weighed:
        return [f"- **How sure:** {findings['confidence']}."]
    lead = weighed[0]
    against = [c for c in lead["checks"] if c["outcome"] == "failed"]
    text = f"- **How sure:** {findings['confidence']}; decided by {', '.join(code(n) for n in lead['decided_by'])}"
    if against and lead["classification"] == Classification.SNAT_EXHAUSTION:
        text += "; against it: " + ", ".join(f"{code(c['name'])} ({_weight(c['weight'])})" for c in against)
    if lead["alternatives"]:
        text += f"; it cannot rule out {' or '.join(WHAT[a] for a in lead['alternatives'])}"
    if not _first_seen(lead):
        text += "; the data starts inside the episode, so how it began is not in it"
    lines = [text + "."]
    holds = lead["holds_if"]
    if holds is not None and lead["classification"] == Classification.SNAT_EXHAUSTION:
        lines.append(f"- **Holds if:** {md(holds['statement'])}.")
        if holds["contradiction"]:
            lines.append(f"- **Contradiction:** {md(holds['contradiction'])}.")
        lines.append(f"- **To confirm:** {md('; '.join(holds['confirm']))}.")
    return lines


def _weight(weight: float) -> str:
    return "decisive" if weight >= 10 else "strong" if weight >= 2 else "weak"


def first_action(findings: dict[str, Any]) -> str:
    """The one thing to do first, as Markdown: the first mitigation (with what it needs of the instance), else the
    most affected destination's first action, else what the verdict asks for."""
    if findings["mitigations"]:
        first = findings["mitigations"][0]
        needs = f". *Needs:* {md(first['condition'])}" if first.get("condition") else ""
        return f"**{md(first['title'])}**: {md(first['reason'])}{needs}"
    if findings["missing"]:
        return EXPORT_COLUMNS
    affected = findings["impact"]["affected"]
    if findings["verdict"] == Outcome.INSUFFICIENT_DATA and not affected:
        return WIDEN_WINDOW
    entries = _entries(findings)
    for row in affected:
        actions = entries[(row["region"], row["destination"])].get("actions") or []
        if actions:
            return f"**{md(actions[0]['title'])}** ({md(actions[0]['owner'])}): {md(actions[0]['why'])}"
    return NOTHING_TO_DO


def _when(findings: dict[str, Any]) -> str:
    """Onset, peak, recovery and duration of the most affected destination, then each other one's own minutes:
    troubles of different causes are never added into one span."""
    impact = findings["impact"]
    entries = _entries(findings)
    lead = impact["affected"][0]
    entry = entries[(lead["region"], lead["destination"])]
    onset, peak, recovery = _span(entry)
    end = f"recovered at {_time(recovery, day=False)} UTC" if recovery else NOT_RECOVERED
    begun = f"from {_time(onset)} UTC" if _first_seen(entry) else f"from {onset_text(onset, False)}"
    text = (
        f"{_name(lead)}: {WHAT[lead['classification']]} {begun}, peak at {_time(peak, day=False)}, "
        f"{end}: {lead['minutes_affected']} minutes"
    )
    for row in impact["affected"][1:]:
        first, _, last = _span(entries[(row["region"], row["destination"])])
        until = f"{_time(last, day=False)}" if last else "the end of the window"
        text += (
            f"; {_name(row)}: {WHAT[row['classification']]} from {_time(first, day=False)} to {until} "
            f"({row['minutes_affected']} minutes)"
        )
    return text


def why_now(findings: dict[str, Any]) -> str:
    """What changed before the most affected destination's worst episode, in its trigger's sentence ("" when its
    trigger was not looked for)."""
    impact = findings["impact"]
    if not impact["affected"]:
        return ""
    lead = impact["affected"][0]
    entry = _entries(findings)[(lead["region"], lead["destination"])]
    own = [t for t in findings["trigger"] if (t["region"], t["destination"]) == (lead["region"], lead["destination"])]
    worst = [t for t in own if t["onset"] == entry["onset"]] or own
    return md(worst[0]["statement"]) if worst else ""


def _causes(findings: dict[str, Any]) -> str:
    """Each cause's failed calls and its own minutes: ``SNAT port exhaustion: 4,318 failed calls in 17 minutes``."""
    return "; ".join(
        f"{WHAT[c['classification']]}: {c['failed_requests_during']:,} failed calls in {c['minutes']} minutes"
        for c in findings["impact"]["by_cause"]
    )


def _impact_line(findings: dict[str, Any]) -> str:
    """Failed requests overall, then for the most affected destination during its episodes, with its p95."""
    impact = findings["impact"]
    text = (
        f"{impact['failed_requests']:,} of {impact['requests']:,} requests failed "
        f"({_share(impact['failed_requests'], impact['requests'])}) over the window (HTTP 5xx and calls that "
        "could not connect or got no answer)"
    )
    if impact["by_cause"]:
        text += f" ({_causes(findings)})"
    if impact["affected"]:
        lead = impact["affected"][0]
        text += (
            f"; {_name(lead)} failed {lead['failed_requests_during']:,} of its {lead['requests_during']:,} calls "
            f"({_share(lead['failed_requests_during'], lead['requests_during'])}) during its "
            f"{lead['minutes_affected']} minutes of trouble"
        )
        before, during = lead["answered_p95_ms_before"], lead["answered_p95_ms_during"]
        if before is not None or during is not None:
            text += f"; answered calls' p95 {ms(before)} before, {ms(during)} during"
    return text


def executive_summary(findings: dict[str, Any]) -> str:
    """The verdict and the incident in a few plain lines, for the first screen of the postmortem."""
    impact = findings["impact"]
    affected = impact["affected"]
    lines = [
        "## Executive summary",
        "",
        f"### Verdict: {HEADLINES[findings['verdict']]}"
        + (f" ({findings['confidence']} confidence)" if findings.get("confidence") else ""),
        "",
        f"**{md(findings['verdict_reason'])}.**",
        "",
    ]
    lines += how_sure(findings)
    if affected:
        entries = _entries(findings)
        listed = "; ".join(
            f"{_name(e)}: {WHAT[e['classification']]} ({entries[(e['region'], e['destination'])]['confidence']})"
            for e in affected
        )
        lines.append(f"- **Affected:** {listed}.")
        lines.append(f"- **When:** {_when(findings)}.")
        why = why_now(findings)
        if why:
            lines.append(f"- **Why then:** {why}.")
    else:
        lines.append("- **Affected:** no destination.")
    lines.append(f"- **Impact:** {_impact_line(findings)}.")
    hurt = hurt_lines(findings)
    if hurt:
        lines.append(f"- **Who was hurt:** {hurt}.")
    for note in findings.get("units_noted", []):
        label = "Units" if note["agrees"] else "Units disagree"
        lines.append(f"- **{label}:** {md(note['statement'])}.")
    lines.append(f"- **Do first:** {first_action(findings)}.")
    lines.append("")
    for query in findings["queries"]:
        for warning in query["warnings"]:
            lines += [
                f"**Warning: the result of {code(query['name'])} is incomplete, so the findings may be too.** "
                f"{md(warning)}.",
                "",
            ]
    if findings["missing"]:
        lines += ["**What the logs lack:**", "", *[f"- {md(m)}" for m in findings["missing"]], ""]
    return "\n".join(lines)


def affected_table(findings: dict[str, Any]) -> pd.DataFrame:
    """Per affected destination: what, when, for how long, its failed requests and its latency before and during."""
    entries = _entries(findings)
    rows = []
    for row in findings["impact"]["affected"]:
        entry = entries[(row["region"], row["destination"])]
        onset, peak, recovery = _span(entry)
        rows.append(
            {
                "destination": row["destination"],
                "region": row["region"] or "-",
                "what": WHAT[row["classification"]],
                "confidence": entry["confidence"],
                "onset (UTC)": _time(onset) if _first_seen(entry) else f"before {_time(onset)}",
                "peak": _time(peak, day=False),
                "recovery": _time(recovery, day=False) if recovery else "not recovered",
                "minutes": row["minutes_affected"],
                "failed during": f"{row['failed_requests_during']:,} of {row['requests_during']:,} "
                f"({_share(row['failed_requests_during'], row['requests_during'])})",
                "answered p95 before": ms(row["answered_p95_ms_before"]),
                "answered p95 during": ms(row["answered_p95_ms_during"]),
                "failed connects ended": _connects_ended(entry),
            }
        )
    return pd.DataFrame(rows)


def _connects_ended(entry: dict[str, Any]) -> str:
    """When a destination's failed connects gave up: under a second (refused, reset), or at the connect timer;
    "-" without failed connects. Kept apart from the answered calls' latency."""
    if not entry["connection_failures"]:
        return "-"
    fast = entry["evidence"].get("share_fast")
    if fast is not None and fast >= 0.5:
        return "under 1 s (refused or reset)"
    timer = entry["connect_timer_s"]
    return f"at {timer:g} s (the connect timer)" if timer is not None else "at no one timer"


def incident_timeline(findings: dict[str, Any], annotations: list[Annotation]) -> pd.DataFrame:
    """Every episode of every affected destination and every annotation, in time order: one row each."""
    rows = []
    for entry in findings["destinations"]:
        for episode in entry["episodes"]:
            name = destination_name(entry)
            seen = episode.get("onset_observed", True)
            rows.append(
                {
                    "at": _time(episode["onset"]),
                    "from (UTC)": _time(episode["onset"]) if seen else f"before {_time(episode['onset'])}",
                    "until (UTC)": _time(episode["recovery"]) if episode["recovery"] else NOT_RECOVERED,
                    "what": f"{WHAT[entry['classification']]} on {name}, peak at {_time(episode['peak'], day=False)}",
                    "kind": "episode",
                }
            )
    for trigger in findings.get("trigger", []):
        if trigger["change_at"] is None:
            continue
        sent = ", ".join(f"{KEY_WORDS[d['key_kind']]} {d['key']}" for d in trigger["drivers"][:2])
        rows.append(
            {
                "at": _time(trigger["change_at"]),
                "from (UTC)": _time(trigger["change_at"]),
                "until (UTC)": "",
                "what": f"calls to {destination_name(trigger)} rose {trigger['factor']:.1f}x"
                + (f", sent by {sent}" if sent else ""),
                "kind": "change",
            }
        )
    for note in annotations:
        rows.append(
            {
                "at": note.time.strftime("%Y-%m-%d %H:%M"),
                "from (UTC)": note.time.strftime("%Y-%m-%d %H:%M"),
                "until (UTC)": note.end.strftime("%Y-%m-%d %H:%M") if note.end is not None else "",
                "what": note.label,
                "kind": "note",
            }
        )
    frame = pd.DataFrame(rows, columns=["at", "from (UTC)", "until (UTC)", "what", "kind"])
    ordered = frame.sort_values(["at", "kind"], kind="stable", ignore_index=True)
    return ordered.drop(columns="at")
