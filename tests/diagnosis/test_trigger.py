"""What changed before an onset: a rise in calls against the baseline, who sent it out of proportion, the answered
calls' latency, the notes; and the spans the calls are asked for, from the health query alone."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assessment import Classification
from analysis.diagnosis.callers import BASELINE_MINUTES, LEAD_MINUTES, MAX_SPAN_MINUTES, Span, covered, trouble_spans
from analysis.diagnosis.health import normalise
from analysis.diagnosis.trigger import find, triggers
from analysis.investigation.run import Investigation, investigate
from analysis.sources import open_source
from analysis.sources.sharing import Pseudonyms
from tests.builders import REGION, START, diagnosis_of, frame

ONSET = START + pd.Timedelta(minutes=50)
ORDERS = "orders:443"


def minutes(requests: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"minute": pd.date_range(START, periods=len(requests), freq="min"), "requests": requests})


def calls(keys: dict[str, list[int]], p95: list[float] | None = None) -> pd.DataFrame:
    """``calls_by_key`` rows of one destination: per subscription its calls a minute, "all" their sum."""
    every = [sum(values) for values in zip(*keys.values(), strict=True)]
    rows = []
    for n, total in enumerate(every):
        minute = START + pd.Timedelta(minutes=n)
        answered = p95[n] if p95 else 100.0
        rows.append({"minute": minute, "key_kind": "all", "key": "", "requests": total, "answered_p95_ms": answered})
        rows += [
            {
                "minute": minute,
                "key_kind": "subscription",
                "key": key,
                "requests": values[n],
                "answered_p95_ms": answered,
            }
            for key, values in keys.items()
        ]
    return pd.DataFrame(rows).assign(region=REGION, destination=ORDERS, failed_requests=0)


def orders_with(requests: list[int], failures: list[int]):
    (assessment,) = [a for a in diagnosis_of(frame(ORDERS, requests, failures)).assessments if a.episodes]
    return assessment


BURST = [80] * 48 + [400] * 12
FAILING = [0] * 50 + [150] * 8 + [0] * 2


def test_a_rise_just_before_the_onset_is_named_with_who_sent_it_out_of_proportion():
    assessment = orders_with(BURST, FAILING)
    (episode,) = assessment.episodes
    assert episode.onset == ONSET
    keyed = calls({"web": [60] * 60, "bulk-job": [20] * 48 + [340] * 12})
    found = find(assessment, episode, minutes(BURST), keyed)
    assert found.change_at == START + pd.Timedelta(minutes=48) and found.factor == pytest.approx(5.0)
    assert [(d.key, round(d.share_of_rise, 2)) for d in found.drivers] == [("bulk-job", 1.0)]
    assert found.statement.startswith("at 09:48 calls to orders:443 (West Europe) rose 5.0x, from about 80 to 400")
    assert "2 minute(s) before the onset at 09:50" in found.statement
    assert "subscription bulk-job sent 100% of the rise (20 to 340 calls a minute)" in found.statement


def test_a_key_that_always_carried_the_calls_is_not_named_as_the_cause():
    assessment = orders_with(BURST, FAILING)
    keyed = calls({"web": [60] * 48 + [300] * 12, "app": [20] * 48 + [100] * 12})  # both rose 5x: proportion kept
    found = find(assessment, assessment.episodes[0], minutes(BURST), keyed)
    assert found.factor == pytest.approx(5.0) and found.drivers == ()
    assert "the rise came from their usual callers" in found.statement


def test_no_rise_no_baseline_and_an_onset_before_the_data_each_say_so():
    steady = [80] * 60
    assessment = orders_with(steady, FAILING)
    found = find(assessment, assessment.episodes[0], minutes(steady), calls({"web": steady}))
    assert found.change_at is None and "did not rise before the onset at 09:50 (about 80 a minute)" in found.statement
    late = orders_with([80] * 8 + [80] * 52, [0] * 8 + [150] * 8 + [0] * 44)
    early = find(late, late.episodes[0], minutes([80] * 60), calls({"web": [80] * 60}))
    assert early.baseline_per_minute is None and "too few minutes before the onset at 09:08" in early.statement
    cut = orders_with([80] * 60, [150] * 8 + [0] * 52)
    inside = find(cut, cut.episodes[0], minutes([80] * 60), calls({"web": [80] * 60}))
    assert not inside.onset_observed and "what started it is not in the data" in inside.statement


def test_a_slower_backend_before_the_onset_and_the_notes_just_before_it_are_said():
    assessment = orders_with([80] * 60, FAILING)
    p95 = [100.0] * 45 + [900.0] * 15
    notes = [
        Annotation(START + pd.Timedelta(minutes=44), "deploy v2"),  # 6 minutes before: said
        Annotation(START + pd.Timedelta(minutes=10), "standup"),  # long before: not
    ]
    found = find(assessment, assessment.episodes[0], minutes([80] * 60), calls({"web": [80] * 60}, p95), notes)
    assert found.answered_p95_before_ms == 100.0 and found.answered_p95_lead_ms == 900.0 and found.latency_rose
    assert "the answered calls' p95 rose from 100 to 900 ms" in found.statement
    assert [n.label for n in found.notes] == ["deploy v2"] and found.statement.endswith("note at 09:44: deploy v2")


def test_the_spans_to_ask_come_from_the_health_query_alone():
    """A failing stretch and a slow one, each with the baseline before it; far apart, they are two spans; a calm
    destination gets none; a span is never longer than the bound."""
    failing = frame(ORDERS, [80] * 300, [0] * 100 + [20] * 10 + [0] * 150 + [20] * 10 + [0] * 30)
    slow = frame("erp:443", [40] * 300, [0] * 300)
    slow.loc[200:210, "backend_p95_ms"] = 4000.0
    calm = frame("quiet:443", [40] * 300, [0] * 300)
    health = normalise(pd.concat([failing, slow, calm], ignore_index=True))
    window = (START, START + pd.Timedelta(minutes=300))
    spans = trouble_spans(health, window)
    lead = pd.Timedelta(minutes=BASELINE_MINUTES + LEAD_MINUTES)
    assert [(s.destination, s.start, s.end) for s in spans] == [
        ("erp:443", START + pd.Timedelta(minutes=200) - lead, START + pd.Timedelta(minutes=211)),
        (ORDERS, START + pd.Timedelta(minutes=100) - lead, START + pd.Timedelta(minutes=110)),
        (ORDERS, START + pd.Timedelta(minutes=260) - lead, START + pd.Timedelta(minutes=270)),
    ]
    endless = normalise(frame(ORDERS, [80] * 600, [20] * 600))
    (span,) = trouble_spans(endless, (START, START + pd.Timedelta(minutes=600)))
    assert span.end - span.start == pd.Timedelta(minutes=MAX_SPAN_MINUTES)
    assert covered([span], span.key, START, START + pd.Timedelta(minutes=10))
    assert not covered([span], span.key, START, START + pd.Timedelta(minutes=600))
    assert not covered([Span(REGION, "other:443", START, span.end)], span.key, START, START + pd.Timedelta(minutes=1))


@pytest.fixture(scope="module")
def found() -> Investigation:
    return investigate(open_source("sample"))


def test_the_sample_names_the_burst_and_its_two_jobs(found):
    document = found.findings
    (orders,) = [t for t in document["trigger"] if t["classification"] == Classification.SNAT_EXHAUSTION]
    assert orders["change_at"] == "2025-02-25T09:21:00Z" and orders["onset"] == "2025-02-25T09:23:00Z"
    assert orders["factor"] == pytest.approx(6.5, abs=0.1)
    subscriptions = {d["key"] for d in orders["drivers"] if d["key_kind"] == "subscription"}
    assert subscriptions == {"partner-bulk-sync", "orders-replay-job"}
    others = [t for t in document["trigger"] if t is not orders]
    assert len(others) == 3 and all(t["change_at"] is None for t in others), "the other troubles had no rise"
    assert [t["onset"] for t in document["trigger"]] == sorted(t["onset"] for t in document["trigger"])


def test_the_answered_latency_before_is_one_figure_in_the_trigger_and_the_impact(found):
    rows = {(r["region"], r["destination"]): r for r in found.findings["impact"]["affected"]}
    for t in found.findings["trigger"]:
        assert t["answered_p95_before_ms"] == rows[(t["region"], t["destination"])]["answered_p95_ms_before"]


def test_a_caller_range_is_pseudonymised_like_a_caller_ip():
    names = Pseudonyms(b"k")
    rows = pd.DataFrame({"key_kind": ["caller_range", "api"], "key": ["52.174.18.0/24", "orders-api"]})
    assert names.frame(rows)["key"].tolist() == [names("ip", "52.174.18.0/24"), "orders-api"]


def test_triggers_cover_every_episode_up_to_the_worst_three():
    requests = [80] * 200
    failures = ([0] * 20 + [50] * 3) * 8 + [0] * 16
    (assessment,) = [a for a in diagnosis_of(frame(ORDERS, requests, failures)).assessments if a.episodes]
    assert len(assessment.episodes) > 3
    found = triggers([assessment], diagnosis_of(frame(ORDERS, requests, failures)).minutes, calls({"w": requests}))
    assert len(found) == 3 and [t.onset for t in found] == sorted(t.onset for t in found)
