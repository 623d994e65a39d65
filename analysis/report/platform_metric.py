"""The platform metric beside the logs: which service's ``Requests`` metric, fetched once, kept with the results.

The logs may be sampled, cut short or missing; the APIM service's ``Requests`` platform metric is not, and
``analysis.diagnosis.witness`` sets the two side by side. The command line fetches the metric with the
queries, so it lands in the cache beside them; the notebook's kernel reads it back from there. A cache
replay asked for no metric reuses the one it holds for the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from analysis.diagnosis import witness
from analysis.errors import KitError
from analysis.investigation.run import QueryRun, run_query, timed_run
from analysis.sources import SourceOptions
from analysis.sources.base import Source
from analysis.times import iso

if TYPE_CHECKING:
    from analysis.sources.metrics import MetricRequest

METRIC_RUN = "requests_metric"


class MetricTarget(NamedTuple):
    """The APIM service whose ``Requests`` metric to fetch, and its region (the metrics endpoint is regional)."""

    resource: str
    region: str


def metric_target(specs: Sequence[str], resource: str | None, region: str | None) -> MetricTarget | None:
    """``--metrics-resource`` (else the ``loganalytics-resource:`` source's) and ``--metrics-region``; None
    for neither, a ``KitError`` for only one of them.

    >>> metric_target(["loganalytics-resource:/subscriptions/s/r"], None, "westeurope")
    MetricTarget(resource='/subscriptions/s/r', region='westeurope')
    """
    if not resource and specs and specs[0].startswith("loganalytics-resource:") and region:
        resource = specs[0].partition(":")[2]
    if resource and region:
        return MetricTarget(resource, region)
    if resource or region:
        raise KitError(
            "the platform metric needs both --metrics-resource (or a loganalytics-resource: source) "
            "and --metrics-region"
        )
    return None


def kept_target(source: Source, window: tuple[pd.Timestamp, pd.Timestamp]) -> MetricTarget | None:
    """The metric a cache replay holds for ``window`` (the last one kept); None from any other source."""
    span = [iso(window[0]), iso(window[1])]
    for record in reversed(source.replayed_records(METRIC_RUN)):
        given = record.get("parameters")
        if record.get("window") == span and isinstance(given, dict):
            resource, region = given.get("resource"), given.get("region")
            if isinstance(resource, str) and isinstance(region, str):
                return MetricTarget(resource, region)
    return None


def metric_request(target: MetricTarget, window: tuple[pd.Timestamp, pd.Timestamp]) -> MetricRequest:
    """The metric's request over ``window``; a malformed resource id or region is a ``KitError``."""
    from analysis.sources.metrics import MetricRequest  # the Azure SDK only when a metric is asked for

    return MetricRequest(target.resource, target.region, *window)


@dataclass(frozen=True)
class Witness:
    """The logged rows per minute and the platform metric over one window, and what they say together."""

    logged: QueryRun
    metric: QueryRun
    section: dict[str, Any]
    """``witness.compare``'s section of the findings."""


def _fetch_metric(request: MetricRequest, options: SourceOptions) -> pd.DataFrame:
    from analysis.sources import metrics
    from analysis.sources.signin import make_credential

    credential = make_credential(options.auth, options.tenant)
    try:
        return metrics.fetch(request, credential, options.client_options)
    finally:
        close = getattr(credential, "close", None)
        if callable(close):
            close()


def second_witness(
    source: Source, window: tuple[pd.Timestamp, pd.Timestamp], target: MetricTarget, options: SourceOptions
) -> Witness:
    """The logged rows per minute from ``source`` and ``target``'s metric over ``window``, set side by side."""
    logged = run_query(source, "logged_requests", {"start": window[0], "end": window[1]})
    request = metric_request(target, window)
    metric = timed_run(
        METRIC_RUN,
        source.mode,
        request.parameters,
        request.key,
        lambda: source.keep_beside(
            METRIC_RUN, request.key, request.parameters, window, lambda: _fetch_metric(request, options)
        ),
    )
    return Witness(logged, metric, witness.compare(logged.result, metric.result))
