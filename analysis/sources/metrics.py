"""APIM's ``Requests`` platform metric per minute, through azure-monitor-querymetrics: a second witness.

The metric counts every request the gateway served, per minute, unsampled, whatever
the diagnostic settings say, with the dimensions ``Location`` (the gateway's region)
and ``LastErrorReason``. It exists where no log was ever configured. Comparing it with
the logged rows tells sampled or missing logs from complete ones, and with no logs at
all it still shows when ``BackendConnectionFailure`` rose in which region (but not on
which destination: the metric has no backend dimension).

The metrics batch API answers at a regional endpoint (``https://REGION.metrics.monitor.azure.com``):
the APIM service's region is needed beside its resource id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.errors import KitError
from analysis.sources.loganalytics import check_resource_id
from analysis.times import iso

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

METRIC_NAMESPACE = "Microsoft.ApiManagement/service"
METRIC = "Requests"
DIMENSIONS = ("Location", "LastErrorReason")
#: The regional endpoint of the metrics batch API.
ENDPOINT = "https://{region}.metrics.monitor.azure.com"
#: Time series the service may return per request: one per region and error reason is far fewer.
MAX_SERIES = 1000
COLUMNS = ["minute", "location", "last_error_reason", "requests"]
_REGION = re.compile(r"^[a-z][a-z0-9]{2,40}$")


@dataclass(frozen=True)
class MetricRequest:
    """The ``Requests`` metric of one APIM service over a window, per minute, by region and error reason."""

    resource_id: str
    region: str
    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        object.__setattr__(self, "resource_id", check_resource_id(self.resource_id))
        region = self.region.strip().lower().replace(" ", "")
        if not _REGION.match(region):
            raise KitError(f"--metrics-region {self.region!r}: give the APIM service's region, such as westeurope")
        object.__setattr__(self, "region", region)
        if "/providers/Microsoft.ApiManagement/service/" not in self.resource_id:
            raise KitError(f"--metrics-resource {self.resource_id!r} is not an API Management service")

    @property
    def key(self) -> str:
        """The request as text: what identifies its result in the cache."""
        return json.dumps(
            {
                "metric": f"{METRIC_NAMESPACE}/{METRIC}",
                "resource": self.resource_id.lower(),
                "region": self.region,
                "start": iso(self.start),
                "end": iso(self.end),
                "interval": "PT1M",
                "aggregation": "Total",
                "split_by": list(DIMENSIONS),
            },
            indent=1,
        )

    @property
    def parameters(self) -> dict[str, str]:
        return {
            "resource": self.resource_id,
            "region": self.region,
            "start": iso(self.start) or "",
            "end": iso(self.end) or "",
        }


def frame_from_results(results: list[Any]) -> pd.DataFrame:
    """The SDK's ``MetricsQueryResult`` list as one row per minute, region and error reason."""
    rows = []
    for result in results:
        for metric in result.metrics:
            for series in metric.timeseries:
                labels = {str(k).lower(): v for k, v in (series.metadata_values or {}).items()}
                for point in series.data:
                    rows.append(
                        (
                            pd.Timestamp(point.timestamp).tz_convert("UTC").tz_localize(None),
                            str(labels.get("location") or ""),
                            str(labels.get("lasterrorreason") or ""),
                            int(round(point.total or 0)),
                        )
                    )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["minute"] = frame["minute"].astype("datetime64[us]")
    frame["requests"] = frame["requests"].astype("int64")
    frame = frame[frame["requests"] > 0]
    return frame.sort_values(COLUMNS[:3], kind="stable").reset_index(drop=True)


def fetch(
    request: MetricRequest, credential: TokenCredential, client_options: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Ask the metrics batch API; every failure is one line naming the service and the cause."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
    from azure.monitor.querymetrics import MetricsClient

    from analysis.sources.azure import CONNECTION_TIMEOUT, first_line, network_cause
    from analysis.sources.loganalytics import retry_policy

    options = dict(client_options or {})
    endpoint = ENDPOINT.format(region=request.region)
    where = f"platform metric {METRIC} of {request.resource_id.rsplit('/', 1)[-1]}"
    client = MetricsClient(
        endpoint,
        credential,
        retry_policy=retry_policy(for_queries=False, **options),
        connection_timeout=CONNECTION_TIMEOUT,
        **{k: v for k, v in options.items() if not k.startswith("retry_")},
    )
    try:
        results = client.query_resources(
            resource_ids=[request.resource_id],
            metric_namespace=METRIC_NAMESPACE,
            metric_names=[METRIC],
            timespan=(request.start.tz_localize("UTC").to_pydatetime(), request.end.tz_localize("UTC").to_pydatetime()),
            granularity=pd.Timedelta(minutes=1).to_pytimedelta(),
            aggregations=["Total"],
            filter=" and ".join(f"{d} eq '*'" for d in DIMENSIONS),
            max_results=MAX_SERIES,
        )
    except (ServiceRequestError, ServiceResponseError) as err:
        raise KitError(f"{where}: cannot reach {endpoint} ({network_cause(err) or first_line(err)})") from None
    except HttpResponseError as err:
        cause = network_cause(err) if err.response is None else None
        if cause:
            raise KitError(f"{where}: cannot sign in to Azure: {cause}") from None
        hint = "; the account needs the Monitoring Reader role on the APIM service" if err.status_code == 403 else ""
        raise KitError(f"{where}: {first_line(err.message)} (HTTP {err.status_code}){hint}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise KitError(f"{where}: the service's answer is not a metrics result ({type(err).__name__})") from None
    finally:
        client.close()
    return frame_from_results(results)
