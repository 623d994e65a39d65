"""The report's words: every string from the findings stays text, and a crowd of destinations stays short."""

from __future__ import annotations

import copy
import re
from typing import Any

from nbconvert.filters.markdown_mistune import markdown2html_mistune

from analysis import appendix, narrative, summary
from analysis.html_page import clean_html

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


def findings(*destinations: dict[str, Any]) -> dict[str, Any]:
    affected = [impact_of(d) for d in destinations if d["classification"] != "healthy"]
    return {
        "kit_version": HOSTILE,
        "assumptions": {"snat_ports": 1024, "port_hold_minutes": 4, "pool_idle_minutes": 4, HOSTILE: HOSTILE},
        "impact": {
            "requests": sum(d["requests"] for d in destinations),
            "failed_requests": 6 * len(affected),
            "recovered": False,
            "episodes": len(affected),
            "affected": affected,
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
        "mitigations": [{"id": "scale_out", "title": HOSTILE, "reason": HOSTILE, "destinations": []}],
    }


def as_html(markdown: str) -> str:
    """What the report page makes of the Markdown: nbconvert's renderer, then its sanitiser."""
    return clean_html(markdown2html_mistune(markdown))


def test_strings_from_the_findings_never_become_markup():
    document = findings(destination(HOSTILE, "snat_exhaustion"))
    for text in (
        summary.executive_summary(document),
        narrative.destination_lines(document),
        narrative.evidence(document),
        narrative.mitigations(document),
        appendix.query_text(document["queries"][0]),
        appendix.provenance(document),
    ):
        html = as_html(text)
        assert "<img" not in html and "<h1" not in html and "<em>e</em>" not in html, html
        assert not re.search(r'href="(?!#)', html), html  # the only links are the headings' own anchors
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_sanitiser_does_not_change_what_the_escaping_produced():
    document = findings(destination(HOSTILE, "snat_exhaustion"))
    for text in (summary.executive_summary(document), narrative.evidence(document), narrative.mitigations(document)):
        html = markdown2html_mistune(text)
        assert clean_html(html).replace("\n", "") == html.replace("\n", "")


def test_at_most_the_first_destinations_are_shown_in_full_and_the_rest_named():
    many = [destination("bad.example:443", "snat_exhaustion")] + [
        destination(f"d{n:05}.example:443") for n in range(10_000)
    ]
    document = findings(*many)
    assert len(narrative.destination_table(document)) == narrative.SHOWN_DESTINATIONS
    assert narrative.destination_table(document)["destination"][0] == "bad.example:443"
    rest = narrative.not_shown(document)
    assert rest.startswith(f"**{10_001 - narrative.SHOWN_DESTINATIONS:,} more destinations**")
    assert "d09999\\.example\\:443 (healthy, 500 requests)" in rest and "d00000\\.example" not in rest
    assert narrative.not_shown(findings(*many[:3])) == ""
    evidence = narrative.evidence(document)
    assert evidence.count("####") == 1


def test_the_findings_are_not_changed_by_writing_about_them():
    document = findings(destination(HOSTILE, "snat_exhaustion"), destination("ok:443"))
    before = copy.deepcopy(document)
    summary.executive_summary(document), narrative.evidence(document), narrative.destination_table(document)
    summary.incident_timeline(document, []), summary.affected_table(document), appendix.queries_table(document)
    assert document == before
