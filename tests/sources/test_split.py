"""A result the service cuts short is completed by asking for each half of its window, where that is exact.

The oracle is the local engine on the same rows: a Log Analytics stand-in (real
azure-monitor-query client, local HTTPS) runs the posted KQL on the sample and, like the
service, cuts results over a row limit or stops queries over a time limit.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.errors import KitError
from analysis.investigation.run import investigate
from analysis.query import pack
from analysis.sources.base import Request
from analysis.sources.local import open_local
from analysis.sources.split import COMBINERS, MAX_DEPTH, halves
from tests.azure_server import LA_PATH, answer_like_log_analytics, certificate, la_source, serve

__all__ = ["certificate", "serve"]  # fixtures used by name


@pytest.fixture(scope="module")
def local():
    source = open_local(sample_dir() / SAMPLE_LOGS)
    yield source
    source.close()


@pytest.fixture(scope="module")
def window(local) -> tuple[pd.Timestamp, pd.Timestamp]:
    first, last = local.time_range()
    return first.floor("min"), last.floor("min") + pd.Timedelta(minutes=1)


def request(name: str, window, **values) -> Request:
    query = pack.load(name)
    return Request(query, query.bind({"start": window[0], "end": window[1], **values}), "resource")


def test_halves_split_on_bin_boundaries():
    start, end = pd.Timestamp("2025-02-25T09:00"), pd.Timestamp("2025-02-25T09:17")
    first, second = halves(request("destination_health", (start, end)), pd.Timedelta(minutes=5))
    assert first.window == (start, pd.Timestamp("2025-02-25T09:05"))
    assert second.window == (pd.Timestamp("2025-02-25T09:05"), end)
    assert halves(request("destination_health", (start, start + pd.Timedelta(minutes=1))), pd.Timedelta("1min")) is None


def test_only_queries_whose_parts_combine_exactly_are_split():
    assert set(COMBINERS) == {
        "destination_health",
        "logged_requests",
        "error_breakdown",
        "latency_distribution",
        "raw_rows",
    }


def test_a_cut_per_minute_result_is_completed_from_parts(serve, local, window):
    replay = serve({}, respond=answer_like_log_analytics(local, max_rows=250))
    wanted = request("destination_health", window)
    got = la_source(replay).run_request(wanted)
    expected = local.run(wanted.kql)
    assert len(expected) == 720  # so that one answer of 250 rows cannot hold it
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got.attrs.get("complete", True) and not got.attrs.get("warnings") and got.attrs["parts"] >= 4
    assert len(replay.requests_to(LA_PATH)) > got.attrs["parts"]  # the cut whole and the cut halves were asked too


@pytest.mark.parametrize("name", ["error_breakdown", "latency_distribution"])
def test_counts_of_parts_cut_by_the_server_timeout_add_up_to_the_whole(serve, local, window, name):
    replay = serve({}, respond=answer_like_log_analytics(local, max_minutes=40))
    wanted = request(name, window)
    got = la_source(replay).run_request(wanted)
    expected = local.run(wanted.kql)
    if name == "error_breakdown":  # take_any: any message of the key is right
        assert all(message for message in got.pop("sample_message"))
        expected = expected.drop(columns="sample_message")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got.attrs["parts"] == 4


def test_a_whole_window_aggregate_is_never_patched_from_parts(serve, local, window):
    replay = serve({}, respond=answer_like_log_analytics(local, max_rows=3))
    got = la_source(replay).run_request(request("destination_inventory", window))
    assert len(got) == 3 and got.attrs["complete"] is False
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in got.attrs["warnings"][0]
    assert len(replay.requests_to(LA_PATH)) == 1
    timed_out = serve({}, respond=answer_like_log_analytics(local, max_minutes=40))
    with pytest.raises(KitError, match="outran its server timeout"):
        la_source(timed_out).run_request(request("destination_inventory", window))


def test_splitting_stops_at_its_depth_and_says_what_is_still_cut(serve, local, window):
    replay = serve({}, respond=answer_like_log_analytics(local, max_rows=1))
    got = la_source(replay).run_request(request("destination_health", window))
    assert got.attrs["complete"] is False and got.attrs["parts"] == 2**MAX_DEPTH
    assert len(replay.requests_to(LA_PATH)) == 2 ** (MAX_DEPTH + 1) - 1
    assert "more part(s)" in got.attrs["warnings"][0]


def test_an_investigation_through_a_cutting_service_finds_what_the_local_file_shows(serve, local, window):
    replay = serve({}, respond=answer_like_log_analytics(local, max_rows=250))
    remote = investigate(la_source(replay), *window).findings
    expected = investigate(local, *window).findings
    # calls_by_key keeps keys by their share of the whole span: its cut is reported, never patched, and what
    # is drawn from it (the trigger, who was hurt, the actions naming callers) is left out of the comparison.
    assert {query["name"] for query in remote["queries"] if not query["complete"]} == {"calls_by_key"}
    # Only the local engine reads every row, so only it can count bad values.
    assert remote.pop("data_quality") is None and expected.pop("data_quality")["problems"] == []
    for document in (remote, expected):
        for drawn in ("source", "queries", "trigger", "impact"):
            document.pop(drawn)
        for entry in document["destinations"]:
            entry.pop("actions")
    assert remote == expected


def test_findings_say_which_query_stayed_incomplete(serve, local, window):
    replay = serve({}, respond=answer_like_log_analytics(local, max_rows=5))
    document = investigate(la_source(replay), *window).findings
    complete = {query["name"]: query["complete"] for query in document["queries"]}
    assert complete["destination_inventory"] is False and complete["destination_health"] is False
    assert complete["error_breakdown"] is True


def test_a_cut_result_from_azure_data_explorer_is_completed_the_same_way(serve, local, window):
    from analysis.sources.kusto import KustoSource
    from tests.azure_server import KUSTO_METADATA, KUSTO_QUERY, FakeCredential, answer_like_kusto

    replay = serve({("GET", KUSTO_METADATA): "kusto_metadata.json"}, respond=answer_like_kusto(local, max_rows=250))
    wanted = request("destination_health", window)
    got = KustoSource(replay.url, "gatewaylogs", credential=FakeCredential()).run_request(wanted)
    pd.testing.assert_frame_equal(got, local.run(wanted.kql), check_dtype=False)
    assert got.attrs["parts"] >= 4 and len(replay.requests_to(KUSTO_QUERY)) > got.attrs["parts"]
