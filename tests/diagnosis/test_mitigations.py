"""Mitigations: sized to the incident and the estate, listed only where they apply, in a fixed order."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.diagnosis.assumptions import Assumptions, from_params
from analysis.diagnosis.coverage import Coverage
from analysis.diagnosis.mitigations import RULES, MitigationId, is_private_endpoint_service, recommend
from analysis.diagnosis.pools import parse_ip_map
from analysis.diagnosis.tiers import FACTS, Tier
from analysis.errors import KitError
from tests.builders import BURST, REGION, SNAT_FAILURES, diagnosis_of, frame

DRIVERS = pd.DataFrame(
    {
        "region": REGION,
        "destination": "orders.azurewebsites.net:443",
        "key_kind": ["subscription", "subscription", "caller_ip"],
        "key": ["bulk-sync", "web", "52.1.2.3"],
        "requests": [800, 200, 800],
        "share": [0.8, 0.2, 0.8],
        "connection_failures": [0, 0, 0],
    }
)


def found(*frames, drivers=None, coverage=None, ip_map=None, assumptions=None):
    diagnosis = diagnosis_of(*frames, drivers=drivers, ip_map=ip_map, assumptions=assumptions)
    settings = assumptions or Assumptions()
    return {m.id: m for m in recommend(diagnosis.assessments, diagnosis.minutes, settings, drivers, coverage, ip_map)}


def test_mitigations_are_sized_and_only_when_they_apply():
    listed = found(frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES), drivers=DRIVERS)
    assert listed["scale_out"].title == "Scale out to 3 units in West Europe"  # 1600 / (0.75 * 1024) = 2.08 -> 3
    assert listed["spread_backend_ips"].title == "Spread the backend over 3 IP addresses"
    assert "it resolves to 1 (taken as 1" in listed["spread_backend_ips"].reason
    assert "App Service" in listed["private_endpoint"].reason
    assert "64,512 ports per public IP" in listed["nat_gateway"].reason
    assert listed["azure_firewall"].title == "Or route it through Azure Firewall with 1 public IP(s)"
    assert "bulk-sync (80%)" in listed["rate_limit_by_key"].reason
    assert {"cache_responses", "connection_reuse"} <= set(listed)
    assert {"backend_latency", "limit_concurrency"}.isdisjoint(listed), "70 ms calls hold next to no ports"
    quiet = diagnosis_of(frame("ok:443", [100] * 20, [0] * 20))
    assert recommend(quiet.assessments, quiet.minutes, Assumptions()) == []


def test_a_slow_backend_holding_the_ports_is_told_to_answer_faster_first():
    slow = frame(
        "pricing.x.net:443", BURST, SNAT_FAILURES, busy_ms=[60_000.0 * (600 if f else 5) for f in SNAT_FAILURES]
    )
    listed = list(found(slow))
    assert listed[0] == "backend_latency" and "limit_concurrency" in listed
    assert "connection_reuse" not in listed


def test_rate_limits_need_the_column_that_names_the_callers():
    orders = frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES)
    no_subscription = found(orders, drivers=DRIVERS, coverage=Coverage(absent_columns=("ApimSubscriptionId",)))
    assert "per caller ip" in no_subscription["rate_limit_by_key"].title
    blind = Coverage(absent_columns=("ApimSubscriptionId", "CallerIpAddress"))
    assert "rate_limit_by_key" not in found(orders, drivers=DRIVERS, coverage=blind)


def test_spreading_counts_the_ips_the_map_gives_and_few_callers_make_scaling_out_doubtful():
    orders = frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES)
    two = parse_ip_map("host,ip\norders.azurewebsites.net,20.1.1.1\norders.azurewebsites.net,20.1.1.2\n")
    spread = found(orders, ip_map=two, drivers=DRIVERS)["spread_backend_ips"]
    assert "it resolves to 2 (by the --ip-map)" in spread.reason
    few = found(orders, drivers=DRIVERS, assumptions=Assumptions(units=2))["scale_out"]
    assert "may not spread their connections" in few.reason


def test_private_endpoints_only_for_services_that_have_them():
    assert is_private_endpoint_service("kv.vault.azure.net:443") == "Key Vault"
    assert is_private_endpoint_service("ai.openai.azure.com:443") == "Azure OpenAI"
    assert is_private_endpoint_service("search.cloudapp.azure.com:443") is None
    vm = frame("search.cloudapp.azure.com:443", BURST, SNAT_FAILURES)
    assert "private_endpoint" not in found(vm)


def test_the_table_is_in_the_order_a_responder_tries_them():
    assert [rule.__name__ for rule in RULES] == [m.value for m in MitigationId]


def test_a_nat_gateway_and_a_firewall_only_where_the_tier_and_network_allow_them():
    orders = frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES)
    unknown = found(orders)
    assert "give --param tier=" in unknown["nat_gateway"].condition
    assert "Developer or Premium injected" in unknown["azure_firewall"].condition
    for tier in (Tier.BASIC, Tier.STANDARD, Tier.BASIC_V2, Tier.CONSUMPTION):
        listed = found(orders, assumptions=Assumptions(tier=tier))
        assert {"nat_gateway", "azure_firewall", "private_endpoint"}.isdisjoint(listed), tier
    premium = found(orders, assumptions=Assumptions(tier=Tier.PREMIUM))
    assert "natGatewayState Enabled" in premium["nat_gateway"].condition
    assert premium["private_endpoint"].condition.startswith("Premium: injected in a virtual network")
    assert (
        "virtual network integration"
        in found(orders, assumptions=Assumptions(tier=Tier.STANDARD_V2))["nat_gateway"].condition
    )


def test_scale_out_stays_within_the_tiers_unit_limit():
    orders = frame("orders.azurewebsites.net:443", BURST, SNAT_FAILURES)  # needs 3 units
    assert found(orders, assumptions=Assumptions(tier=Tier.STANDARD))["scale_out"].condition is None
    basic = found(orders, assumptions=Assumptions(tier=Tier.BASIC))["scale_out"]
    assert basic.title == "Move to a tier that allows 3 units in West Europe"
    assert basic.condition.startswith("the Basic tier scales to at most 2 units: move to Standard (up to 4)")
    developer = found(orders, assumptions=Assumptions(tier=Tier.DEVELOPER))["scale_out"]
    assert developer.condition.startswith("the Developer tier cannot add units")
    unknown = found(orders)["scale_out"]
    assert unknown.title == "Scale out to 3 units in West Europe" and "Developer and Consumption cannot" in (
        unknown.condition
    )


def test_the_tier_is_a_parameter_people_can_spell_their_way():
    assert from_params({"tier": "premium_v2"}).tier is Tier.PREMIUM_V2
    assert from_params({"tier": "Standard v2"}).tier is Tier.STANDARD_V2 and from_params({"tier": ""}).tier is None
    with pytest.raises(KitError, match="unknown tier 'Gold' \\(known: Developer, Basic, Standard, Premium"):
        from_params({"tier": "Gold"})
    assert [FACTS[t].max_units for t in Tier] == [1, 2, 4, None, 0, 10, 10, 30]
