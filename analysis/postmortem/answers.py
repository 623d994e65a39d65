"""The postmortem's answers to "why now", "who was hurt" and "what does each owner do", from the findings.

What changed before each onset (``findings.trigger``), whom the failures reached per subscription, API, product and
operation (``impact.by_*``), and the actions per troubled destination (``destinations[].actions``). Every figure is
the findings' own, so each shows the value the summary quotes; every string from the logs goes through
``markup.md`` or a table that escapes it. Pure: findings in, Markdown and frames out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import Markdown

from analysis.diagnosis.callers import KEY_WORDS
from analysis.diagnosis.words import WHAT, destination_name
from analysis.postmortem.body import minute_text, ms
from analysis.postmortem.markup import code, md, report_table

#: Rows per destination in the "who was hurt" tables; the rest are summed in one row.
TOP_KEYS = 5
OTHERS = "(the other keys)"
NO_CHANGE = "No troubled destination in this window: nothing to compare."


def _hhmm(text: str | None) -> str:
    return "-" if text is None else minute_text(text)[11:]


def trigger_table(findings: dict[str, Any]) -> pd.DataFrame:
    """Per affected destination and episode: its onset, the calls a minute before and after the change, the keys
    that sent the rise, the answered calls' p95 before and just before the onset, and the notes in those minutes."""
    rows = []
    for t in findings["trigger"]:
        factor = f"{t['factor']:.1f}x at {_hhmm(t['change_at'])}" if t["factor"] is not None else "no rise"
        rows.append(
            {
                "destination": t["destination"],
                "region": t["region"] or "-",
                "what": WHAT[t["classification"]],
                "onset (UTC)": minute_text(t["onset"]) if t["onset_observed"] else f"before {minute_text(t['onset'])}",
                "calls / min before": t["baseline_per_minute"],
                "calls / min after": t["peak_per_minute"],
                "change": factor,
                "sent by": "; ".join(
                    f"{KEY_WORDS[d['key_kind']]} {d['key']} ({d['share_of_rise']:.0%})" for d in t["drivers"][:3]
                )
                or "-",
                "answered p95 before": ms(t["answered_p95_before_ms"]),
                "answered p95 just before onset": ms(t["answered_p95_lead_ms"]),
                "notes": "; ".join(f"{n['time'][11:16]} {n['label']}" for n in t["notes"]) or "-",
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("calls / min before", "calls / min after"):  # whole calls; a missing one shows as "-"
        if column in frame:
            frame[column] = frame[column].astype("Float64").round().astype("Int64")
    return frame


def trigger_lines(findings: dict[str, Any]) -> str:
    """Each trigger's sentence, as a list."""
    if not findings["trigger"]:
        return NO_CHANGE
    return "\n".join(f"- {md(t['statement'])}." for t in findings["trigger"])


def hurt_table(findings: dict[str, Any], kind: str, top: int = TOP_KEYS) -> pd.DataFrame:
    """Whom the failures reached, per key of ``kind`` (``api``, ``operation``, ``product``, ``subscription``): per
    affected destination (in the summary's order) its ``top`` keys with the most failed calls during its episodes,
    the rest in one row, so a destination's rows add up to its failed calls in the summary."""
    rows = []
    for affected in findings["impact"]["affected"]:
        key = (affected["region"], affected["destination"])
        own = [r for r in findings["impact"][f"by_{kind}"] if (r["region"], r["destination"]) == key]
        named = [r for r in own if r["key"] is not None][:top]
        rest = [r for r in own if r not in named]
        for row in [*named, _summed(rest)] if rest else named:
            rows.append(
                {
                    KEY_WORDS[kind]: OTHERS if row["key"] is None else row["key"] or "(none)",
                    "destination": affected["destination"],
                    "region": affected["region"] or "-",
                    "what": WHAT[affected["classification"]],
                    "failed calls": row["failed_requests"],
                    "of its calls": row["requests"],
                    "failed share": f"{row['failure_share']:.1%}",
                    "complete": "yes" if row["complete"] else "no: part of the episode was not queried",
                }
            )
    return pd.DataFrame(rows)


#: The kinds "who was hurt" breaks the failures down by, with their headings, in the order the report shows them.
HURT_KINDS = {"subscription": "By subscription", "api": "By API", "product": "By product", "operation": "By operation"}


def hurt_section(findings: dict[str, Any]) -> list[Any]:
    """What the report shows under "Who was hurt": per kind, its heading and its table (or a line saying there is
    nothing to break down)."""
    shown: list[Any] = []
    for kind, heading in HURT_KINDS.items():
        table = hurt_table(findings, kind)
        shown.append(Markdown(f"#### {heading}"))
        shown.append(report_table(table) if len(table) else Markdown("No failed call to break down."))
    return shown


def _summed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    requests, failed = sum(r["requests"] for r in rows), sum(r["failed_requests"] for r in rows)
    return {
        "key": None,
        "requests": requests,
        "failed_requests": failed,
        "failure_share": failed / requests if requests else 0.0,
        "complete": all(r["complete"] for r in rows),
    }


def hurt_lines(findings: dict[str, Any]) -> str:
    """One line per affected destination: the subscriptions and APIs its failures reached most, for notifying."""
    lines = []
    impact = findings["impact"]
    for row in impact["affected"]:
        if not row["failed_requests_during"]:
            continue
        key = (row["region"], row["destination"])
        subscriptions = [r for r in impact["by_subscription"] if (r["region"], r["destination"]) == key and r["key"]]
        apis = [r for r in impact["by_api"] if (r["region"], r["destination"]) == key and r["key"]]
        named = ", ".join(
            f"{md(r['key'])} ({r['failed_requests']:,})" for r in subscriptions[:3] if r["failed_requests"]
        )
        via = ", ".join(f"{md(r['key'])} ({r['failed_requests']:,})" for r in apis[:3] if r["failed_requests"])
        if named or via:
            lines.append(
                f"{md(destination_name(row))}: {row['failed_requests_during']:,} failed calls"
                + (f", most to subscriptions {named}" if named else "")
                + (f", through APIs {via}" if via else "")
            )
    return "; ".join(lines)


def _most_failed(rows: list[dict[str, Any]], key: tuple[str, str], top: int = 3) -> str:
    """The ``top`` keys of one destination with failed calls, as ``key (count)``."""
    own = [r for r in rows if (r["region"], r["destination"]) == key and r["key"] and r["failed_requests"]]
    return ", ".join(f"{md(r['key'])} ({r['failed_requests']:,})" for r in own[:top])


def actions_markdown(findings: dict[str, Any]) -> str:
    """Per troubled destination, its actions numbered in the order to try them: what, who, why, where to confirm,
    and what it needs of the instance."""
    parts = []
    for entry in findings["destinations"]:
        if not entry["actions"]:
            continue
        parts.append(
            f"#### {md(destination_name(entry))}: {WHAT[entry['classification']]} ({entry['confidence']} confidence)"
        )
        for n, action in enumerate(entry["actions"], 1):
            text = f"{n}. **{md(action['title'])}** ({md(action['owner'])}): {md(action['why'])}."
            text += f" *Confirm:* {_confirm(action['confirm'])}."
            if action["condition"]:
                text += f" *Needs:* {md(action['condition'])}."
            parts.append(text)
        parts.append("")
    return "\n".join(parts) if parts else "No destination shows trouble: nothing to do."


def _confirm(text: str) -> str:
    """Where to confirm: a command as code (it is pasted), the rest as text."""
    head, sep, command = text.partition("KQL: apim-snat ")
    if not sep:
        return md(text)
    query, _, rest = command.partition("; ")
    return f"{md(head)}KQL: {code('apim-snat ' + query)}" + (f"; {md(rest)}" if rest else "")
