"""Run rendered KQL on an Azure Data Explorer database through azure-kusto-data.

The SDK is imported only when a query runs, so reading local files never loads it.
Results Kusto cuts short (by default at 500,000 rows or 64 MB) are asked for with
``deferpartialqueryfailures``: the rows that came back are returned, the window is
split where the query allows it (``analysis.sources.split``), and what stays cut is
recorded in ``KustoSource.warnings``, logged, and attached to the frame as
``frame.attrs["warnings"]``. The SDK sends through ``requests``; throttling (429) and
transient 5xx answers are retried there by urllib3's ``Retry`` (backoff, ``Retry-After``
honoured), as azure-core's pipeline is not in this client's path.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import pandas as pd

from analysis.errors import KitError
from analysis.sources.azure import AzureSource, first_line, frame_from_rows
from analysis.sources.split import ServerTimeout

# Retries of a throttled or failed request, with backoff of 1, 2, 4 s (or the server's Retry-After).
HTTP_RETRIES = 3
RETRY_STATUS = (429, 500, 502, 503)
# Prefix of every client request id, so the cluster's own logs show which queries came from the kit.
CLIENT_REQUEST_PREFIX = "apim-snat;"
SPEC_HELP = "kusto:https://CLUSTER/DATABASE"

# A database name as Kusto allows it: letters, digits, underscore, hyphen, dot and space.
_DATABASE = re.compile(r"^[A-Za-z0-9_.\- ]{1,260}$")


def parse_cluster_spec(text: str) -> tuple[str, str]:
    """``https://CLUSTER/DATABASE`` -> (cluster URL, database); anything else is a ``KitError``."""
    example = "kusto:https://mycluster.westeurope.kusto.windows.net/logs"
    problem = f"not a cluster and database {text!r} (use {SPEC_HELP}, e.g. {example})"
    if ";" in text:
        raise KitError(problem)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise KitError(problem) from None
    segments = [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.query
        or parts.fragment
        or len(segments) != 1
        or not _DATABASE.match(segments[0])
    ):
        raise KitError(problem)
    cluster = f"https://{parts.hostname}" + (f":{port}" if port else "")
    return cluster, segments[0]


def _completion_errors(response: Any) -> list[str]:
    """Error-level entries of QueryCompletionInformation: where deferred partial failures go."""
    messages = []
    for table in response.tables:
        if getattr(table.table_kind, "value", None) != "QueryCompletionInformation":
            continue
        names = [c.column_name for c in table.columns]
        if "Level" not in names or "Payload" not in names:
            continue
        level_at, payload_at = names.index("Level"), names.index("Payload")
        for row in table.raw_rows:
            level = row[level_at]
            if not isinstance(level, int) or level > 2:  # 1 critical, 2 error, 3 warning, 4 info
                continue
            payload = row[payload_at]
            try:
                decoded = json.loads(payload) if isinstance(payload, str) else payload
            except ValueError:
                decoded = payload
            if isinstance(decoded, dict):
                decoded = decoded.get("Text") or decoded.get("message") or json.dumps(decoded)
            messages.append(first_line(decoded))
    return messages


def _timed_out(err: Exception) -> bool:
    """Whether the cluster stopped the query at its server timeout (HTTP 504, or a timeout error code)."""
    if getattr(getattr(err, "http_response", None), "status_code", None) == 504:
        return True
    api_error = getattr(err, "get_api_error", None)
    code = getattr(api_error(), "code", None) if callable(api_error) else None
    return "timeout" in str(code or "").lower()


