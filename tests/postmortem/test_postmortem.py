"""The postmortem's words: the executive summary, the incident timeline and the appendix, from the findings."""

from __future__ import annotations

import base64
import copy
import gzip
import re
from urllib.parse import unquote

import pytest

from analysis.diagnosis.annotations import from_option
from analysis.investigation.run import Investigation, investigate
from analysis.postmortem import appendix, portal, summary
from analysis.sources import open_source

RESOURCE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.OperationalInsights/workspaces/w"


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


def test_the_summary_says_what_when_how_bad_and_what_first(found):
    text = summary.executive_summary(found.findings)
    impact = found.findings["impact"]
    lead = impact["affected"][0]
    assert text.startswith("## Executive summary\n\n### Verdict: SNAT port exhaustion")
    assert f"{impact['failed_requests']:,} of {impact['requests']:,} requests failed" in text
    assert f"failed {lead['failed_requests_during']:,} of its {lead['requests_during']:,} calls" in text
    assert "from 2025-02-25 09:23 UTC, peak at 09:24, recovered at 09:40 UTC: 17 minutes" in text
    assert "- **Do first:** **Scale out to 3 units in West Europe**" in text
    assert "*Needs:* needs a tier that allows 3 units per region" in text  # no --param tier: what it needs


def plain(markdown: str) -> str:
    """The Markdown's text as it reads: the escapes of ``markup.md`` undone."""
    return re.sub(r"\\(.)", r"\1", markdown)


def test_the_summary_says_why_then_and_who_was_hurt_and_never_one_span_over_every_cause(found):
    text = plain(summary.executive_summary(found.findings))
    assert "- **Why then:** at 09:21 calls to orders.contoso-backend.com:443 (West Europe) rose 6.5x" in text
    assert "subscription partner-bulk-sync sent 46% of the rise" in text
    assert "- **Who was hurt:** orders.contoso-backend.com:443 (West Europe): 4,318 failed calls, most to " in text
    assert "partner-bulk-sync (1,669)" in text and "through APIs orders-api (4,318)" in text
    assert "All trouble together" not in text and "80 minutes" not in text
    assert "backend unreachable from 09:00 to 09:05 (5 minutes)" in text
    assert "slow backend from 08:50 to 09:15 (25 minutes)" in text
    assert "SNAT port exhaustion: 4,318 failed calls in 17 minutes; backend unreachable: 141 failed calls" in text


def test_the_first_action_follows_what_the_logs_can_tell(found):
    document = copy.deepcopy(found.findings)
    document["mitigations"], document["missing"] = [], ["LastErrorReason"]
    assert summary.first_action(document) == summary.EXPORT_COLUMNS
    document["missing"] = []
    document["impact"]["affected"] = [
        e for e in document["impact"]["affected"] if e["classification"] != "snat_exhaustion"
    ]
    first = summary.first_action(document)  # backend unreachable first: its first action, with its owner
    assert first.startswith("**Check that search\\.cloudapp\\.azure\\.com was up") and "(backend owner)" in first
    document["impact"]["affected"], document["verdict"] = [], "insufficient_data"
    assert summary.first_action(document) == summary.WIDEN_WINDOW


def test_the_affected_table_has_one_row_per_affected_destination(found):
    table = summary.affected_table(found.findings)
    assert list(table["destination"]) == [e["destination"] for e in found.findings["impact"]["affected"]]
    assert table.loc[0, "recovery"] == "09:40" and table.loc[0, "answered p95 during"].endswith(" ms")
    # The failed connects' wait is kept apart from the answered calls' latency, one figure each.
    rows = found.findings["impact"]["affected"]
    assert list(table["answered p95 during"]) == [f"{r['answered_p95_ms_during']:,.0f} ms" for r in rows]
    assert list(table["failed connects ended"]) == [
        "at 21 s (the connect timer)",
        "under 1 s (refused or reset)",
        "-",
        "-",
    ]


def test_the_timeline_interleaves_episodes_and_notes_in_time_order(found):
    notes = [from_option("2025-02-25T09:40Z=deploy <b>v2</b>"), from_option("2025-02-25T08:31Z/2025-02-25T08:40Z=x")]
    timeline = summary.incident_timeline(found.findings, notes)
    assert list(timeline["from (UTC)"]) == sorted(timeline["from (UTC)"])
    assert list(timeline["kind"]).count("note") == 2 and timeline.loc[0, "what"] == "x"
    assert "deploy <b>v2</b>" in set(timeline["what"])  # data: the table escapes it where it is shown
    episodes = sum(len(e["episodes"]) for e in found.findings["destinations"])
    assert list(timeline["kind"]).count("episode") == episodes
    (change,) = timeline[timeline["kind"] == "change"].itertuples()
    assert change[1] == "2025-02-25 09:21" and "rose 6.5x, sent by subscription partner-bulk-sync" in change.what


def test_the_appendix_names_the_source_without_a_path_and_lists_every_query(found):
    text = appendix.provenance(found.findings, "hosts.csv", annotations=2)
    assert "local file gateway\\_logs\\.parquet" in text and "/tmp" not in text
    assert "<code>hosts\\.csv</code>" in text and "**annotations:** 2" in text
    table = appendix.queries_table(found.findings)
    assert list(table["query"]) == [q["name"] for q in found.findings["queries"]] and set(table["complete"]) == {"yes"}


def test_portal_links_open_each_query_on_the_window_and_only_when_they_can(found):
    texts = appendix.queries(found.findings, RESOURCE)
    assert len(texts) == len(found.findings["queries"]) and all("[Open in the Azure portal](" in t for t in texts)
    link = texts[0].split("](", 1)[1].split(")", 1)[0]
    assert link.startswith(f"{portal.PORTAL}/resourceId/%2Fsubscriptions%2Fs%2FresourceGroups%2Fg%2F")
    encoded = link.split("/q/", 1)[1].split("/timespan/", 1)[0]
    assert gzip.decompress(base64.b64decode(unquote(unquote(encoded)))).decode() == found.findings["queries"][0]["kql"]
    assert unquote(link.rsplit("/timespan/", 1)[1]) == "2025-02-25T08:30:00.000Z/2025-02-25T10:30:00.000Z"
    assert appendix.queries(found.findings, "")[0] == appendix.NO_LINK
    assert appendix.queries(found.findings, RESOURCE, redacted=True)[0] == appendix.REDACTED_LINK
    assert not any("portal.azure.com" in t for t in appendix.queries(found.findings, RESOURCE, redacted=True))
