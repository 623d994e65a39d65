"""Mitigations sized to this incident and this estate, in the order a responder would try them.

Each is listed only when the data says it applies, with the reason from the data.
``RULES`` is that order: a rule is a small function of the situation that returns
the mitigations it finds (often none); adding a mitigation is adding one rule.
Figures: NAT gateway 64,512 ports per public IP; Azure Firewall 2,496 ports per
public IP per instance; private endpoints only for services that offer them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from analysis.diagnosis.assessment import Assessment, ExhaustedDestination, PoolAssessment, exhausted
from analysis.diagnosis.assumptions import TARGET_UTILISATION, Assumptions
from analysis.diagnosis.coverage import Coverage
from analysis.diagnosis.exhaustion import dominant_keys, drivers_of
from analysis.diagnosis.pools import IpMap, PoolKind, host
from analysis.diagnosis.tiers import nat_gateway_condition, subnet_condition, units_needed

NAT_GATEWAY_PORTS_PER_IP = 64_512
FIREWALL_PORTS_PER_IP = 2_496
#: Azure services a private endpoint reaches (their public host names); traffic over one uses no SNAT port.
PRIVATE_ENDPOINT_SUFFIXES = {
    ".azurewebsites.net": "App Service / Functions",
    ".blob.core.windows.net": "Storage",
    ".table.core.windows.net": "Storage",
    ".queue.core.windows.net": "Storage",
    ".file.core.windows.net": "Storage",
    ".dfs.core.windows.net": "Storage",
    ".openai.azure.com": "Azure OpenAI",
    ".cognitiveservices.azure.com": "Azure AI services",
    ".search.windows.net": "Azure AI Search",
    ".database.windows.net": "Azure SQL",
    ".documents.azure.com": "Cosmos DB",
    ".vault.azure.net": "Key Vault",
}
#: Requests in flight holding this share of the ports make the backend's speed the first lever.
IN_FLIGHT_SHARE = 0.25
POOR_REUSE = 2.0
CACHEABLE_GET_SHARE = 0.6
MAX_CACHE_HIT_SHARE = 0.1
#: What rate-limit-by-key can count by, and the column that must be in the logs to name the keys.
RATE_LIMIT_KEYS = {"subscription": "ApimSubscriptionId", "caller_ip": "CallerIpAddress"}


class MitigationId(StrEnum):
    """Stable names for machines; the values are the findings.json strings."""

    BACKEND_LATENCY = "backend_latency"
    SCALE_OUT = "scale_out"
    SPREAD_BACKEND_IPS = "spread_backend_ips"
    PRIVATE_ENDPOINT = "private_endpoint"
    NAT_GATEWAY = "nat_gateway"
    AZURE_FIREWALL = "azure_firewall"
    RATE_LIMIT_BY_KEY = "rate_limit_by_key"
    LIMIT_CONCURRENCY = "limit_concurrency"
    CONNECTION_REUSE = "connection_reuse"
    CACHE_RESPONSES = "cache_responses"


@dataclass(frozen=True)
class Mitigation:
    """``id`` is stable for machines; ``reason`` ties it to this incident's numbers; ``condition`` is what must hold
    of the instance (its tier, its network) for it to apply, None when nothing must."""

    id: MitigationId
    title: str
    reason: str
    destinations: tuple[str, ...] = ()
    condition: str | None = None


@dataclass(frozen=True)
class Situation:
    """What the rules read: every assessment, the exhausted destinations and pools, the worst pool."""

    assessments: list[Assessment]
    exhausted: list[ExhaustedDestination]
    minutes: pd.DataFrame
    assumptions: Assumptions
    load_drivers: pd.DataFrame | None
    coverage: Coverage
    ip_map: IpMap | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.destination for e in self.exhausted))

    @property
    def pools(self) -> list[PoolAssessment]:
        """The exhausted pools, each once, the highest demand first."""
        unique = {e.pool.id: e.pool for e in self.exhausted}
        return sorted(unique.values(), key=lambda p: -p.peak_demand_high)

    @property
    def worst(self) -> PoolAssessment:
        return self.pools[0]


def _in_flight_drives(pool: PoolAssessment) -> bool:
    """The calls in flight hold a large part of the ports, or the failures follow them best."""
    f = pool.failure
    follows = (
        f is not None
        and f.correlation_in_flight is not None
        and (f.correlation_requests is None or f.correlation_in_flight > f.correlation_requests)
    )
    return follows or pool.peak_demand_low >= IN_FLIGHT_SHARE * pool.capacity.low


def is_private_endpoint_service(destination: str) -> str | None:
    """The Azure service behind the host when it offers private endpoints, else None.

    >>> is_private_endpoint_service("orders.azurewebsites.net:443"), is_private_endpoint_service("vm.cloudapp.net:443")
    ('App Service / Functions', None)
    """
    name = host(destination).lower()
    return next((service for suffix, service in PRIVATE_ENDPOINT_SUFFIXES.items() if name.endswith(suffix)), None)


def backend_latency(situation: Situation) -> list[Mitigation]:
    """A slow backend holds a port per call in flight: its speed is the first lever (the seed doc's first step)."""
    found = []
    for pool in situation.pools:
        if not _in_flight_drives(pool) or pool.failure is None:
            continue
        # The latency itself is the summary's one figure (the answered calls' p95 before and during).
        found.append(
            Mitigation(
                MitigationId.BACKEND_LATENCY,
                "Make the backend answer faster",
                f"up to {pool.peak_demand_low:,.0f} calls were in flight to {pool.id} at once, each holding a port "
                f"of its {pool.capacity.low:,}; every second the backend saves frees ports",
                pool.pool.destinations,
            )
        )
    return found


def scale_out(situation: Situation) -> list[Mitigation]:
    """Enough units to keep the worst pool's peak under the target, and at least one more."""
    a, worst = situation.assumptions, situation.worst
    peak, units_now = worst.peak_demand_high, worst.capacity.units
    units = max(units_now + 1, math.ceil(peak / (TARGET_UTILISATION * a.snat_ports)))
    where = f" in {worst.pool.region}" if worst.pool.region else ""
    reason = (
        f"peak demand up to {peak:,.0f} ports on {worst.id}; {units} units x {a.snat_ports:,} ports keep it under "
        f"{TARGET_UTILISATION:.0%} of capacity ({units_now} unit(s){where} assumed during the incident: --param units)"
    )
    if worst.capacity.concentrated:
        reason += (
            "; few callers sent most of the calls and traffic reaches a unit by a hash of the client connection, so "
            "more units may not spread their connections: limit those callers too"
        )
    condition = units_needed(a.tier, units) or None
    title = f"Scale out to {units} units{where}"
    if a.tier is not None and condition:
        title = f"Move to a tier that allows {units} units{where}"
    return [Mitigation(MitigationId.SCALE_OUT, title, reason, situation.names, condition)]


def _ips_now(pool: PoolAssessment, ip_map: IpMap | None) -> int:
    """How many IPs the pool's hosts resolve to (1 when no map says)."""
    if ip_map is None or pool.pool.kind is not PoolKind.IP:
        return 1
    return max(len(ip_map.ips(host(d))) for d in pool.pool.destinations)


def spread_backend_ips(situation: Situation) -> list[Mitigation]:
    """Ports are per destination IP:port: enough backend IPs to keep each under the target, when there are fewer."""
    found = []
    for pool in situation.pools:
        now = _ips_now(pool, situation.ip_map)
        total = pool.peak_demand_high * now
        ips = math.ceil(total / (TARGET_UTILISATION * pool.capacity.low))
        if ips <= now:
            continue
        known = "by the --ip-map" if situation.ip_map is not None else "taken as 1: give --ip-map to count them"
        found.append(
            Mitigation(
                MitigationId.SPREAD_BACKEND_IPS,
                f"Spread the backend over {ips} IP addresses",
                f"ports are per destination IP:port; it resolves to {now} ({known}); {ips} IPs share "
                f"{total:,.0f} ports of demand at {total / ips / pool.capacity.low:.0%} of {pool.capacity.low:,} each",
                pool.pool.destinations,
            )
        )
    return found


def private_endpoint(situation: Situation) -> list[Mitigation]:
    """An exhausted Azure service that offers private endpoints can be reached without SNAT at all."""
    services = {name: is_private_endpoint_service(name) for name in situation.names}
    azure = tuple(name for name, service in services.items() if service)
    condition = subnet_condition(situation.assumptions.tier)
    if not azure or condition is None:
        return []
    kinds = ", ".join(sorted({s for s in services.values() if s}))
    return [
        Mitigation(
            MitigationId.PRIVATE_ENDPOINT,
            "Reach the backend through a private endpoint (VNet-connected APIM)",
            f"{', '.join(azure)} is {kinds}, which offers private endpoints; traffic over one uses no SNAT port",
            azure,
            condition,
        )
    ]


def _public_ips(situation: Situation, ports_per_ip: int) -> tuple[float, int]:
    """The worst pool's peak demand, and the public IPs of an egress that keep it under the sizing target."""
    peak = situation.worst.peak_demand_high
    return peak, max(1, math.ceil(peak / (TARGET_UTILISATION * ports_per_ip)))


def nat_gateway(situation: Situation) -> list[Mitigation]:
    """A NAT gateway for the instance's outbound calls: 64,512 ports per public IP, even for one exhausted
    destination; only where the tier's calls can leave through a subnet (``tiers.nat_gateway_condition``)."""
    condition = nat_gateway_condition(situation.assumptions.tier)
    if condition is None:
        return []
    peak, ips = _public_ips(situation, NAT_GATEWAY_PORTS_PER_IP)
    reason = (
        f"a NAT gateway gives {NAT_GATEWAY_PORTS_PER_IP:,} ports per public IP towards each destination IP:port, "
        f"against a peak of {peak:,.0f} on {situation.worst.id}"
    )
    title = f"Send outbound traffic through a NAT gateway ({ips} public IP)"
    return [Mitigation(MitigationId.NAT_GATEWAY, title, reason, situation.names, condition)]


def azure_firewall(situation: Situation) -> list[Mitigation]:
    """Azure Firewall as the egress: 2,496 ports per public IP per firewall instance; it needs the instance's
    calls routed through a subnet, like a NAT gateway."""
    condition = subnet_condition(situation.assumptions.tier)
    if condition is None:
        return []
    peak, ips = _public_ips(situation, FIREWALL_PORTS_PER_IP)
    reason = (
        f"Azure Firewall gives {FIREWALL_PORTS_PER_IP:,} ports per public IP per instance; {ips} keep a peak of "
        f"{peak:,.0f} under {TARGET_UTILISATION:.0%}"
    )
    title = f"Or route it through Azure Firewall with {ips} public IP(s)"
    return [Mitigation(MitigationId.AZURE_FIREWALL, title, reason, situation.names, condition)]


def _rate_limit(e: ExhaustedDestination, situation: Situation) -> list[Mitigation]:
    """rate-limit-by-key on the subscriptions or callers that drove the burst, with a limit per key."""
    a = situation.assumptions
    allowed_per_minute = TARGET_UTILISATION * e.pool.capacity.low * a.requests_per_connection / a.port_hold_minutes
    for kind, column in RATE_LIMIT_KEYS.items():
        if situation.coverage.lacks(column):
            continue
        keys = dominant_keys(drivers_of(situation.load_drivers, [e.assessment.key], kind))
        if keys.empty:
            continue
        share = float(keys["share"].sum())
        limit = max(1, math.floor(allowed_per_minute * share / len(keys)))
        named = ", ".join(f"{row.key} ({row.share:.0%})" for row in keys.itertuples())
        return [
            Mitigation(
                MitigationId.RATE_LIMIT_BY_KEY,
                f"Add rate-limit-by-key per {kind.replace('_', ' ')} (about {limit} calls per 60 s each)",
                f"{named} sent {share:.0%} of the calls to {e.label} while it failed; {limit} calls per 60 s "
                f"per key keeps them within {TARGET_UTILISATION:.0%} of the ports at "
                f"{a.requests_per_connection:g} request(s) per connection",
                (e.destination,),
            )
        ]
    return []


def rate_limit_by_key(situation: Situation) -> list[Mitigation]:
    """Per exhausted destination, when the load drivers name a few keys that sent most of its calls
    (and the logs carry the column that names them)."""
    if situation.load_drivers is None:
        return []
    return [m for e in situation.exhausted for m in _rate_limit(e, situation)]


def limit_concurrency(situation: Situation) -> list[Mitigation]:
    """Cap the calls in flight when they hold the ports: each open call is a port."""
    found = []
    for pool in situation.pools:
        if not _in_flight_drives(pool):
            continue
        cap = math.floor(TARGET_UTILISATION * pool.capacity.low)
        found.append(
            Mitigation(
                MitigationId.LIMIT_CONCURRENCY,
                f"Add limit-concurrency (max-count about {cap} in all) on the APIs calling it",
                f"up to {pool.peak_demand_low:,.0f} calls to {pool.id} were in flight at once; a cap keeps the "
                f"open connections under {TARGET_UTILISATION:.0%} of its {pool.capacity.low:,} ports while the backend "
                f"is slow",
                pool.pool.destinations,
            )
        )
    return found


def connection_reuse(situation: Situation) -> list[Mitigation]:
    """Failing when every request in the hold as a new connection is about the capacity: hardly any reuse."""
    a = situation.assumptions
    found = []
    for pool in situation.pools:
        failure = pool.failure
        if failure is None or _in_flight_drives(pool):
            continue
        reuse = a.requests_per_connection * failure.demand_at_onset / pool.capacity.low
        if reuse <= POOR_REUSE:
            found.append(
                Mitigation(
                    MitigationId.CONNECTION_REUSE,
                    "Keep backend connections alive and reused",
                    f"{pool.id} failed once about {failure.demand_at_onset:,.0f} requests had been sent in "
                    f"{a.port_hold_minutes} minutes, roughly {reuse:.1f} request(s) per connection: the backend or a "
                    f"proxy closes connections (check Connection: close and keep-alive settings)",
                    pool.pool.destinations,
                )
            )
    return found


def cache_responses(situation: Situation) -> list[Mitigation]:
    """Mostly GETs and hardly any cache hits: every cached answer is a connection not opened."""
    frame, found = situation.minutes, []
    for e in situation.exhausted:
        own = frame[(frame["region"] == e.assessment.region) & (frame["destination"] == e.destination)]
        requests = own["requests"].sum()
        gets = own["get_requests"].sum() / requests if requests else 0.0
        hits = own["cache_hits"].sum() / requests if requests else 0.0
        if gets >= CACHEABLE_GET_SHARE and hits < MAX_CACHE_HIT_SHARE:
            found.append(
                Mitigation(
                    MitigationId.CACHE_RESPONSES,
                    "Cache responses in APIM (cache-lookup / cache-store)",
                    f"{gets:.0%} of calls to {e.label} are GETs and {hits:.0%} were served from cache",
                    (e.destination,),
                )
            )
    return found


# In the order a responder would try them.
#: What changes a managed gateway's SNAT only: no help to a self-hosted gateway behind its own NAT.
MANAGED_GATEWAY_ONLY = (
    MitigationId.SCALE_OUT,
    MitigationId.PRIVATE_ENDPOINT,
    MitigationId.NAT_GATEWAY,
    MitigationId.AZURE_FIREWALL,
)

RULES: tuple[Callable[[Situation], list[Mitigation]], ...] = (
    backend_latency,
    scale_out,
    spread_backend_ips,
    private_endpoint,
    nat_gateway,
    azure_firewall,
    rate_limit_by_key,
    limit_concurrency,
    connection_reuse,
    cache_responses,
)


def recommend(
    assessments: list[Assessment],
    minutes: pd.DataFrame,
    assumptions: Assumptions,
    load_drivers: pd.DataFrame | None = None,
    coverage: Coverage | None = None,
    ip_map: IpMap | None = None,
) -> list[Mitigation]:
    """What to do about the SNAT exhaustion found; nothing when there is none."""
    found = exhausted(assessments)
    if not found:
        return []
    coverage = coverage or Coverage()
    situation = Situation(assessments, found, minutes, assumptions, load_drivers, coverage, ip_map)
    listed = [mitigation for rule in RULES for mitigation in rule(situation)]
    if coverage.self_hosted:  # its NAT is the node's or cluster's: APIM units and Azure egress do not change it
        listed = [m for m in listed if m.id not in MANAGED_GATEWAY_ONLY]
    return listed
