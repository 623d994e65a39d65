"""Mitigations sized to this incident, in the order a responder would try them.

Each is listed only when the data says it applies, with the reason from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.assumptions import Assumptions
from analysis.classify import Assessment

TARGET_UTILISATION = 0.75  # Load Balancer guidance: alert at 75 % of allocated ports.
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
DOMINANT_KEY_SHARE = 0.5
RATE_LIMIT_KEYS = ("subscription", "caller_ip")  # what rate-limit-by-key can count by


@dataclass(frozen=True)
class Mitigation:
    """``id`` is stable for machines; ``reason`` ties it to this incident's numbers."""

    id: str
    title: str
    reason: str
    destinations: tuple[str, ...] = ()


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


def _rate_limits(destination: str, drivers: pd.DataFrame, assumptions: Assumptions) -> list[Mitigation]:
    """rate-limit-by-key on the subscriptions or callers that drove the burst, with a limit per key."""
    allowed_per_minute = (
        TARGET_UTILISATION * assumptions.snat_capacity * assumptions.requests_per_connection / assumptions.port_hold_minutes
    )
    for kind in RATE_LIMIT_KEYS:
        keys = dominant_keys(drivers[(drivers["destination"] == destination) & (drivers["key_kind"] == kind)])
        if keys.empty:
            continue
        share = float(keys["share"].sum())
        limit = max(1, math.floor(allowed_per_minute * share / len(keys)))
        named = ", ".join(f"{row.key} ({row.share:.0%})" for row in keys.itertuples())
        return [Mitigation(
            "rate_limit_by_key",
            f"Add rate-limit-by-key per {kind.replace('_', ' ')} (about {limit} calls per 60 s each)",
            f"{named} sent {share:.0%} of the calls to {destination} while it failed; {limit} calls per 60 s "
            f"per key keeps them within {TARGET_UTILISATION:.0%} of the ports at {assumptions.requests_per_connection:g} "
            f"request(s) per connection",
            (destination,),
        )]
    return []


def recommend(
    assessments: list[Assessment],
    frame: pd.DataFrame,
    assumptions: Assumptions,
    load_drivers: pd.DataFrame | None = None,
) -> list[Mitigation]:
    """What to do about the SNAT exhaustion found; nothing when there is none."""
    exhausted = [a for a in assessments if a.classification == "snat_exhaustion"]
    if not exhausted:
        return []
    names = tuple(a.destination for a in exhausted)
    worst = max(exhausted, key=lambda a: a.evidence["peak_snat_demand"])
    peak = float(worst.evidence["peak_snat_demand"])
    target = TARGET_UTILISATION * assumptions.snat_ports
    found: list[Mitigation] = []

    units = max(assumptions.units + 1, math.ceil(peak / target))
    found.append(Mitigation(
        "scale_out",
        f"Scale out to {units} units",
        f"peak estimated demand {peak:.0f} connections on {worst.destination}; {units} units x "
        f"{assumptions.snat_ports} ports keep it under {TARGET_UTILISATION:.0%} of capacity "
        f"(now {assumptions.units} unit(s), {peak / assumptions.snat_capacity:.0%})",
        names,
    ))
    ips = math.ceil(peak / (TARGET_UTILISATION * assumptions.snat_capacity))
    if ips >= 2:
        found.append(Mitigation(
            "spread_backend_ips",
            f"Spread the backend over {ips} IP addresses",
            f"ports are per destination IP:port; {ips} IPs share {peak:.0f} connections at "
            f"{peak / ips / assumptions.snat_capacity:.0%} of capacity each",
            names,
        ))
    azure = tuple(a.destination for a in exhausted if is_azure_service(a.destination))
    if azure:
        found.append(Mitigation(
            "private_endpoint",
            "Reach the backend through VNet integration with a private or service endpoint",
            f"{', '.join(azure)} is an Azure service; traffic over a private endpoint does not use SNAT ports",
            azure,
        ))
    near = [a.destination for a in assessments if (a.evidence.get("peak_utilisation") or 0) >= TARGET_UTILISATION]
    if len(exhausted) >= 2 or len(near) >= 3:
        found.append(Mitigation(
            "nat_gateway",
            "Route outbound traffic through a NAT gateway or Azure Firewall",
            f"{len(near)} destinations passed {TARGET_UTILISATION:.0%} of capacity; a NAT gateway gives "
            f"{NAT_GATEWAY_PORTS_PER_IP:,} ports per public IP",
            tuple(near),
        ))
    if load_drivers is not None:
        for assessment in exhausted:
            found.extend(_rate_limits(assessment.destination, load_drivers, assumptions))
    for assessment in exhausted:
        reuse = assumptions.requests_per_connection * float(assessment.evidence["demand_at_onset"]) / assumptions.snat_capacity
        if reuse <= POOR_REUSE:
            found.append(Mitigation(
                "connection_reuse",
                "Keep backend connections alive and reused",
                f"{assessment.destination} failed once about {assessment.evidence['demand_at_onset']:.0f} requests had been sent "
                f"in {assumptions.port_hold_minutes} minutes, roughly {reuse:.1f} request(s) per connection: the backend or a "
                f"proxy closes connections (check Connection: close and keep-alive settings)",
                (assessment.destination,),
            ))
    for assessment in exhausted:
        own = frame[frame["destination"] == assessment.destination]
        requests = own["requests"].sum()
        gets = own["get_requests"].sum() / requests if requests else 0.0
        hits = own["cache_hits"].sum() / requests if requests else 0.0
        if gets >= CACHEABLE_GET_SHARE and hits < 0.1:
            found.append(Mitigation(
                "cache_responses",
                "Cache responses in APIM (cache-lookup / cache-store)",
                f"{gets:.0%} of calls to {assessment.destination} are GETs and {hits:.0%} were served from cache",
                (assessment.destination,),
            ))
    return found
