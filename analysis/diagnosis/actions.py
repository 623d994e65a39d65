"""An action for every cause: per troubled destination, what to do in order, tied to its evidence, with the KQL
or the portal place that confirms it and who does it.

``RULES`` maps each classification to a table of small functions of a ``Case`` (one destination as the findings
describe it); each returns an ``Action`` or None when it does not apply, and the table's order is the order to try
them. Adding an action is adding one function to one table. SNAT exhaustion's actions are its mitigations
(``mitigations.RULES``, sized there) with what confirms them; a low-confidence answer first says what tells the
causes it cannot rule out apart. Pure: findings in, actions out.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

from analysis.diagnosis.assessment import Classification
from analysis.diagnosis.callers import KEY_WORDS
from analysis.diagnosis.words import WHAT, destination_name


class Owner(StrEnum):
    """Who does an action: the values are findings.json's strings."""

    BACKEND = "backend owner"
    PLATFORM = "API Management owner"
    NETWORK = "network owner"
    CONSUMERS = "API consumers"


@dataclass(frozen=True)
class Action:
    """One thing to do about one destination: ``why`` ties it to this incident's figures, ``confirm`` says where
    to look (a KQL query of the kit, or a place in the portal) to see it is so or that it worked."""

    id: str
    title: str
    why: str
    confirm: str
    owner: Owner
    mitigation: str | None = None
    """The ``mitigations`` id this action carries out, for SNAT exhaustion."""
    condition: str | None = None
    """What must hold for it to apply (the tier, the network), when something must."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "why": self.why,
            "confirm": self.confirm,
            "owner": self.owner,
            "mitigation": self.mitigation,
            "condition": self.condition,
        }


@dataclass(frozen=True)
class Case:
    """One troubled destination as the findings describe it, with what its actions read."""

    entry: dict[str, Any]
    """Its ``destinations`` entry."""
    impact: dict[str, Any] | None
    """Its ``impact.affected`` row."""
    operations: list[dict[str, Any]] = field(default_factory=list)
    """Its ``impact.by_operation`` rows."""
    triggers: list[dict[str, Any]] = field(default_factory=list)
    mitigations: list[dict[str, Any]] = field(default_factory=list)
    """The mitigations that name it."""
    window: tuple[str, str] = ("", "")
    """The findings' window (ISO times): the span of trouble that has no episode, or did not recover."""

    @property
    def name(self) -> str:
        return destination_name(self.entry)

    @property
    def host(self) -> str:
        return str(self.entry["destination"]).rsplit(":", 1)[0]

    @property
    def episode(self) -> dict[str, Any] | None:
        """The worst episode (the one the findings' onset and recovery are)."""
        episodes = self.entry["episodes"]
        return max(episodes, key=lambda e: e["failures"]) if episodes else None

    @property
    def span(self) -> tuple[str, str]:
        """The worst episode's onset and recovery (or the window's end), the window without an episode, as
        command-line times."""
        episode = self.episode
        if episode is None:
            return _minute(self.window[0]), _minute(self.window[1])
        return _minute(episode["onset"]), _minute(episode["recovery"] or self.window[1])

    @property
    def when(self) -> str:
        """The worst episode's minutes as people read them: ``09:00 to 09:05 UTC``."""
        start, end = self.span
        return f"{start[11:16]} to {end[11:16]} UTC"

    def evidence(self, name: str) -> Any:
        return self.entry["evidence"].get(name)


def _minute(text: str) -> str:
    """``2025-02-25T09:00Z`` from an ISO time of the findings."""
    return f"{text[:16]}Z"


