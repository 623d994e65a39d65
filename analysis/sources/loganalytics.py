"""Run rendered KQL on Log Analytics through azure-monitor-query: a workspace, several, or a resource.

The rendered text filters the time window itself, so the query is sent with
``timespan=None``: a second window from the client could only cut the first.
Several workspaces are one query (``additional_workspaces``): the service unions the
table across them, so percentiles and counts stay exact. ``loganalytics-resource:``
asks for the APIM resource's own logs, for those who have access to the resource only.

Limits that shape this module (Log Analytics query API):

- a query runs for 3 minutes by default and at most 10 (``Prefer: wait=``); the
  HTTP read timeout is set a little above that, since azure-core's own default
  (300 s) would otherwise give up first on a long query;
- results are cut at 500,000 rows or 64 MB. The service then answers with a
  *partial* result, not an error; a query that outruns its server timeout gets
  HTTP 504. Both are completed by splitting the window (``analysis.sources.split``)
  where the query allows it, or else made visible in ``LogAnalyticsSource.warnings``,
  in a logged warning and in ``frame.attrs["warnings"]``;
- 429 (throttled) and transient errors are retried by azure-core's ``RetryPolicy``
  (exponential backoff, ``Retry-After`` honoured), except 504: a query that timed out
  once times out again, so it is split instead of being sent again whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult, LogsQueryStatus

from analysis.errors import KitError
from analysis.query.modes import Mode
from analysis.sources.azure import CONNECTION_TIMEOUT, AzureSource, first_line, frame_from_rows
from analysis.sources.signin import sign_in_hint
from analysis.sources.split import ServerTimeout

# The HTTP read waits this much longer than the server may take, so the server's answer wins.
READ_TIMEOUT_MARGIN = 30
# Retries of a throttled or failed request (azure-core counts them; each waits 1, 2, 4 s or Retry-After).
DEFAULT_RETRIES = 3
RETRY_BACKOFF_S = 1.0
RETRY_BACKOFF_MAX_S = 60
DEFAULT_ENDPOINT = "https://api.loganalytics.io"
SPEC_HELP = "loganalytics:WORKSPACE_ID"
RESOURCE_HELP = (
    "loganalytics-resource:/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ApiManagement/service/NAME"
)
_GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(rf"^{_GUID_TEXT}$")
# An Azure resource id: subscription, resource group, provider namespace, then type/name pairs.
_RESOURCE_ID = re.compile(
    rf"^/subscriptions/{_GUID_TEXT}/resourceGroups/[-\w.()]{{1,90}}"
    r"/providers/[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+(/[A-Za-z][A-Za-z0-9]*/[-\w.]{1,260})+$"
)


def check_workspace_id(text: str) -> str:
    """The workspace id in lower case; it must be a GUID (the portal's "Workspace ID"), not a name."""
    text = text.strip()
    if not _GUID.match(text):
        raise KitError(
            f"not a workspace id {text!r}: use {SPEC_HELP} with the GUID shown as 'Workspace ID' "
            "on the workspace's Overview page"
        )
    return text.lower()


def is_app_insights(resource_id: str) -> bool:
    """Whether a resource id names an Application Insights resource (``microsoft.insights/components``).

    >>> is_app_insights("/subscriptions/S/resourceGroups/rg/providers/Microsoft.Insights/components/app-x")
    True
    """
    return "/providers/microsoft.insights/components/" in resource_id.lower()


def mode_for(mode: Mode, resource_id: str | None) -> Mode:
    """The mode the place answers in: an Application Insights resource queried itself answers in the classic
    tables, a workspace in the workspace tables; gateway logs are never in an Application Insights resource."""
    if resource_id is not None and is_app_insights(resource_id):
        if not mode.app_insights:
            raise KitError(
                f"{resource_id.rsplit('/', 1)[-1]} is an Application Insights resource: it holds requests, "
                "dependencies and exceptions, not gateway logs; use --mode appinsights"
            )
        return Mode.APP_INSIGHTS_CLASSIC
    if mode == Mode.APP_INSIGHTS_CLASSIC:
        raise KitError(
            "the classic Application Insights tables are answered by the Application Insights resource ("
            "loganalytics-resource:/subscriptions/SUB/resourceGroups/RG/providers/microsoft.insights/components/"
            "NAME); a workspace holds AppRequests, AppDependencies and AppExceptions: use --mode appinsights"
        )
    return mode


def check_resource_id(text: str) -> str:
    """An Azure resource id, such as the APIM service's Properties page shows it; anything else is a ``KitError``."""
    text = text.strip().rstrip("/")
    if not _RESOURCE_ID.match(text):
        raise KitError(f"not an Azure resource id {text!r}: use {RESOURCE_HELP}")
    return text


class _QueryRetryPolicy(RetryPolicy):
    """azure-core's retry policy for queries: a 429 is sent again even without ``Retry-After`` (a query
    only reads, though it is a POST), and a 504 is not (the query outran its server timeout: it is
    split instead)."""

    def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
        status = response.http_response.status_code
        if status == 504:
            return False
        if status == 429:
            return bool(settings["total"])
        return bool(super().is_retry(settings, response))


def retry_policy(for_queries: bool = True, **overrides: Any) -> RetryPolicy:
    """The retries of the kit's Azure Monitor clients (``retry_*`` options override the settings)."""
    settings = {
        "retry_total": DEFAULT_RETRIES,
        "retry_connect": 1,
        "retry_read": 1,
        "retry_backoff_factor": RETRY_BACKOFF_S,
        "retry_backoff_max": RETRY_BACKOFF_MAX_S,
    } | {k: v for k, v in overrides.items() if k.startswith("retry_")}
    return _QueryRetryPolicy(**settings) if for_queries else RetryPolicy(**settings)


def _error_body(err: HttpResponseError) -> tuple[str | None, str | None]:
    """Code and the most specific message from the service's JSON error body, if there is one."""
    response = err.response
    if response is None:
        return None, None
    try:
        body = json.loads(response.text())
    except (ValueError, TypeError):
        return None, None
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    code, message = error.get("code"), error.get("message")
    inner = error.get("innererror")
    while isinstance(inner, Mapping):
        message = inner.get("message") or message
        inner = inner.get("innererror")
    return code, message


def _sign_in_failure(err: BaseException) -> BaseException | None:
    """The credential's own error, when the request failed before reaching the service.

    azure-monitor-query re-raises every ``HttpResponseError`` as a plain one, so a
    ``ClientAuthenticationError`` from the credential (``CredentialUnavailableError``
    included) is found only by walking the exception chain.
    """
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ClientAuthenticationError) and getattr(seen, "response", None) is None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass
class LogAnalyticsSource(AzureSource):
    """A Log Analytics workspace (or several, or an APIM resource) that receives the gateway logs.

    Give ``workspace_id`` or ``resource_id``; ``additional_workspaces`` are unioned
    into the same query. ``endpoint`` points the client elsewhere than
    ``https://api.loganalytics.io`` (a sovereign cloud, or a local test server);
    ``client_options`` go to ``LogsQueryClient`` (``connection_verify``, ``retry_total``, ...).
    Credential, cut results and closing: see ``AzureSource``.
    """

    workspace_id: str | None = None
    resource_id: str | None = None
    additional_workspaces: list[str] = field(default_factory=list)
    endpoint: str | None = None

    # Log Analytics lets a query run at most 10 minutes (``Prefer: wait=600``).
    MAX_SERVER_TIMEOUT: ClassVar[int] = 600

    def __post_init__(self) -> None:
        if (self.workspace_id is None) == (self.resource_id is None):
            raise KitError(f"give a workspace id ({SPEC_HELP}) or a resource id ({RESOURCE_HELP})")
        if self.workspace_id is not None:
            self.workspace_id = check_workspace_id(self.workspace_id)
        if self.resource_id is not None:
            self.resource_id = check_resource_id(self.resource_id)
        self.additional_workspaces = [check_workspace_id(w) for w in self.additional_workspaces]
        super().__post_init__()
        self.mode = mode_for(Mode(self.mode), self.resource_id)
        if self.mode == Mode.APP_INSIGHTS_CLASSIC and self.additional_workspaces:
            raise KitError("an Application Insights resource answers in its own tables: query it alone, no workspace")

    @property
    def label(self) -> str:
        if self.resource_id is not None:
            kind = "Application Insights" if is_app_insights(self.resource_id) else "Log Analytics logs of"
            first = f"{kind} {self.resource_id.rsplit('/', 1)[-1]}"
        else:
            first = f"Log Analytics workspace {(self.workspace_id or '')[:8]}…"
        more = len(self.additional_workspaces)
        return first + (f" and {more} more workspace{'s' if more > 1 else ''}" if more else "")

    @property
    def _where(self) -> str:
        if self.resource_id is not None:
            return f"Log Analytics logs of {self.resource_id}"
        return f"Log Analytics workspace {self.workspace_id}"

    def _connect(self) -> LogsQueryClient:
        if self._client is None:
            options: dict[str, Any] = {
                "retry_policy": retry_policy(**self.client_options),
                "connection_timeout": CONNECTION_TIMEOUT,
                **{k: v for k, v in self.client_options.items() if not k.startswith("retry_")},
            }
            options["endpoint"] = self.endpoint or DEFAULT_ENDPOINT
            self._client = LogsQueryClient(self._sign_in(), **options)
        return self._client

    def _query(self, kql: str) -> tuple[pd.DataFrame, str | None]:
        """One round trip; see ``AzureSource._query``."""
        where = self._where
        options: dict[str, Any] = {
            "timespan": None,
            "server_timeout": self.server_timeout,
            "read_timeout": self.server_timeout + READ_TIMEOUT_MARGIN,
            "additional_workspaces": self.additional_workspaces or None,
        }
        try:
            client = self._connect()
            if self.resource_id is not None:
                result = client.query_resource(self.resource_id, kql, **options)
            else:
                result = client.query_workspace(self.workspace_id or "", kql, **options)
        except HttpResponseError as err:
            if err.status_code == 504:
                raise ServerTimeout(
                    f"{where}: the query outran its server timeout of {self.server_timeout} s (HTTP 504)"
                ) from None
            raise KitError(self._explain(err, where)) from None
        except (ServiceRequestError, ServiceResponseError) as err:
            endpoint = self.endpoint or DEFAULT_ENDPOINT
            line = self._unreachable(err, endpoint)
            raise KitError(line or f"{where}: cannot reach {endpoint} ({first_line(err.message)})") from None
        if isinstance(result, LogsQueryResult) and result.status == LogsQueryStatus.SUCCESS:
            return self._frame(result.tables, where), None
        if isinstance(result, LogsQueryPartialResult):
            error = result.partial_error
            said = f"{error.code}: {first_line(error.message)}" if error is not None else "no reason given"
            if not result.partial_data:
                raise KitError(f"{where}: the query failed ({said})")
            return self._frame(result.partial_data, where), said
        # LogsQueryStatus.FAILURE: query_workspace raises instead, but a failure object is still a failure.
        code, text = getattr(result, "code", None), getattr(result, "message", None)
        raise KitError(f"{where}: {code or 'query failed'}: {first_line(text or '')}")

    def _frame(self, tables: list[Any], where: str) -> pd.DataFrame:
        if not tables:
            raise KitError(f"{where}: the service returned no result table")
        table = tables[0]
        return frame_from_rows(table.columns, table.columns_types, [list(row) for row in table.rows])

    def _explain(self, err: HttpResponseError, where: str) -> str:
        """One line for a person: who refused, the service's error code and its message."""
        credential_error = _sign_in_failure(err)
        if credential_error is not None:
            said = getattr(credential_error, "message", None) or credential_error
            return self._sign_in_failed(credential_error, said)
        status = err.status_code
        code, message = _error_body(err)
        if status == 401:
            return f"{where}: the service refused the sign-in (401 {code or 'Unauthorized'}); {sign_in_hint(self.auth)}"
        if status == 429:
            return f"{where}: still throttled (429) after {DEFAULT_RETRIES} retries; wait a few minutes and run again"
        said = f"{code}: {first_line(message)}" if code else first_line(message or err.reason or err.message)
        hint = "; the account needs the Log Analytics Reader role on it" if status == 403 else ""
        return f"{where}: {said} (HTTP {status}){hint}"
