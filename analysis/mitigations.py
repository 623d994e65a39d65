"""Mitigations sized to this incident, in the order a responder would try them.

Each is listed only when the data says it applies, with the reason from the data.
``RULES`` is that order: a rule is a small function of the situation that returns
the mitigations it finds (often none); adding a mitigation is adding one rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from analysis.assessment import Assessment, ExhaustedDestination, exhausted
from analysis.assumptions import TARGET_UTILISATION, Assumptions

NAT_GATEWAY_PORTS_PER_IP = 64_512
AZURE_SERVICE_SUFFIXES = (
    ".azurewebsites.net",
    ".cloudapp.azure.com",
    ".cloudapp.net",
    ".blob.core.windows.net",
    ".table.core.windows.net",
    ".queue.core.windows.net",
    ".database.windows.net",
    ".documents.azure.com",
    ".servicebus.windows.net",
    ".vault.azure.net",
    ".azurecontainerapps.io",
    ".azure-api.net",
)
POOR_REUSE = 2.0
CACHEABLE_GET_SHARE = 0.6
MAX_CACHE_HIT_SHARE = 0.1
DOMINANT_KEY_SHARE = 0.5
RATE_LIMIT_KEYS = ("subscription", "caller_ip")  # what rate-limit-by-key can count by


class MitigationId(StrEnum):
    """Stable names for machines; the values are the findings.json strings."""

    SCALE_OUT = "scale_out"
    SPREAD_BACKEND_IPS = "spread_backend_ips"
    PRIVATE_ENDPOINT = "private_endpoint"
    NAT_GATEWAY = "nat_gateway"
    RATE_LIMIT_BY_KEY = "rate_limit_by_key"
    CONNECTION_REUSE = "connection_reuse"
    CACHE_RESPONSES = "cache_responses"


@dataclass(frozen=True)
class Mitigation:
    """``id`` is stable for machines; ``reason`` ties it to this incident's numbers."""

    id: MitigationId
    title: str
    reason: str
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Situation:
    """What the rules read: every assessment, the exhausted destinations and the worst of them."""

    assessments: list[Assessment]
    exhausted: list[ExhaustedDestination]
    frame: pd.DataFrame
    assumptions: Assumptions
    load_drivers: pd.DataFrame | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.destination for e in self.exhausted)

    @property
    def worst(self) -> ExhaustedDestination:
        """The exhausted destination with the highest peak demand (the first of equals)."""
        return max(self.exhausted, key=lambda e: e.peak_snat_demand)


def host(destination: str) -> str:
    """``"api.contoso.com:443"`` -> ``"api.contoso.com"``."""
    return destination.rsplit(":", 1)[0]


def is_azure_service(destination: str) -> bool:
    """Whether the host is an Azure PaaS endpoint reachable through a private or service endpoint.

    >>> is_azure_service("orders.azurewebsites.net:443"), is_azure_service("api.contoso.com:443")
    (True, False)
    """
    return host(destination).lower().endswith(AZURE_SERVICE_SUFFIXES)


def dominant_keys(drivers: pd.DataFrame, most: int = 3) -> pd.DataFrame:
    """The fewest top keys (at most ``most``) that together sent ``DOMINANT_KEY_SHARE`` of the calls.

    >>> keys = pd.DataFrame({"key": ["a", "b", "c"], "share": [0.4, 0.35, 0.1]})
    >>> dominant_keys(keys)["key"].tolist()
    ['a', 'b']
    """
    ordered = drivers.sort_values("share", ascending=False).head(most)
    reached = ordered["share"].cumsum() >= DOMINANT_KEY_SHARE
    if not reached.any():
        return ordered.iloc[0:0]
    return ordered.iloc[: int(reached.to_numpy().argmax()) + 1]


def scale_out(situation: Situation) -> list[Mitigation]:
    """Enough units to keep the worst destination's peak under the target, and at least one more."""
    a, worst = situation.assumptions, situation.worst
    peak = worst.peak_snat_demand
    units = max(a.units + 1, math.ceil(peak / (TARGET_UTILISATION * a.snat_ports)))
    return [
        Mitigation(
            MitigationId.SCALE_OUT,
            f"Scale out to {units} units",
            f"peak estimated demand {peak:.0f} connections on {worst.destination}; {units} units x "
            f"{a.snat_ports} ports keep it under {TARGET_UTILISATION:.0%} of capacity "
            f"(now {a.units} unit(s), {peak / a.snat_capacity:.0%})",
            situation.names,
        )
    ]


def spread_backend_ips(situation: Situation) -> list[Mitigation]:
    """Ports are per destination IP:port: enough backend IPs to keep each under the target, when one is not."""
    a, peak = situation.assumptions, situation.worst.peak_snat_demand
    ips = math.ceil(peak / (TARGET_UTILISATION * a.snat_capacity))
    if ips < 2:
        return []
    return [
        Mitigation(
            MitigationId.SPREAD_BACKEND_IPS,
            f"Spread the backend over {ips} IP addresses",
            f"ports are per destination IP:port; {ips} IPs share {peak:.0f} connections at "
            f"{peak / ips / a.snat_capacity:.0%} of capacity each",
            situation.names,
        )
    ]


