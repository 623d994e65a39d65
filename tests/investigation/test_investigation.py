"""The investigation: query results flagged by the source reach the findings and the summary."""

from __future__ import annotations


def test_a_result_cut_short_by_the_service_is_said_in_findings_and_summary(scenario_export):
    from analysis.investigation.run import investigate
    from analysis.postmortem import summary
    from analysis.sources.base import Wrapping
    from analysis.sources.local import open_local

    class CutShort(Wrapping):
        """The real local source, whose health result comes back flagged as Log Analytics flags a cut."""

        def __init__(self, inner):
            self.inner = inner

        def run(self, kql):
            frame = self.inner.run(kql)
            if kql.startswith("// destination_health"):
                frame.attrs["warnings"] = ["partial result (500000 rows kept): E_QUERY_RESULT_SET_TOO_LARGE"]
            return frame

    findings = investigate(CutShort(open_local(scenario_export("no_incident")))).findings
    health = [q for q in findings["queries"] if q["name"] == "destination_health"][0]
    assert health["warnings"] == ["partial result (500000 rows kept): E_QUERY_RESULT_SET_TOO_LARGE"]
    assert "**Warning: the result of <code>destination\\_health</code> is incomplete" in summary.executive_summary(
        findings
    )


def test_a_two_year_window_over_two_hours_of_logs_finds_what_the_two_hours_find():
    """Minutes far from any request are neither kept nor judged: the same findings, in the memory of the two hours."""
    import pandas as pd

    from analysis.diagnosis.assumptions import Assumptions
    from analysis.investigation.run import investigate
    from analysis.sources import open_source

    source = open_source("sample")
    try:
        own = investigate(source)
        wide = investigate(
            source, pd.Timestamp("2024-01-01"), pd.Timestamp("2026-01-01"), Assumptions(max_window_days=800)
        )
    finally:
        source.close()
    # The two hours, and the minutes after the last request while its ports are still held.
    assert len(own.diagnosis.timeseries) <= len(wide.diagnosis.timeseries) < 1.2 * len(own.diagnosis.timeseries)
    documents = [own.findings, wide.findings]
    for document in documents:
        for name in ("window", "queries", "assumptions"):
            document.pop(name)
    assert documents[0] == documents[1]


def test_a_window_without_a_request_is_one_line_naming_where_the_data_is():
    import pandas as pd
    import pytest

    from analysis.errors import KitError
    from analysis.investigation.run import investigate
    from analysis.sources.local import open_local
    from tests.paths import SAMPLE_DIR

    source = open_local(SAMPLE_DIR / "gateway_logs.parquet")
    with pytest.raises(KitError) as raised:
        investigate(source, pd.Timestamp("2025-02-24 06:00"), pd.Timestamp("2025-02-24 07:00"))
    message = str(raised.value)
    assert message.startswith("no request between 2025-02-24T06:00Z and 2025-02-24T07:00Z")
    assert "the source holds rows from 2025-02-25T08:30Z to 2025-02-25T10:29Z" in message and "\n" not in message


def test_an_export_cut_at_the_portals_row_cap_inside_an_episode_says_so(tmp_path):
    """The newest 30,000 rows of the sample: the portal's cap, starting inside the SNAT episode. The cut is named,
    the onset is before the data starts, and the answer is no longer sure."""
    import pandas as pd

    from analysis.investigation.run import investigate
    from analysis.sources.local import open_local
    from tests.paths import SAMPLE_DIR

    logs = pd.read_parquet(SAMPLE_DIR / "gateway_logs.parquet").sort_values("TimeGenerated")
    logs.tail(30_000).to_parquet(tmp_path / "cut.parquet")
    found = investigate(open_local(tmp_path / "cut.parquet")).findings
    kinds = [c["kind"] for c in found["data_quality"]["cut"]]
    assert kinds == ["row_cap", "starts_inside_episode"]
    assert "orders.contoso-backend.com:443" in found["data_quality"]["cut"][1]["detail"]
    (orders,) = [d for d in found["destinations"] if d["classification"] == "snat_exhaustion"]
    assert orders["onset_observed"] is False and orders["episodes"][0]["onset_observed"] is False
    assert orders["confidence"] != "high"
    whole = investigate(open_local(SAMPLE_DIR / "gateway_logs.parquet")).findings
    assert whole["data_quality"]["cut"] == [] and whole["destinations"][0]["onset_observed"] is True
