"""Run rendered KQL on a Log Analytics workspace through azure-monitor-query.

The rendered text filters the time window itself, so the query is sent with
``timespan=None``: a second window from the client could only cut the first.

Limits that shape this module (Log Analytics query API):

- a query runs for 3 minutes by default and at most 10 (``Prefer: wait=``); the
  HTTP read timeout is set a little above that, since azure-core's own default
  (300 s) would otherwise give up first on a long query;
- results are cut at 500,000 rows or 64 MB. The service then answers with a
  *partial* result, not an error: the rows that came back are returned, and the
  cut is made visible in ``LogAnalyticsSource.warnings``, in a logged warning and
  in ``frame.attrs["warnings"]``. The packaged queries aggregate in KQL, so a cut
  means the window is too long or a query pulls raw rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult, LogsQueryStatus

from analysis.errors import KitError
from analysis.sources.azure import SIGN_IN_HINT, AzureSource, first_line, frame_from_rows

# The HTTP read waits this much longer than the server may take, so the server's answer wins.
READ_TIMEOUT_MARGIN = 30
# A failed query is retried by azure-core; each retry of a 10-minute query costs 10 minutes.
DEFAULT_RETRIES = 2
SPEC_HELP = "loganalytics:WORKSPACE_ID"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def check_workspace_id(text: str) -> str:
    """The workspace id in lower case; it must be a GUID (the portal's "Workspace ID"), not a name."""
    text = text.strip()
    if not _GUID.match(text):
        raise KitError(
            f"not a workspace id {text!r}: use {SPEC_HELP} with the GUID shown as 'Workspace ID' "
            "on the workspace's Overview page"
        )
    return text.lower()


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
    """A Log Analytics workspace that receives the APIM gateway logs.

    ``endpoint`` points the client elsewhere than ``https://api.loganalytics.io`` (a
    sovereign cloud, or a local test server); ``client_options`` go to
    ``LogsQueryClient`` as they are (``connection_verify``, ``retry_total``, ...).
    Credential, partial results and closing: see ``AzureSource``.
    """

    workspace_id: str
    endpoint: str | None = None
    client_options: dict[str, Any] = field(default_factory=dict, repr=False)

    # Log Analytics lets a query run at most 10 minutes (``Prefer: wait=600``).
    MAX_SERVER_TIMEOUT: ClassVar[int] = 600

    def __post_init__(self) -> None:
        self.workspace_id = check_workspace_id(self.workspace_id)
        super().__post_init__()

    @property
    def label(self) -> str:
        return f"Log Analytics workspace {self.workspace_id[:8]}…"

    def _connect(self) -> LogsQueryClient:
        if self._client is None:
            options: dict[str, Any] = {"retry_total": DEFAULT_RETRIES, **self.client_options}
            if self.endpoint:
                options["endpoint"] = self.endpoint
            self._client = LogsQueryClient(self._sign_in(), **options)
        return self._client

    def run(self, kql: str) -> pd.DataFrame:
        """Result of the KQL text as a typed DataFrame; a cut result is returned and flagged,
        every failure is a one-line ``KitError`` naming the workspace."""
        where = f"Log Analytics workspace {self.workspace_id}"
        try:
            result = self._connect().query_workspace(
                self.workspace_id,
                kql,
                timespan=None,
                server_timeout=self.server_timeout,
                read_timeout=self.server_timeout + READ_TIMEOUT_MARGIN,
            )
        except HttpResponseError as err:
            raise KitError(self._explain(err, where)) from None
        except ServiceRequestError as err:
            raise KitError(f"{where}: cannot reach the service ({first_line(err.message)})") from None
        if isinstance(result, LogsQueryResult) and result.status == LogsQueryStatus.SUCCESS:
            return self._frame(result.tables, where)
        if isinstance(result, LogsQueryPartialResult):
            error = result.partial_error
            said = f"{error.code}: {first_line(error.message)}" if error is not None else "no reason given"
            if not result.partial_data:
                raise KitError(f"{where}: the query failed ({said})")
            return self._flag_partial(self._frame(result.partial_data, where), said)
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
            return f"{where}: cannot sign in to Azure ({first_line(said)}); {SIGN_IN_HINT}"
        status = err.status_code
        code, message = _error_body(err)
        if status == 401:
            return f"{where}: the service refused the sign-in (401 {code or 'Unauthorized'}); {SIGN_IN_HINT}"
        said = f"{code}: {first_line(message)}" if code else first_line(message or err.reason or err.message)
        hint = "; the account needs the Log Analytics Reader role on it" if status == 403 else ""
        return f"{where}: {said} (HTTP {status}){hint}"
