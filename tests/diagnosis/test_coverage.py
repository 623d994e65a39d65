"""What the logs can tell: the columns the checks need, error-only logging, the logging assumption."""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.coverage import assess, normalised_names
from analysis.diagnosis.health import normalise
from tests.builders import frame


def test_missing_evidence_is_named_and_other_columns_do_not_matter():
    health = normalise(frame("a:443", [10] * 3, [0] * 3))
    assert assess(health, ("Cache", "ApiId"), 100.0).missing == ()
    missing = assess(health, ("LastErrorReason", "BackendTime"), 100.0).missing
    assert [m.split(" (")[0] for m in missing] == ["column LastErrorReason", "column BackendTime"]


def test_a_backend_time_no_row_carries_is_missing_too():
    health = normalise(frame("a:443", [10] * 3, [0] * 3).assign(backend_p50_ms=float("nan")))
    assert assess(health, (), 100.0).lacks("BackendTime")


def test_failures_without_a_single_success_are_error_only_logging():
    errors = normalise(frame("a:443", [10] * 3, [10] * 3).assign(successes=0))
    coverage = assess(errors, (), 100.0)
    assert coverage.error_only and "verbosity 'error'" in coverage.missing[0]
    assert not assess(normalise(pd.DataFrame({"minute": [], "destination": []})), (), 100.0).error_only


def test_the_logging_assumption_is_stated():
    health = normalise(frame("a:443", [10] * 3, [0] * 3))
    assert "every request was logged" in assess(health, (), 100.0).logging
    assert "20 % of the successful requests" in assess(health, (), 20.0).logging


def test_legacy_columns_are_missing_only_without_additional_fields_to_fall_back_on():
    assert normalised_names(("lastError_reason_s", "AdditionalFields", "apimSubscriptionId_s"), "azurediagnostics") == (
        "LastErrorReason",
        "ApimSubscriptionId",
    )
    assert normalised_names(("lastError_reason_s",), "azurediagnostics") == ()
    assert normalised_names(("BackendTime",), "resource") == ("BackendTime",)