def private_endpoint(situation: Situation) -> list[Mitigation]:
    """An exhausted Azure service can be reached without SNAT at all."""
    azure = tuple(name for name in situation.names if is_azure_service(name))
    if not azure:
        return []
    return [
        Mitigation(
            MitigationId.PRIVATE_ENDPOINT,
            "Reach the backend through VNet integration with a private or service endpoint",
            f"{', '.join(azure)} is an Azure service; traffic over a private endpoint does not use SNAT ports",
            azure,
        )
    ]


def nat_gateway(situation: Situation) -> list[Mitigation]:
    """Many destinations near their capacity at once: more outbound ports for all of them."""
    near = [a.destination for a in situation.assessments if a.evidence.traffic.peak_utilisation >= TARGET_UTILISATION]
    if len(situation.exhausted) < 2 and len(near) < 3:
        return []
    return [
        Mitigation(
            MitigationId.NAT_GATEWAY,
            "Route outbound traffic through a NAT gateway or Azure Firewall",
            f"{len(near)} destinations passed {TARGET_UTILISATION:.0%} of capacity; a NAT gateway gives "
            f"{NAT_GATEWAY_PORTS_PER_IP:,} ports per public IP",
            tuple(near),
        )
    ]


def _rate_limit(destination: str, drivers: pd.DataFrame, assumptions: Assumptions) -> list[Mitigation]:
    """rate-limit-by-key on the subscriptions or callers that drove the burst, with a limit per key."""
    allowed_per_minute = (
        TARGET_UTILISATION
        * assumptions.snat_capacity
        * assumptions.requests_per_connection
        / assumptions.port_hold_minutes
    )
    for kind in RATE_LIMIT_KEYS:
        keys = dominant_keys(drivers[(drivers["destination"] == destination) & (drivers["key_kind"] == kind)])
        if keys.empty:
            continue
        share = float(keys["share"].sum())
        limit = max(1, math.floor(allowed_per_minute * share / len(keys)))
        named = ", ".join(f"{row.key} ({row.share:.0%})" for row in keys.itertuples())
        return [
            Mitigation(
                MitigationId.RATE_LIMIT_BY_KEY,
                f"Add rate-limit-by-key per {kind.replace('_', ' ')} (about {limit} calls per 60 s each)",
                f"{named} sent {share:.0%} of the calls to {destination} while it failed; {limit} calls per 60 s "
                f"per key keeps them within {TARGET_UTILISATION:.0%} of the ports at "
                f"{assumptions.requests_per_connection:g} request(s) per connection",
                (destination,),
            )
        ]
    return []


def rate_limit_by_key(situation: Situation) -> list[Mitigation]:
    """Per exhausted destination, when the load drivers name a few keys that sent most of its calls."""
    drivers = situation.load_drivers
    if drivers is None:
        return []
    return [m for e in situation.exhausted for m in _rate_limit(e.destination, drivers, situation.assumptions)]


def connection_reuse(situation: Situation) -> list[Mitigation]:
    """Failing at about the capacity in plain requests means connections are hardly reused."""
    a = situation.assumptions
    found = []
    for e in situation.exhausted:
        reuse = a.requests_per_connection * e.demand_at_onset / a.snat_capacity
        if reuse <= POOR_REUSE:
            found.append(
                Mitigation(
                    MitigationId.CONNECTION_REUSE,
                    "Keep backend connections alive and reused",
                    f"{e.destination} failed once about {e.demand_at_onset:.0f} requests had been sent "
                    f"in {a.port_hold_minutes} minutes, roughly {reuse:.1f} request(s) per connection: "
                    f"the backend or a proxy closes connections (check Connection: close and keep-alive settings)",
                    (e.destination,),
                )
            )
    return found


def cache_responses(situation: Situation) -> list[Mitigation]:
    """Mostly GETs and hardly any cache hits: every cached answer is a connection not opened."""
    frame, found = situation.frame, []
    for e in situation.exhausted:
        own = frame[frame["destination"] == e.destination]
        requests = own["requests"].sum()
        gets = own["get_requests"].sum() / requests if requests else 0.0
        hits = own["cache_hits"].sum() / requests if requests else 0.0
        if gets >= CACHEABLE_GET_SHARE and hits < MAX_CACHE_HIT_SHARE:
            found.append(
                Mitigation(
                    MitigationId.CACHE_RESPONSES,
                    "Cache responses in APIM (cache-lookup / cache-store)",
                    f"{gets:.0%} of calls to {e.destination} are GETs and {hits:.0%} were served from cache",
                    (e.destination,),
                )
            )
    return found


# In the order a responder would try them.
RULES: tuple[Callable[[Situation], list[Mitigation]], ...] = (
    scale_out,
    spread_backend_ips,
    private_endpoint,
    nat_gateway,
    rate_limit_by_key,
    connection_reuse,
    cache_responses,
)


def recommend(
    assessments: list[Assessment],
    frame: pd.DataFrame,
    assumptions: Assumptions,
    load_drivers: pd.DataFrame | None = None,
) -> list[Mitigation]:
    """What to do about the SNAT exhaustion found; nothing when there is none."""
    found = exhausted(assessments)
    if not found:
        return []
    situation = Situation(assessments, found, frame, assumptions, load_drivers)
    return [mitigation for rule in RULES for mitigation in rule(situation)]
