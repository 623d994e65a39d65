"""The report's words, written from the findings document (pure: dict in, Markdown out).

Every string taken from the findings (destinations, reasons, keys, messages, the source) may
come from the logs; it enters the Markdown through ``markup.md`` and so reads as plain text.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.diagnosis.assessment import Classification
from analysis.diagnosis.words import destination_name, what
from analysis.postmortem.markup import code, md

NO_MITIGATION = "No SNAT mitigation applies: no destination was classified as SNAT exhaustion."
NO_WHAT_IF = "Nothing to replay: no destination was exhausted."
# A gateway may call thousands of destinations; the report shows this many in full, the most
# affected first (the findings' order), and names the rest in one list.
SHOWN_DESTINATIONS = 20
NOT_RECOVERED = "not recovered by the end of the window"
MARKS = {"passed": "for", "failed": "AGAINST", "not_judged": "not judged"}
POOL_KINDS = {
    "ip": "hosts on one IP (from --ip-map)",
    "host": "one host, taken as one IP",
    "unmapped": "not in --ip-map: its own pool",
    "inferred": "inferred: hosts failing together",
}


def minute_text(text: str | None) -> str:
    """An ISO time from the findings as people read it, to the minute: ``2025-02-25 09:23`` (``-`` for none)."""
    return "-" if text is None else text.replace("T", " ").removesuffix("Z")[:16]


def ms(value: float | None) -> str:
    """Milliseconds as people read them, ``-`` for none.

    >>> ms(14578.6), ms(None)
    ('14,579 ms', '-')
    """
    return "-" if value is None else f"{value:,.0f} ms"


def _label(entry: dict[str, Any]) -> str:
    """``destination_name`` as Markdown text."""
    return md(destination_name(entry))


def _worst(episodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(episodes, key=lambda e: e["failures"]) if episodes else None


def _episodes_line(entry: dict[str, Any]) -> str:
    """The worst episode's times and failures, and how many there were in all."""
    episodes = entry["episodes"]
    worst = _worst(episodes)
    if worst is None:
        return f"from {minute_text(entry['onset'])} to {minute_text(entry['recovery'])} UTC"
    end = minute_text(worst["recovery"]) + " UTC" if worst["recovery"] else NOT_RECOVERED
    onset = minute_text(worst["onset"]) + " UTC"
    if not worst.get("onset_observed", True):
        onset = f"before {onset} (the data starts inside it)"
    text = f"worst episode {onset} to {end}, peak {minute_text(worst['peak'])}"
    if entry["classification"] in (Classification.SNAT_EXHAUSTION, Classification.BACKEND_UNREACHABLE):
        text += f", {worst['failures']:,} failed connects"
    if len(episodes) > 1:
        total = sum(e["failures"] for e in episodes)
        text += f"; {len(episodes)} episodes in the window" + (
            f" ({total:,} failed connects in all)"
            if entry["classification"] in (Classification.SNAT_EXHAUSTION, Classification.BACKEND_UNREACHABLE)
            else ""
        )
    return text


def destination_lines(findings: dict[str, Any]) -> str:
    """The window, the source and what the logs could tell, then one line per destination with trouble."""
    window = findings["window"]
    lines = [
        f"Window: {minute_text(window['start'])} to {minute_text(window['end'])} UTC; "
        f"source: {md(findings['source'])}; logging mode: {code(findings['mode'])}. "
        f"{md(findings['logging']['statement'])}",
        "",
    ]
    gateway = findings.get("gateway", {})
    if gateway.get("self_hosted"):
        lines[1:1] = ["", md(gateway["statement"])]
    for entry in shown(findings):
        if entry["classification"] in (Classification.HEALTHY, Classification.UNKNOWN):
            continue
        pool = f" (SNAT pool {md(entry['pool'])})" if entry["classification"] == Classification.SNAT_EXHAUSTION else ""
        lines.append(
            f"- **{_label(entry)}**{pool}: {what(entry['classification'])} ({entry['confidence']} confidence), "
            f"{_episodes_line(entry)}; {md(entry['reason'])}."
        )
    unknown = [_label(e) for e in findings["destinations"] if e["classification"] == Classification.UNKNOWN]
    if unknown:
        lines.append(f"- **{len(unknown)} destination(s) unknown**: {', '.join(unknown)}.")
    return "\n".join(lines)


def _timer_sentence(given: float | None, seen: float | None) -> str:
    """Where the connect timer came from: given, or read from the failed connects (or not shown by them)."""
    if given is not None:
        return f"A dropped SYN is taken to fail after **{given:g} s** (`connect_timeout_s`, given)."
    if seen is not None:
        return (
            f"The failed connects show a **{seen:g} s** connect timer (read from the data: Windows gives up after "
            "21 s, Linux after 127 s; `connect_timeout_s` overrides it)."
        )
    return "The failed connects show no single connect timer (`connect_timeout_s` sets one)."