def _after(text: str) -> str:
    """One minute after an ISO time of the findings (a span with no recovery ends after its peak)."""
    return (pd.Timestamp(text.removesuffix("Z")) + pd.Timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_command(name: str, **parameters: object) -> str:
    """The command that prints a packaged query with typed parameters, ready to paste into Log Analytics.

    >>> query_command("request_rows", destination="a b:443", failed_only=True)
    "apim-snat queries show request_rows --param 'destination=a b:443' --param failed_only=true"
    """
    words = ["apim-snat", "queries", "show", name]
    for key, value in parameters.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        words += ["--param", shlex.quote(f"{key}={text}")]
    return " ".join(words)


def _rows(case: Case) -> str:
    """KQL: the failed requests of the worst episode's peak minute (of the whole span without one), with their
    CorrelationIds to find them in the backend's own logs."""
    episode = case.episode
    start, end = (_minute(episode["peak"]), _minute(_after(episode["peak"]))) if episode else case.span
    values: dict[str, object] = {"start": start, "end": end, "destination": case.entry["destination"]}
    if case.entry["region"]:
        values["region"] = case.entry["region"]
    return "KQL: " + query_command("request_rows", **values, failed_only=True)


def _failed(case: Case) -> str:
    row = case.impact or {}
    share = row.get("failure_share_during", 0.0)
    return (
        f"{row.get('failed_requests_during', 0):,} of {row.get('requests_during', 0):,} calls ({share:.1%}) failed "
        f"from {case.when}"
    )


# --- a low-confidence answer: what tells the causes apart -----------------------------------------

TELL_APART = {
    Classification.SNAT_EXHAUSTION: "the SNAT Port Analysis page (Diagnose and solve problems) shows the instance's "
    "ports used up then, and other destinations on the same IP and port failed at the same minutes",
    Classification.BACKEND_UNREACHABLE: "the backend's own logs show no connection from the gateway's outbound IPs "
    "while the calls failed, or the failures were refused or reset in milliseconds",
    Classification.SLOW_BACKEND: "the backend's own logs show the calls arriving and answered late",
}


def tell_apart(case: Case) -> Action | None:
    """A low answer names the causes it cannot rule out: the first action is what decides between them."""
    if case.entry["confidence"] != "low" or not case.entry["alternatives"]:
        return None
    named = [Classification(case.entry["classification"]), *map(Classification, case.entry["alternatives"])]
    return Action(
        "tell_causes_apart",
        f"Tell {' from '.join(WHAT[c] for c in named)} apart before acting",
        f"the evidence on {case.name} is close (low confidence): the logs cannot tell these apart",
        "; or ".join(f"{WHAT[c]} if {TELL_APART[c]}" for c in named if c in TELL_APART),
        Owner.PLATFORM,
    )


# --- backend unreachable --------------------------------------------------------------------------


def backend_health(case: Case) -> Action:
    fast = case.evidence("share_fast")
    how = (
        f"{fast:.0%} of them in under a second: refused or reset, an answer from the other side"
        if fast is not None and fast >= 0.5
        else "at the connect timer: no answer at all"
    )
    return Action(
        "check_backend_health",
        f"Check that {case.host} was up and accepting connections",
        f"{_failed(case)}, {how}; the calls did not reach a backend that answered",
        f"the backend's own health and logs for {case.when}; in APIM, Backends (its circuit breaker) and {_rows(case)}",
        Owner.BACKEND,
    )


def dns(case: Case) -> Action:
    return Action(
        "check_dns",
        f"Resolve {case.host} from the gateway's network",
        "a name that does not resolve fails every call in milliseconds; one that resolves to a new or wrong IP "
        "sends the calls where nothing listens",
        f"nslookup {case.host} (from a machine in the gateway's virtual network for a private zone); the error "
        "messages in the report's Errors by reason",
        Owner.NETWORK,
    )


def network_path(case: Case) -> Action:
    return Action(
        "check_network_path",
        f"Check the network path from the gateway to {case.entry['destination']}",
        "a network security group, firewall or the backend's IP allow-list that drops the gateway's outbound IPs "
        "makes its connects fail while the backend itself is up",
        "the instance's outbound (public) IPs on its Overview page against the backend's allow-list and the NSG or "
        "firewall rules on the way; for an instance in a virtual network, its Network status page",
        Owner.NETWORK,
    )


def certificates(case: Case) -> Action | None:
    if not str(case.entry["destination"]).endswith(":443") and "https" not in str(case.entry["destination"]):
        return None
    return Action(
        "check_certificates",
        f"Check {case.host}'s TLS certificate and the backend's TLS settings in APIM",
        "an expired or renamed certificate, or a chain APIM does not trust, fails the call as the connection opens",
        f"the certificate's expiry, name and chain (openssl s_client -connect {case.entry['destination']}); in APIM, "
        "the backend's Validate certificate chain and name settings; the failed calls' messages in "
        f"{_rows(case)}",
        Owner.BACKEND,
    )


# --- slow backend ---------------------------------------------------------------------------------


def backend_capacity(case: Case) -> Action:
    row = case.impact or {}
    before, during = row.get("answered_p95_ms_before"), row.get("answered_p95_ms_during")
    latency = (
        f"its answered calls' p95 was {during:,.0f} ms from {case.when} against {before:,.0f} ms before"
        if before is not None and during is not None
        else f"its backend p95 stayed above the slow threshold from {case.when}"
    )
    rose = [t for t in case.triggers if t.get("change_at")]
    load = "with the calls rising before it (see What changed)" if rose else "with no rise in calls before it"
    busiest = ", ".join(f"{r['key']} ({r['requests']:,} calls)" for r in case.operations if r["key"])[:200]
    return Action(
        "backend_capacity",
        f"Find out with {case.host}'s owner why it answered slowly",
        f"{latency}, {load}" + (f"; the operations called then: {busiest}" if busiest else ""),
        "the backend's own CPU, memory, database and dependency metrics for the same minutes; KQL: "
        + query_command(
            "latency_distribution",
            start=case.span[0],
            end=case.span[1],
            destination=case.entry["destination"],
        ),
        Owner.BACKEND,
    )


def forward_timeout(case: Case) -> Action:
    worst = case.evidence("worst_p95_backend_ms")
    return Action(
        "forward_request_timeout",
        "Give forward-request a timeout that fails slow calls early",
        (f"the worst minute's backend p95 was {worst:,.0f} ms; " if worst else "")
        + "each waiting call holds a connection and a SNAT port, and calls still waiting at about 240 s are cut by "
        "the platform's idle timeout",
        "the APIs' policy (APIs > the API > All operations > Backend: forward-request timeout, default 300 s); after "
        "the change, Timeout errors in the report's Errors by reason",
        Owner.PLATFORM,
    )


# --- backend errors ---------------------------------------------------------------------------------


def failing_operations(case: Case) -> Action:
    ops = [r for r in case.operations if r["key"] and r["failed_requests"]]
    named = ", ".join(f"{r['key']} {r['failed_requests']:,}" for r in ops[:5]) or "see Who was hurt"
    return Action(
        "give_backend_the_failing_operations",
        f"Hand {case.host}'s owner the failing operations, times and correlation ids",
        f"{_failed(case)}, answered with HTTP 5xx by the backend itself: {named}",
        f"the backend's own logs for the CorrelationIds of {_rows(case)}",
        Owner.BACKEND,
    )


def backend_change(case: Case) -> Action:
    rose = [t for t in case.triggers if t.get("change_at")]
    load = "the calls rose before it (see What changed)" if rose else "the calls did not rise before it"
    return Action(
        "check_backend_change",
        f"Check what changed in {case.host} when the errors began",
        f"{load}: a deployment, a configuration or a dependency of the backend is the first suspect",
        f"the backend's deployment and change history around {case.when[:5]} UTC",
        Owner.BACKEND,
    )


# --- SNAT exhaustion ----------------------------------------------------------------------------------


def confirm_snat(case: Case) -> Action:
    holds = case.entry.get("holds_if") or {}
    return Action(
        "confirm_snat",
        f"Confirm that {case.name} ran out of SNAT ports",
        f"{_failed(case)} at the connect timer as its calls rose: " + str(case.entry["reason"]),
        "; ".join(holds.get("confirm") or [TELL_APART[Classification.SNAT_EXHAUSTION]]),
        Owner.PLATFORM,
    )


def burst_callers(case: Case) -> Action | None:
    drivers = [
        d for t in case.triggers for d in t.get("drivers", []) if d["key_kind"] in ("subscription", "caller_range")
    ]
    if not drivers:
        return None
    named = "; ".join(
        f"{KEY_WORDS[d['key_kind']]} {d['key']} ({d['share_of_rise']:.0%} of the rise)" for d in drivers[:3]
    )
    return Action(
        "talk_to_burst_callers",
        "Agree a pace with the callers that sent the burst",
        f"they sent most of the rise in calls just before the onset: {named}",
        "the trigger in What changed, and load_drivers in the appendix; after the change, their calls per minute "
        "in calls_by_key",
        Owner.CONSUMERS,
    )


def snat_mitigations(case: Case) -> list[Action]:
    """The mitigations that name this destination, in their order, each an action."""
    holds = case.entry.get("holds_if") or {}
    confirm = (holds.get("confirm") or [""])[0]
    return [
        Action(
            f"mitigation_{m['id']}",
            m["title"],
            m["reason"],
            f"after the change, no failed connects in the report over a busy window; {confirm}",
            Owner.PLATFORM if m["id"] not in ("backend_latency", "connection_reuse") else Owner.BACKEND,
            m["id"],
            m.get("condition"),
        )
        for m in case.mitigations
    ]


# --- unknown ------------------------------------------------------------------------------------------


def export_again(case: Case) -> Action:
    missing = case.evidence("missing") or []
    return Action(
        "export_again",
        "Export the logs again with the columns that tell the causes apart",
        f"the logs lack {'; '.join(missing) or 'what tells the causes apart'}",
        "the export query in the README's Before you start; a diagnostic setting at verbosity information",
        Owner.PLATFORM,
    )


Rule = Callable[[Case], Action | None]
#: Per cause, in the order to try them.
RULES: dict[Classification, tuple[Rule, ...]] = {
    Classification.SNAT_EXHAUSTION: (tell_apart, confirm_snat, burst_callers),
    Classification.BACKEND_UNREACHABLE: (tell_apart, backend_health, dns, network_path, certificates),
    Classification.BACKEND_ERRORS: (tell_apart, failing_operations, backend_change),
    Classification.SLOW_BACKEND: (tell_apart, backend_capacity, forward_timeout),
    Classification.UNKNOWN: (export_again,),
    Classification.HEALTHY: (),
}


def actions_for(case: Case) -> list[Action]:
    """Every action that applies to the destination, in order; SNAT's mitigations after confirming it."""
    found = [
        action for rule in RULES[Classification(case.entry["classification"])] for action in [rule(case)] if action
    ]
    if case.entry["classification"] == Classification.SNAT_EXHAUSTION:
        confirmed = 2 if found and found[0].id == "tell_causes_apart" else 1
        found = [*found[:confirmed], *snat_mitigations(case), *found[confirmed:]]
    return found


def cases(document: dict[str, Any]) -> list[Case]:
    """A ``Case`` per destination of the findings document (``impact``, ``trigger`` and ``mitigations`` built)."""
    impact = document["impact"]
    rows = {(r["region"], r["destination"]): r for r in impact["affected"]}
    operations: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in impact["by_operation"]:
        operations.setdefault((row["region"], row["destination"]), []).append(row)
    triggers: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for trigger in document["trigger"]:
        triggers.setdefault((trigger["region"], trigger["destination"]), []).append(trigger)
    mitigations: dict[str, list[dict[str, Any]]] = {}
    for mitigation in document["mitigations"]:
        for name in mitigation["destinations"]:
            mitigations.setdefault(name, []).append(mitigation)
    return [
        Case(
            entry,
            rows.get((entry["region"], entry["destination"])),
            operations.get((entry["region"], entry["destination"]), []),
            triggers.get((entry["region"], entry["destination"]), []),
            mitigations.get(entry["destination"], []),
            (document["window"]["start"], document["window"]["end"]),
        )
        for entry in document["destinations"]
    ]
