"""The report's words: every string from the findings stays text, and a crowd of destinations stays short."""

from __future__ import annotations

import copy
import re
from typing import Any

from nbconvert.filters.markdown_mistune import markdown2html_mistune

from analysis.postmortem import answers, appendix, body, markup, review, summary
from analysis.report.html_page import clean_html

HOSTILE = "<img src=x onerror=alert(1)>[x](javascript:alert(1))![t](http://h/b.png)\n# h\n`c` *e* $\\foo$"


def destination(name: str, classification: str = "healthy", requests: int = 500) -> dict[str, Any]:
    affected = classification != "healthy"
    episode = {
        "onset": "2025-02-25T09:20:00Z",
        "peak": "2025-02-25T09:25:00Z",
        "recovery": None,
        "failures": 3,
        "requests": 300,
    }
    return {
        "destination": name,
        "region": f"{name} region" if affected else "",
        "pool": f"{name} pool",
        "classification": classification,
        "confidence": "medium",
        "decided_by": [f"check {name}"] if affected else ["no_sustained_trouble"],
        "alternatives": ["backend_unreachable"] if affected else [],
        "reason": f"because {name}",
        "requests": requests,
        "http_5xx": 3 if affected else 0,
        "connection_failures": 3 if affected else 0,
        "p95_backend_ms": 80.0,
        "peak_demand_low": 2.0,
        "peak_snat_demand": 10.0,
        "onset": episode["onset"] if affected else None,
        "peak": None,
        "recovery": None,
        "onset_observed": True if affected else None,
        "connect_timer_s": 21.0 if affected else None,
        "holds_if": {
            "statement": f"statement {name}",
            "contradiction": f"contradiction {name}",
            "look_alike": f"look-alike {name}",
            "confirm": [f"confirm {name}"],
        }
        if affected
        else None,
        "episodes": [episode] if affected else [],
        "evidence": {"failure_share": 0.01, "other_destinations_failing": [name] if affected else None},
        "checks": [{"name": f"check {name}", "outcome": "failed", "weight": 1.0, "detail": f"detail {name}"}]
        if affected
        else [],
        "actions": [
            {
                "id": "x",
                "title": f"do {name}",
                "why": f"why {name}",
                "confirm": f"look at {name}; KQL: apim-snat queries show request_rows --param 'destination={name}'",
                "owner": "backend owner",
                "mitigation": None,
                "condition": f"needs {name}",
            }
        ]
        if affected
        else [],
    }


def impact_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An affected destination's line of ``impact.affected``, as findings.json carries it."""
    return {
        "destination": entry["destination"],
        "region": entry["region"],
        "classification": entry["classification"],
        "requests": entry["requests"],
        "failed_requests": 6,
        "failure_share": 6 / entry["requests"],
        "episodes": len(entry["episodes"]),
        "minutes_affected": 40,
        "requests_during": 300,
        "failed_requests_during": 6,
        "answered_p95_ms_before": 80.0,
        "answered_p95_ms_during": 900.0,
    }


