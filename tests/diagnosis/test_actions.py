"""An action for every cause: each troubled destination gets ordered actions tied to its evidence, each with the
KQL or the portal place that confirms it and who does it."""

from __future__ import annotations

import copy
import shlex

import pytest

from analysis.diagnosis.actions import RULES, Case, actions_for, cases, query_command
from analysis.diagnosis.assessment import Classification
from analysis.investigation.run import Investigation, investigate
from analysis.sources import open_source


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


def by_destination(document: dict) -> dict[str, list[dict]]:
    return {e["destination"].split(".")[0]: e["actions"] for e in document["destinations"]}


def test_every_troubled_destination_gets_actions_and_a_healthy_one_none(found):
    document = found.findings
    for entry in document["destinations"]:
        troubled = entry["classification"] not in ("healthy",)
        assert bool(entry["actions"]) == troubled, entry["destination"]
        for action in entry["actions"]:
            assert action["title"] and action["why"] and action["confirm"] and action["owner"], action
    assert set(RULES) == set(Classification)


def test_each_cause_gets_its_own_checks_in_order(found):
    actions = by_destination(found.findings)
    assert [a["id"] for a in actions["search"]] == [
        "check_backend_health",
        "check_dns",
        "check_network_path",
        "check_certificates",
    ]
    assert "141 of 143 calls (98.6%) failed from 09:00 to 09:05 UTC" in actions["search"][0]["why"]
    assert "refused or reset" in actions["search"][0]["why"]
    assert [a["id"] for a in actions["legacy-erp"]] == ["backend_capacity", "forward_request_timeout"]
    assert "14,579 ms from 08:50 to 09:15 UTC against 384 ms before" in actions["legacy-erp"][0]["why"]
    assert "apim-snat queries show latency_distribution" in actions["legacy-erp"][0]["confirm"]
    assert [a["id"] for a in actions["payments"]] == ["give_backend_the_failing_operations", "check_backend_change"]
    assert "create-charge 148" in actions["payments"][0]["why"]
    assert (
        "request_rows" in actions["payments"][0]["confirm"] and "failed_only=true" in actions["payments"][0]["confirm"]
    )


def test_snat_is_confirmed_then_its_mitigations_then_the_callers_who_sent_the_burst(found):
    document = found.findings
    (orders,) = [e for e in document["destinations"] if e["classification"] == "snat_exhaustion"]
    ids = [a["id"] for a in orders["actions"]]
    assert ids[0] == "confirm_snat" and ids[-1] == "talk_to_burst_callers"
    assert [a["mitigation"] for a in orders["actions"][1:-1]] == [m["id"] for m in document["mitigations"]]
    assert "SNAT Port Analysis" in orders["actions"][0]["confirm"]
    assert "partner-bulk-sync" in orders["actions"][-1]["why"] and orders["actions"][-1]["owner"] == "API consumers"
    nat = [a for a in orders["actions"] if a["mitigation"] == "nat_gateway"][0]
    assert "give --param tier=" in nat["condition"]


def test_a_low_answer_first_says_what_tells_the_causes_apart(found):
    document = copy.deepcopy(found.findings)
    (search,) = [e for e in document["destinations"] if e["destination"].startswith("search.")]
    search["confidence"], search["alternatives"] = "low", ["snat_exhaustion"]
    (case,) = [c for c in cases(document) if c.entry is search]
    first = actions_for(case)[0]
    assert (
        first.id == "tell_causes_apart"
        and first.title == "Tell backend unreachable from SNAT port exhaustion apart before acting"
    )
    assert "SNAT Port Analysis" in first.confirm and "no connection from the gateway" in first.confirm


def test_the_commands_to_confirm_keep_a_hostile_destination_one_word():
    hostile = "a.b:443'; rm -rf / #"
    command = query_command("request_rows", destination=hostile, failed_only=True)
    assert shlex.split(command)[-3:] == [f"destination={hostile}", "--param", "failed_only=true"]


def test_an_unknown_destination_is_told_to_export_again():
    entry = {
        "destination": "x:443",
        "region": "",
        "classification": "unknown",
        "confidence": "low",
        "alternatives": [],
        "episodes": [],
        "onset": None,
        "reason": "",
        "evidence": {"missing": ["LastErrorReason"]},
    }
    (action,) = actions_for(Case(entry, None))
    assert action.id == "export_again" and "LastErrorReason" in action.why


def test_a_destination_troubled_over_the_window_without_an_episode_is_confirmed_over_the_window():
    """Backend errors over 5 % of the window's calls but never in sustained minutes: no episode, still actions."""
    entry = {
        "destination": "pay:443",
        "region": "",
        "classification": "backend_errors",
        "confidence": "high",
        "alternatives": [],
        "episodes": [],
        "onset": None,
        "reason": "",
        "evidence": {},
    }
    window = ("2025-02-25T08:30:00Z", "2025-02-25T10:30:00Z")
    first, _ = actions_for(Case(entry, None, window=window))
    assert "--param start=2025-02-25T08:30Z --param end=2025-02-25T10:30Z" in first.confirm
    assert "--param region" not in first.confirm
