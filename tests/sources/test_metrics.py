"""The Requests platform metric (real MetricsClient, local HTTPS) and what it says beside the logs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.diagnosis import witness
from analysis.errors import KitError
from analysis.investigation.findings import SCHEMA_PATH
from analysis.sources import metrics
from analysis.sources.metrics import MetricRequest
from tests.azure_server import FakeCredential, answer_like_metrics, certificate, metric_counts, serve

__all__ = ["certificate", "serve"]  # fixtures used by name
RESOURCE = (
    "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/resourceGroups/rg-apim/providers/"
    "Microsoft.ApiManagement/service/contoso-apim"
)
START, END = pd.Timestamp("2025-02-25T08:30"), pd.Timestamp("2025-02-25T10:30")
BATCH_PATH = "/subscriptions/4f2a8c1e-9b3d-4e5f-a6b7-c8d9e0f1a2b3/metrics:getBatch"


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return pd.read_parquet(sample_dir() / SAMPLE_LOGS)


def test_the_metric_is_asked_per_minute_by_region_and_error_reason(serve, monkeypatch, logs):
    replay = serve({}, respond=answer_like_metrics(RESOURCE, logs))
    monkeypatch.setattr(metrics, "ENDPOINT", replay.url)
    credential = FakeCredential()
    frame = metrics.fetch(MetricRequest(RESOURCE, "West Europe", START, END), credential, {"retry_total": 0})
    expected = metric_counts(logs).sort_values(metrics.COLUMNS[:3]).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    (seen,) = replay.seen
    assert (seen.method, seen.path) == ("POST", BATCH_PATH)
    assert seen.json() == {"resourceids": [RESOURCE]}
    query = {name: values[0] for name, values in seen.query.items()}
    assert query["metricnamespace"] == "Microsoft.ApiManagement/service" and query["metricnames"] == "Requests"
    assert query["interval"] == "PT1M" and query["aggregation"] == "Total" and query["top"] == "1000"
    assert query["filter"] == "Location eq '*' and LastErrorReason eq '*'"
    assert (query["starttime"], query["endtime"]) == ("2025-02-25T08:30:00.000Z", "2025-02-25T10:30:00.000Z")
    assert credential.scopes == [("https://metrics.monitor.azure.com/.default",)]


def test_a_refusal_is_one_line_naming_the_role(serve, monkeypatch):
    body = json.dumps({"error": {"code": "AuthorizationFailed", "message": "no access"}}).encode()
    replay = serve({}, respond=lambda seen: (403, body))
    monkeypatch.setattr(metrics, "ENDPOINT", replay.url)
    with pytest.raises(KitError, match="Monitoring Reader role") as caught:
        metrics.fetch(MetricRequest(RESOURCE, "westeurope", START, END), FakeCredential(), {"retry_total": 0})
    assert "\n" not in str(caught.value) and "contoso-apim" in str(caught.value)


@pytest.mark.parametrize(
    ("resource", "region", "message"),
    [
        ("/subscriptions/x/resourceGroups/y", "westeurope", "not an Azure resource id"),
        (RESOURCE.replace("Microsoft.ApiManagement/service", "Microsoft.Web/sites"), "westeurope", "not an API Man"),
        (RESOURCE, "west-europe!", "--metrics-region"),
    ],
)
def test_a_bad_target_is_refused_before_any_request(resource, region, message):
    with pytest.raises(KitError, match=message):
        MetricRequest(resource, region, START, END)


# --- what the metric says beside the logs (pure) -------------------------------------------------

MINUTES = pd.date_range("2025-02-25T09:00", periods=4, freq="1min")


def metric(requests: list[int], failures: list[int], location: str = "West Europe") -> pd.DataFrame:
    rows = [(m, location, "None", r - f) for m, r, f in zip(MINUTES, requests, failures, strict=True)]
    rows += [(m, location, witness.FAILURE, f) for m, f in zip(MINUTES, failures, strict=True) if f]
    return pd.DataFrame(rows, columns=metrics.COLUMNS)


def logged(requests: list[int], failures: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"minute": MINUTES, "requests": requests, "connection_failures": failures})
    return frame[frame["requests"] > 0]


@pytest.mark.parametrize(
    ("logged_rows", "logged_failures", "verdict"),
    [
        ([100, 100, 100, 100], [0, 10, 40, 0], "complete"),
        ([50, 50, 50, 50], [0, 5, 20, 0], "sampled"),
        ([100, 0, 100, 100], [0, 0, 40, 0], "gaps"),
        ([10, 20, 50, 10], [0, 10, 40, 0], "errors_only"),
        ([0, 0, 0, 0], [0, 0, 0, 0], "no_logs"),
    ],
)
def test_the_logs_are_measured_against_the_metric(logged_rows, logged_failures, verdict):
    section = witness.compare(logged(logged_rows, logged_failures), metric([100, 100, 100, 100], [0, 10, 40, 0]))
    assert section["verdict"] == verdict
    assert section["metric_requests"] == 400 and section["metric_connection_failures"] == 50
    assert section["logged_requests"] == sum(logged_rows)
    assert section["minutes_without_logs"] == (4 if verdict == "no_logs" else 1 if verdict == "gaps" else 0)


def test_with_no_logs_the_metric_still_says_when_failures_rose_per_region():
    both = pd.concat([metric([100, 100, 100, 100], [0, 10, 40, 5]), metric([80] * 4, [0] * 4, "North Europe")])
    section = witness.compare(logged([0] * 4, [0] * 4), both)
    assert section["verdict"] == "no_logs"
    assert section["failure_regions"] == [
        {
            "location": "West Europe",
            "connection_failures": 55,
            "requests": 400,
            "first_failure": "2025-02-25T09:01:00Z",
            "peak": "2025-02-25T09:02:00Z",
            "peak_failures": 40,
        }
    ]
    text = witness.summary(section)
    assert "West Europe: 55 of 400 from 09:01 UTC, peak 40 at 09:02" in text and witness.CAVEAT in text
    assert witness.summary(witness.compare(logged([0] * 4, [0] * 4), metric([0] * 4, [0] * 4)))


def test_the_schema_knows_every_verdict():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert tuple(schema["properties"]["platform_metric"]["properties"]["verdict"]["enum"]) == witness.VERDICTS