@dataclass
class KustoSource(AzureSource):
    """A database in an Azure Data Explorer cluster that holds the gateway log table.

    The SDK honours the ``REQUESTS_CA_BUNDLE`` variable for TLS trust (a proxy's or a
    test's CA). Credential, partial results and closing: see ``AzureSource``.
    """

    cluster: str
    database: str

    # Azure Data Explorer lets a query run at most one hour (request property ``servertimeout``).
    MAX_SERVER_TIMEOUT: ClassVar[int] = 3600
    # KustoClient.close() also closes the credential it was given.
    CLIENT_CLOSES_CREDENTIAL: ClassVar[bool] = True

    @property
    def label(self) -> str:
        return f"Azure Data Explorer {urlsplit(self.cluster).netloc}/{self.database}"

    def _connect(self) -> Any:
        if self._client is None:
            from azure.kusto.data import KustoClient, KustoConnectionStringBuilder
            from urllib3.util.retry import Retry

            kcsb = KustoConnectionStringBuilder.with_azure_token_credential(self.cluster, credential=self._sign_in())
            self._client = KustoClient(kcsb)
            self._client.set_http_retries(
                Retry(
                    total=HTTP_RETRIES,
                    connect=1,
                    read=0,
                    backoff_factor=1.0,
                    status_forcelist=RETRY_STATUS,
                    allowed_methods=None,  # queries are POSTs that only read: safe to send again
                    respect_retry_after_header=True,
                    raise_on_status=False,
                )
            )
        return self._client

    def _query(self, kql: str) -> tuple[pd.DataFrame, str | None]:
        """One round trip; see ``AzureSource._query``."""
        from azure.kusto.data import ClientRequestProperties
        from azure.kusto.data.exceptions import KustoError

        properties = ClientRequestProperties()
        properties.client_request_id = f"{CLIENT_REQUEST_PREFIX}{uuid.uuid4()}"
        properties.set_option(
            ClientRequestProperties.request_timeout_option_name, timedelta(seconds=self.server_timeout)
        )
        properties.set_option(ClientRequestProperties.results_defer_partial_query_failures_option_name, True)
        try:
            response = self._connect().execute_query(self.database, kql, properties)
        except KustoError as err:
            if _timed_out(err):
                raise ServerTimeout(
                    f"{self.label}: the query outran its server timeout of {self.server_timeout} s"
                ) from None
            raise KitError(self._explain(err)) from None
        primary = response.primary_results
        if not primary:
            raise KitError(f"{self.description}: the service returned no result table")
        table = primary[0]
        frame = frame_from_rows(
            [c.column_name for c in table.columns], [c.column_type for c in table.columns], table.raw_rows
        )
        problems = _completion_errors(response)
        return frame, (problems[0] if problems else None)

    def _explain(self, err: Exception) -> str:
        """One line for a person, naming the database and what the service said."""
        from azure.kusto.data.exceptions import (
            KustoApiError,
            KustoAuthenticationError,
            KustoClientInvalidConnectionStringException,
            KustoMultiApiError,
            KustoNetworkError,
            KustoServiceError,
            KustoThrottlingError,
        )

        where = self.label
        if isinstance(err, KustoAuthenticationError):
            return self._sign_in_failed(err.exception, getattr(err.exception, "message", None) or err.exception)
        if isinstance(err, KustoThrottlingError):
            return f"{where}: still throttled (429) after {HTTP_RETRIES} retries; wait a minute and run again"
        if isinstance(err, KustoClientInvalidConnectionStringException):
            return f"{where}: {first_line(err)}"
        if isinstance(err, KustoNetworkError):
            reason = err.__cause__
            line = self._unreachable(err, self.cluster)
            return line or f"{where}: cannot reach the cluster ({first_line(reason) if reason else 'network error'})"
        if isinstance(err, KustoApiError):
            api = err.get_api_error()
            return f"{where}: {api.code}: {first_line(api.description or api.message)}"
        if isinstance(err, KustoMultiApiError):
            apis = err.get_api_errors()
            if apis:
                return f"{where}: {apis[0].code}: {first_line(apis[0].description or apis[0].message)}"
        if isinstance(err, KustoServiceError):
            status = getattr(err.http_response, "status_code", None)
            if status == 401:
                return (
                    f"{where}: the cluster refused the sign-in (401); "
                    "run 'az login' or check the credentials in AZURE_* variables"
                )
            return f"{where}: {first_line(err.message_text)}"
        return f"{where}: {first_line(err) or type(err).__name__}"