def assumptions(findings: dict[str, Any]) -> str:
    """The SNAT demand model in plain words, with the figures it used."""
    a = findings["assumptions"]
    regions = a["units_by_region"]
    units = f"{a['units']} unit(s)" + (
        " (" + ", ".join(f"{name}: {count}" for name, count in regions.items()) + ")" if regions else ""
    )
    text = (
        "### How SNAT demand is estimated\n\n"
        "Each backend connection takes one SNAT port for its destination IP and port while it is open, and keeps it "
        f"for **{a['port_hold_minutes']} more minutes** after it closes. Ports belong to each gateway unit of each "
        "region, so a pool is a region's ports towards one destination IP and port; hosts on one IP share it.\n\n"
        "The logs show two ends of the demand: the **requests in flight** (busy time of the answered backend calls "
        "in a minute / 60,000 ms) hold at least that many connections; if every request opened a new connection "
        f"(at {a['requests_per_connection']:g} request(s) per connection), the ports in use are at most the requests "
        f"in flight plus the requests of the last {a['port_hold_minutes']} minutes. The truth lies in that band: "
        "the checks hold over the whole band and never depend on a guessed reuse.\n\n"
        f"Capacity is assumed to be **{a['snat_ports']:,} ports per unit x {units}** per destination IP and port: "
        "neither is in the logs. Traffic reaches a "
        "unit by a hash of the client connection: when a few callers carried the load, their connections may sit "
        "on one unit, whose ports are then all they had.\n\n"
        f"*Assumption:* Microsoft does not publish APIM's SNAT ports per unit (azure-docs issue #109030). "
        f"{a['snat_ports']:,} is the Azure Load Balancer default for pools of 1-50 instances; set "
        '`--param snat_ports=...`, `units=...` (or `"units.<region>=..."`) to what you know. '
        + _timer_sentence(a["connect_timeout_s"], findings.get("connect_timer_s"))
    )
    empirical = findings["empirical_capacity"]
    if empirical:
        text += (
            "\n\n**Empirical capacity:** "
            + "; ".join(_empirical(e) for e in empirical)
            + (
                ". A saturated pool holds every port it has, so its capacity is at most what it held; a capacity "
                "assumed outside that range is named as a contradiction."
            )
        )
    return text


def _empirical(entry: dict[str, Any]) -> str:
    """One exhausted pool's ports held while it failed, against the assumed capacity."""
    text = (
        f"failures in pool {md(entry['pool'])} began while its demand was between {entry['demand_at_onset_low']:,.0f} "
        f"and {entry['demand_at_onset']:,.0f} ports"
    )
    if entry["held_ports_high"] is not None:
        text += (
            f"; while they lasted it held between {entry['held_ports_low'] or 0:,.0f} and "
            f"{entry['held_ports_high']:,.0f} ports"
        )
    text += f" (assumed {entry['assumed_capacity']:,})"
    if entry["contradiction"]:
        text += f": {md(entry['contradiction'])}"
    return text


def destination_table(findings: dict[str, Any]) -> pd.DataFrame:
    """One row per destination, the columns a responder scans first."""
    rows = [
        {
            "destination": e["destination"],
            "region": e["region"] or "-",
            "classification": e["classification"],
            "confidence": e["confidence"],
            "requests": e["requests"],
            "HTTP 5xx": e["http_5xx"],
            "failed connects": e["connection_failures"],
            "failure share": f"{e['evidence']['failure_share']:.1%}",
            "BackendTime p95, window (ms)": None if e["p95_backend_ms"] is None else round(e["p95_backend_ms"]),
            "peak demand (ports)": f"{e['peak_demand_low']:,.0f}-{e['peak_snat_demand']:,.0f}",
            "episodes": len(e["episodes"]),
            "onset (UTC)": clock(e["onset"], findings)
            if e["onset_observed"] is not False
            else f"before {clock(e['onset'], findings)}",
            "recovery (UTC)": clock(e["recovery"], findings) if e["onset"] is None or e["recovery"] else NOT_RECOVERED,
        }
        for e in shown(findings)
    ]
    return pd.DataFrame(rows)


def clock(text: str | None, findings: dict[str, Any]) -> str:
    """A time of the findings to the minute, without its day when the window lies in one day (``09:23``).

    >>> clock("2025-02-25T09:23:00Z", {"window": {"start": "2025-02-25T08:30:00Z", "end": "2025-02-25T10:30:00Z"}})
    '09:23'
    """
    full = minute_text(text)
    start, end = (pd.Timestamp(findings["window"][edge].removesuffix("Z")) for edge in ("start", "end"))
    one_day = start.normalize() == (end - pd.Timedelta(minutes=1)).normalize()
    return full[11:] if text is not None and one_day else full


def shown(findings: dict[str, Any]) -> list[dict[str, Any]]:
    """The destinations the report shows in full: the first ``SHOWN_DESTINATIONS``, the affected ones first."""
    return findings["destinations"][:SHOWN_DESTINATIONS]


