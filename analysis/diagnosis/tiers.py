"""The API Management tiers: how far each scales out, and which can send their outbound calls through a NAT gateway.

A mitigation is only worth offering where the instance can take it: scale-out within the tier's unit limit
(Developer cannot add units at all), a NAT gateway only where the gateway's outbound traffic leaves through a
subnet of the customer's virtual network. ``--param tier=...`` says the tier; without it every mitigation says
what it needs. Sources (FACTS.md, "Tiers"): Microsoft Learn's upgrade-and-scale, autoscale and v2-tiers pages for
the units, the virtual-network pages and the shared reference's "v2 tiers and NAT gateway" for the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analysis.errors import KitError


class Tier(StrEnum):
    """The API Management tiers; the values are how ``--param tier=`` and findings.json spell them."""

    DEVELOPER = "Developer"
    BASIC = "Basic"
    STANDARD = "Standard"
    PREMIUM = "Premium"
    CONSUMPTION = "Consumption"
    BASIC_V2 = "Basic v2"
    STANDARD_V2 = "Standard v2"
    PREMIUM_V2 = "Premium v2"


@dataclass(frozen=True)
class TierFacts:
    """What a tier allows: the most units (per region; None for no fixed limit, 0 for no units at all), how its
    outbound calls can leave through a subnet of a virtual network ("" when they cannot), and how a NAT gateway then
    takes them."""

    max_units: int | None
    subnet: str = ""
    nat_gateway: str = ""
    note: str = ""


_INJECTED = "injected in a virtual network (stv2)"
_INJECTED_NAT = "natGatewayState Enabled on the service (and each additional location), or a NAT gateway on its subnet"
_INTEGRATED_NAT = "a NAT gateway on that subnet (confirm with Microsoft that it carries calls to public backends)"
#: Units: Developer cannot scale (1 unit); Basic 2 (the pricing page; not re-checked here); Standard 4; Premium any
#: number per region; Basic v2 and Standard v2 up to 10; Premium v2 up to 30; Consumption scales by itself.
FACTS: dict[Tier, TierFacts] = {
    Tier.DEVELOPER: TierFacts(1, _INJECTED, _INJECTED_NAT, "the Developer tier cannot add units and has no SLA"),
    Tier.BASIC: TierFacts(2),
    Tier.STANDARD: TierFacts(4),
    Tier.PREMIUM: TierFacts(None, _INJECTED, _INJECTED_NAT),
    Tier.CONSUMPTION: TierFacts(0, note="the Consumption tier has no units: it scales by itself"),
    Tier.BASIC_V2: TierFacts(10),
    Tier.STANDARD_V2: TierFacts(10, "with outbound virtual network integration", _INTEGRATED_NAT),
    Tier.PREMIUM_V2: TierFacts(30, "injected in or integrated with a virtual network", _INTEGRATED_NAT),
}
UNKNOWN_TIER_SUBNET = (
    "only for an instance whose outbound calls leave through a subnet of yours: Developer or Premium injected in a "
    "virtual network, Standard v2 or Premium v2 with virtual network integration; not Basic, Standard, Basic v2 or "
    "Consumption (give --param tier=... to check)"
)


def parse_tier(text: str) -> Tier:
    """A tier as a person writes it: any case, "v2" with or without a space, underscore or hyphen.

    >>> parse_tier("standard_v2"), parse_tier("PremiumV2"), parse_tier("developer")
    (<Tier.STANDARD_V2: 'Standard v2'>, <Tier.PREMIUM_V2: 'Premium v2'>, <Tier.DEVELOPER: 'Developer'>)
    """
    wanted = "".join(text.lower().replace("_", " ").replace("-", " ").split())
    for tier in Tier:
        if "".join(tier.value.lower().split()) == wanted:
            return tier
    raise KitError(f"parameter 'tier': unknown tier {text!r} (known: {', '.join(t.value for t in Tier)})")


def units_needed(tier: Tier | None, units: int) -> str:
    """What ``units`` units per region need of the tier: "" when the tier allows them, else why not and what would.

    >>> units_needed(Tier.STANDARD, 3)
    ''
    >>> units_needed(Tier.STANDARD, 12)
    'the Standard tier scales to at most 4 units: move to Premium (no fixed limit) or Premium v2 (up to 30)'
    """
    if tier is None:
        return (
            f"needs a tier that allows {units} units per region (Basic up to 2, Standard 4, Basic v2 and Standard v2 "
            "10, Premium v2 30, Premium more; Developer and Consumption cannot add units): give --param tier=..."
        )
    limit = FACTS[tier].max_units
    if limit is None or units <= limit:
        return ""
    if limit in (0, 1):
        return f"{FACTS[tier].note}: move to a tier that scales out ({_room(units)})"
    return f"the {tier.value} tier scales to at most {limit} units: move to {_room(units)}"


def _room(units: int) -> str:
    """The tiers that allow ``units`` units, as a person reads them."""
    found = [
        f"{tier.value} ({'no fixed limit' if facts.max_units is None else f'up to {facts.max_units}'})"
        for tier, facts in FACTS.items()
        if facts.max_units is None or (facts.max_units > 1 and units <= facts.max_units)
    ]
    return ", ".join(found[:-1]) + f" or {found[-1]}" if len(found) > 1 else "".join(found)


def subnet_condition(tier: Tier | None) -> str | None:
    """When the tier's outbound calls can be routed through a subnet (to a firewall, a private endpoint); None when
    they cannot."""
    if tier is None:
        return UNKNOWN_TIER_SUBNET
    facts = FACTS[tier]
    return f"{tier.value}: {facts.subnet}" if facts.subnet else None


def nat_gateway_condition(tier: Tier | None) -> str | None:
    """When a NAT gateway can carry the tier's outbound calls, and how; None when the tier cannot use one."""
    if tier is None:
        return UNKNOWN_TIER_SUBNET
    facts = FACTS[tier]
    return f"{tier.value} {facts.subnet}: {facts.nat_gateway}" if facts.subnet else None
