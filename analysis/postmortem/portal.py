"""Links that open a query in the Azure portal's Log Analytics, ready to run on the incident's window.

The portal's own "Share > Copy link to query" gives ``https://portal.azure.com/#blade/
Microsoft_Azure_Monitoring_Logs/LogsBlade/resourceId/<resource id>/source/LogsBlade.
AnalyticsShareLinkToQuery/q/<query>/timespan/<interval>``, where the query is gzip-compressed,
base64-encoded and URL-encoded twice (as in the links of Microsoft's own KQL tutorials) and the
resource id is the scope the query runs in: a workspace, or a resource such as the APIM service.
A link needs that resource id; a workspace known by its GUID alone cannot be linked.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from urllib.parse import quote

import pandas as pd

PORTAL = "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring_Logs/LogsBlade"


def _encoded(kql: str) -> str:
    """The query as the portal's links carry it.

    >>> from urllib.parse import unquote
    >>> gzip.decompress(base64.b64decode(unquote(unquote(_encoded("LAQueryLogs")))))
    b'LAQueryLogs'
    """
    packed = base64.b64encode(gzip.compress(kql.encode("utf-8"), mtime=0)).decode("ascii")
    return quote(quote(packed, safe=""), safe="")


def _instant(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def query_link(resource_id: str, kql: str, window: tuple[pd.Timestamp, pd.Timestamp]) -> str:
    """A link that opens ``kql`` in the Logs blade of ``resource_id`` with the time range set to ``window``."""
    timespan = quote(f"{_instant(window[0])}/{_instant(window[1])}", safe="")
    return (
        f"{PORTAL}/resourceId/{quote(resource_id, safe='')}/source/LogsBlade.AnalyticsShareLinkToQuery"
        f"/q/{_encoded(kql)}/timespan/{timespan}"
    )


def scope(specs: Sequence[str], metrics_resource: str = "") -> str:
    """The resource whose logs a portal link opens: a ``loganalytics-resource:`` source's, else the APIM
    service's (``--metrics-resource``); "" when neither is known (local files, a workspace by GUID, ADX).

    >>> scope(["loganalytics-resource:/subscriptions/s/resourceGroups/g/providers/A.B/c/d"])
    '/subscriptions/s/resourceGroups/g/providers/A.B/c/d'
    >>> scope(["file:x.csv"], ""), scope(["loganalytics:0000"], "/subscriptions/s/x")
    ('', '/subscriptions/s/x')
    """
    azure = [spec for spec in specs if spec.startswith(("loganalytics:", "loganalytics-resource:"))]
    if azure and azure[0].startswith("loganalytics-resource:"):
        return azure[0].partition(":")[2]
    return metrics_resource if azure else ""