def hurt(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """An affected destination's rows of ``impact.by_*``: a hostile key and the rest."""
    base = {"destination": entry["destination"], "region": entry["region"], "classification": entry["classification"]}
    return [
        {**base, "key": HOSTILE, "requests": 200, "failed_requests": 4, "failure_share": 0.02, "complete": True},
        {**base, "key": None, "requests": 100, "failed_requests": 2, "failure_share": 0.02, "complete": False},
    ]


def trigger_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A rise before the destination's onset, sent by a hostile subscription, with a hostile note."""
    note = {"time": "2025-02-25T09:15:00Z", "end": None, "label": HOSTILE}
    return {
        "destination": entry["destination"],
        "region": entry["region"],
        "classification": entry["classification"],
        "onset": "2025-02-25T09:20:00Z",
        "onset_observed": True,
        "baseline_per_minute": 10.0,
        "change_at": "2025-02-25T09:18:00Z",
        "peak_per_minute": 60.0,
        "factor": 6.0,
        "drivers": [
            {
                "key_kind": "subscription",
                "key": HOSTILE,
                "before_per_minute": 1.0,
                "after_per_minute": 50.0,
                "share_of_rise": 0.98,
                "share_before": 0.1,
            }
        ],
        "answered_p95_before_ms": 80.0,
        "answered_p95_lead_ms": 90.0,
        "notes": [note],
        "statement": f"calls to {entry['destination']} rose 6x; subscription {HOSTILE}; note {HOSTILE}",
    }


def findings(*destinations: dict[str, Any]) -> dict[str, Any]:
    affected = [impact_of(d) for d in destinations if d["classification"] != "healthy"]
    troubled = [d for d in destinations if d["classification"] != "healthy"]
    by_key = [row for d in troubled for row in hurt(d)]
    note = {"time": "2025-02-25T09:38:00Z", "end": None, "label": HOSTILE}
    return {
        "kit_version": HOSTILE,
        "incident_id": HOSTILE,
        "instances": [HOSTILE],
        "annotations": [note],
        "trigger": [trigger_of(d) for d in troubled],
        "units_noted": [{**note, "units": 2, "agrees": False, "statement": HOSTILE}],
        "assumptions": {"snat_ports": 1024, "port_hold_minutes": 4, "pool_idle_minutes": 4, HOSTILE: HOSTILE},
        "impact": {
            "requests": sum(d["requests"] for d in destinations),
            "failed_requests": 6 * len(affected),
            "recovered": False,
            "episodes": len(affected),
            "affected": affected,
            "by_cause": [
                {
                    "classification": d["classification"],
                    "destinations": 1,
                    "episodes": 1,
                    "first_onset": "2025-02-25T09:20:00Z",
                    "last_recovery": None,
                    "minutes": 40,
                    "failed_requests_during": 6,
                }
                for d in troubled
            ],
            **{f"by_{kind}": by_key for kind in ("api", "operation", "product", "subscription")},
        },
        "verdict": "snat_exhaustion",
        "confidence": "medium",
        "verdict_reason": f"SNAT port exhaustion on {HOSTILE}",
        "window": {"start": "2025-02-25T09:00:00Z", "end": "2025-02-25T10:00:00Z"},
        "source": f"local file {HOSTILE}.parquet",
        "mode": "resource",
        "logging": {"statement": HOSTILE},
        "missing": [HOSTILE],
        "ip_map": False,
        "pools": [],
        "destinations": list(destinations),
        "queries": [
            {
                "name": "q",
                "mode": "resource",
                "parameters": {"destination": HOSTILE},
                "rows": 1,
                "duration_s": 0.1,
                "complete": False,
                "warnings": [HOSTILE],
                "kql": f"T | where x == '{HOSTILE}'",
            }
        ],
        "mitigations": [
            {"id": "scale_out", "title": HOSTILE, "reason": HOSTILE, "destinations": [], "condition": HOSTILE}
        ],
    }


def as_html(markdown: str) -> str:
    """What the report page makes of the Markdown: nbconvert's renderer, then its sanitiser."""
    return clean_html(markdown2html_mistune(markdown))


def written(document: dict[str, Any]) -> list[str]:
    """Every piece of Markdown the report writes from the findings."""
    return [
        summary.executive_summary(document),
        body.destination_lines(document),
        body.evidence(document),
        body.mitigations(document),
        appendix.query_text(document["queries"][0]),
        appendix.provenance(document),
        answers.trigger_lines(document),
        answers.actions_markdown(document),
        review.title(document),
        review.detection(document),
        review.resolution(document),
        review.went_well(document),
        review.went_wrong(document),
    ]


def test_strings_from_the_findings_never_become_markup():
    document = findings(destination(HOSTILE, "snat_exhaustion"), destination(f"{HOSTILE} healthy"))
    for text in written(document):
        html = as_html(text)
        own_title = 1 if text.startswith("# Postmortem") else 0  # the kit's own heading, the logs' never
        assert "<img" not in html and html.count("<h1") == own_title and "<em>e</em>" not in html, html
        assert not re.search(r'href="(?!#)', html), html  # the only links are the headings' own anchors
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_sanitiser_does_not_change_what_the_escaping_produced():
    document = findings(destination(HOSTILE, "snat_exhaustion"))
    for text in written(document):
        html = markdown2html_mistune(text)
        assert clean_html(html).replace("\n", "") == html.replace("\n", "")


def test_at_most_the_first_destinations_are_shown_in_full_and_the_rest_named():
    many = [destination("bad.example:443", "snat_exhaustion")] + [
        destination(f"d{n:05}.example:443") for n in range(10_000)
    ]
    document = findings(*many)
    assert len(body.destination_table(document)) == body.SHOWN_DESTINATIONS
    assert body.destination_table(document)["destination"][0] == "bad.example:443"
    rest = body.not_shown(document)
    assert rest.startswith(f"**{10_001 - body.SHOWN_DESTINATIONS:,} more destinations**")
    assert "d09999\\.example\\:443 (healthy, 500 requests)" in rest and "d00000\\.example" not in rest
    assert body.not_shown(findings(*many[:3])) == ""
    evidence = body.evidence(document)
    assert evidence.count("####") == 1


def test_the_findings_are_not_changed_by_writing_about_them():
    document = findings(destination(HOSTILE, "snat_exhaustion"), destination("ok:443"))
    before = copy.deepcopy(document)
    summary.executive_summary(document), body.evidence(document), body.destination_table(document)
    summary.incident_timeline(document, []), summary.affected_table(document), appendix.queries_table(document)
    written(document), answers.trigger_table(document), answers.hurt_table(document, "api")
    review.owners_table(document)
    assert document == before


def test_every_table_of_the_report_keeps_strings_from_the_logs_as_text():
    document = findings(destination(HOSTILE, "snat_exhaustion"))
    tables = [
        summary.affected_table(document),
        summary.incident_timeline(document, []),
        answers.trigger_table(document),
        *(answers.hurt_table(document, kind) for kind in answers.HURT_KINDS),
        review.owners_table(document),
        body.destination_table(document),
    ]
    for frame in tables:
        html = markup.report_table(frame).to_html()
        assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html, list(frame.columns)
