"""The postmortem's appendix: where the figures came from, so a reader can check them later.

The source as the findings describe it (a file by its name, the workspace or cluster: never a
local path), the window, the assumptions and options the run used, the kit's version, and every
query with its parameters, rows, duration and completeness, its exact KQL, and (for an Azure
source whose resource id is known) a link that opens it in the Azure portal (``portal``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.postmortem.markup import code, code_block, md
from analysis.postmortem.portal import query_link
from analysis.times import parse_utc

NO_LINK = (
    "No portal links: the queries ran on a local export, a workspace known by its id alone, or Azure Data "
    "Explorer (a link needs the resource id: give a `loganalytics-resource:` source or `--metrics-resource`)."
)
REDACTED_LINK = "No portal links: the report was redacted for readers outside the team."


def provenance(findings: dict[str, Any], ip_map: str = "", annotations: int = 0, redacted: bool = False) -> str:
    """Source, mode, window, kit version and every assumption, as Markdown.

    ``ip_map`` is the map's file name as the report shows it ("" for none).
    """
    window = findings["window"]
    assumptions = ", ".join(f"{code(name)} = {md(value)}" for name, value in findings["assumptions"].items())
    lines = [
        f"- **Source:** {md(findings['source'])}, logging mode {code(findings['mode'])}",
        f"- **Window:** {md(window['start'])} to {md(window['end'])} (end excluded)",
        f"- **Assumptions:** {assumptions}",
        f"- **IP map:** {code(ip_map) if ip_map else 'none (each host taken as one IP)'}; "
        f"**annotations:** {annotations}; **redacted:** {'yes' if redacted else 'no'}",
        f"- **Kit version:** apim-snat {md(findings['kit_version'])}",
    ]
    return "\n".join(lines)


def queries_table(findings: dict[str, Any]) -> pd.DataFrame:
    """Every query run, with mode, parameters, rows, duration and whether its result was complete."""
    return pd.DataFrame(
        [
            {
                "query": q["name"],
                "mode": q["mode"],
                "parameters": ", ".join(f"{k} = {v}" for k, v in q["parameters"].items()),
                "rows": q["rows"],
                "duration (s)": q["duration_s"],
                "complete": "yes" if q["complete"] else "no: cut short by the service",
            }
            for q in findings["queries"]
        ]
    )


def query_text(query: dict[str, Any], link: str = "") -> str:
    """One query: its name and mode, the portal link when there is one, then its exact KQL in a code block."""
    opened = f"[Open in the Azure portal]({link})\n\n" if link else ""
    return f"#### {md(query['name'])} ({md(query['mode'])})\n\n{opened}{code_block(query['kql'], 'kusto')}"


def queries(findings: dict[str, Any], portal_resource: str = "", redacted: bool = False) -> list[str]:
    """Every query's text for the appendix, each linked to the portal when ``portal_resource`` is known and the
    report is not redacted (the resource id names the Azure subscription); first, a line when there are no links."""
    window = (parse_utc(findings["window"]["start"]), parse_utc(findings["window"]["end"]))
    texts = [REDACTED_LINK] if redacted else [] if portal_resource else [NO_LINK]
    linked = portal_resource and not redacted
    return texts + [
        query_text(q, query_link(portal_resource, q["kql"], window) if linked else "") for q in findings["queries"]
    ]