def not_shown(findings: dict[str, Any]) -> str:
    """The destinations beyond ``shown``, named with their classification and requests; empty when none."""
    rest = findings["destinations"][SHOWN_DESTINATIONS:]
    if not rest:
        return ""
    listed = "; ".join(
        f"{md(e['destination'])} ({what(e['classification'])}, {e['requests']:,} requests)" for e in rest
    )
    return f"**{len(rest):,} more destinations**, not shown in full (every figure is in findings.json): {listed}."


def pools_table(findings: dict[str, Any]) -> pd.DataFrame:
    """The SNAT pools that were tested (or hold several hosts): members, ports, demand band, state."""
    rows = [
        {
            "pool": p["id"],
            "kind": POOL_KINDS[p["kind"]],
            "members": ", ".join(m["destination"] for m in p["members"]),  # escaped by markup.table
            "units": p["units"],
            "ports": f"{p['capacity_low']:,}" + (f"-{p['capacity']:,}" if p["capacity"] != p["capacity_low"] else ""),
            "peak demand (ports)": f"{p['peak_demand_low']:,.0f}-{p['peak_demand_high']:,.0f}",
            "state": p["state"].replace("_", " "),
        }
        for p in findings["pools"]
        if p["state"] != "not_tested" or len(p["members"]) > 1
    ]
    return pd.DataFrame(rows)


def pools_note(findings: dict[str, Any]) -> str:
    """How the pools were formed, and how to confirm an inferred one."""
    pools = findings["pools"]
    lines = []
    if findings["ip_map"]:
        lines.append("Pools come from the `--ip-map`: hosts resolving to one IP share its ports.")
        unmapped = sorted({m["destination"] for p in pools if p["kind"] == "unmapped" for m in p["members"]})
        if unmapped:
            lines.append(f"Not in the map, so each taken as its own pool: {md(', '.join(unmapped))}.")
    else:
        lines.append(
            "No `--ip-map` was given: each host is taken as one IP of its own, and hosts whose failures began within "
            "two minutes of each other are tested as one pool when each alone does not explain them."
        )
    inferred = [p for p in pools if p["kind"] == "inferred"]
    for pool in inferred:
        names = md(", ".join(m["destination"] for m in pool["members"]))
        lines.append(
            f"The pool {md(pool['id'])} is inferred ({names}): confirm that they share an IP by resolving the names "
            "(`nslookup`; for App Service, the app's inbound IP: `az webapp show --query inboundIpAddress`), "
            "then give the map with `--ip-map FILE` (CSV `host,ip`)."
        )
    return "\n\n".join(lines)


def evidence(findings: dict[str, Any]) -> str:
    """Per affected destination: why it was classified so, check by check."""
    parts = []
    for entry in shown(findings):
        busy = "implied_min_requests_per_connection" in entry["evidence"]
        if entry["classification"] == Classification.HEALTHY and not busy:
            continue
        parts.append(
            f"#### {_label(entry)}: {what(entry['classification'])} ({entry['confidence']} confidence)\n\n"
            f"{md(entry['reason'])}."
        )
        if entry["decided_by"]:
            decided = f"\nDecided by {', '.join(code(name) for name in entry['decided_by'])}"
            if entry["alternatives"]:
                decided += f"; the evidence cannot rule out {' or '.join(what(a) for a in entry['alternatives'])}"
            parts.append(decided + ".")
        if entry["checks"]:
            parts.append(
                f"\nChecks on its SNAT pool {md(entry['pool'])}, each for or against SNAT with its weight (weak, "
                "strong, decisive); a check with nothing to measure is not judged and does not vote:\n"
            )
        for check in entry["checks"]:
            mark = MARKS[check["outcome"]] + (f", {_weight(check['weight'])}" if check["weight"] else "")
            parts.append(f"- \\[{mark}\\] {code(check['name'])}: {md(check['detail'])}")
        holds = entry["holds_if"]
        if holds is not None:
            parts.append(f"- what the logs cannot show: {md(holds['statement'])}")
            for line in filter(None, (holds["contradiction"], holds["look_alike"])):
                parts.append(f"- {md(line)}")
        others = entry["evidence"].get("other_destinations_failing")
        if others is not None:
            listed = ", ".join(md(name) for name in others) if others else "none"
            parts.append(f"- other destinations failing at the same time: {listed}")
    return "\n".join(parts) if parts else "No destination shows trouble."


def _weight(weight: float) -> str:
    return "decisive" if weight >= 10 else "strong" if weight >= 2 else "weak"


def mitigations(findings: dict[str, Any]) -> str:
    """Numbered, in the order to try them, each with its sizing and the evidence behind it (its reason)."""
    items = findings["mitigations"]
    if not items:
        return NO_MITIGATION
    return "\n".join(f"{n}. **{md(m['title'])}** ({code(m['id'])}): {md(m['reason'])}." for n, m in enumerate(items, 1))
