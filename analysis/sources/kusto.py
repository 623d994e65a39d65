"""Run rendered KQL on an Azure Data Explorer database (azure-kusto-data), and turn Kusto
result tables into typed DataFrames.

The typed conversion lives here because Kusto's type system is the one both Azure
services answer in; the Log Analytics source uses it too. Kusto's own pandas helper
(``azure.kusto.data.helpers.dataframe_from_result_table``) gives timezone-aware
nanosecond times, ``Int32``/``Int64``/``Float64`` extension types and null-able
strings; the rest of the kit expects what the local engine returns, so the
conversion is done here instead.

The SDK is imported only when a query runs, so reading local files never loads it.
Results Kusto cuts short (by default at 500,000 rows or 64 MB) are asked for with
``deferpartialqueryfailures``: the rows that came back are returned, and the
failure is recorded in ``KustoSource.warnings``, logged, and attached to the frame
as ``frame.attrs["warnings"]``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from analysis.errors import KitError
from analysis.queries import MODES

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

logger = logging.getLogger(__name__)

DEFAULT_SERVER_TIMEOUT = 180
# Azure Data Explorer lets a query run at most one hour (request property ``servertimeout``).
MAX_SERVER_TIMEOUT = 3600
# Prefix of every client request id, so the cluster's own logs show which queries came from the kit.
CLIENT_REQUEST_PREFIX = "apim-snat;"
SPEC_HELP = "kusto:https://CLUSTER/DATABASE"

_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# A database name as Kusto allows it: letters, digits, underscore, hyphen, dot and space.
_DATABASE = re.compile(r"^[A-Za-z0-9_.\- ]{1,260}$")


def first_line(text: object) -> str:
    """The first non-empty line of an error text: a ``KitError`` is one line, SDK messages are not."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def check_mode(mode: str | None) -> str:
    """The logging mode to query, ``resource`` when not given; an unknown one is a ``KitError``."""
    mode = mode or "resource"
    if mode not in MODES:
        raise KitError(f"unknown logging mode {mode!r} (use one of: {', '.join(MODES)})")
    return mode


def check_server_timeout(seconds: float, maximum: int) -> int:
    """Whole seconds within the service's limit; outside it a ``KitError`` rather than a silent clamp."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 1 <= seconds <= maximum:
        raise KitError(f"server timeout must be between 1 and {maximum} seconds, not {seconds!r}")
    return int(seconds)


def _timespan(value: Any) -> pd.Timedelta:
    if value is None:
        return pd.NaT
    if isinstance(value, (int, float)):
        # Kusto counts timespans in ticks of 100 ns.
        return pd.Timedelta(int(value) * 100, unit="ns")
    match = _TIMESPAN.match(str(value))
    if match is None:
        raise ValueError(value)
    sign, days, hours, minutes, secs = match.groups()
    delta = pd.Timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(secs))
    return -delta if sign else delta


def _real(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _SPECIAL_FLOATS[value] if value in _SPECIAL_FLOATS else float(value)
    return float(value)


def _column(kusto_type: str, values: list[Any]) -> pd.Series:
    kind = kusto_type.lower()
    if kind in ("datetime", "date"):
        times = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        return times.dt.tz_convert(None).astype("datetime64[us]")
    if kind in ("long", "int", "int32", "int64"):
        ints = pd.array(values, dtype="Int64")
        return pd.Series(ints if ints.isna().any() else ints.astype("int64"))
    if kind in ("real", "double", "decimal"):
        return pd.Series(np.array([_real(v) for v in values], dtype="float64"))
    if kind in ("bool", "boolean"):
        if any(v is None for v in values):
            return pd.Series(pd.array([None if v is None else bool(v) for v in values], dtype="boolean"))
        return pd.Series(np.array([bool(v) for v in values], dtype=bool))
    if kind in ("timespan", "time"):
        return pd.Series(pd.to_timedelta([_timespan(v) for v in values])).astype("timedelta64[us]")
    if kind == "string":
        # Kusto strings are never null: a missing one is the empty string, as in the local engine.
        return pd.Series(["" if v is None else str(v) for v in values], dtype="str")
    if kind == "dynamic":
        # Log Analytics sends dynamic values as JSON text, Kusto v2 as JSON: keep the text form.
        return pd.Series([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], dtype="str")
    if kind in ("guid", "uuid", "uniqueid"):
        return pd.Series([None if v is None else str(v) for v in values], dtype="str")
    return pd.Series(values, dtype=object)


def frame_from_rows(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with Kusto types mapped as the kit expects: naive UTC ``datetime64[us]``,
    ``int64`` (``Int64`` when nulls), ``float64``, ``str`` and ``bool``.

    Both Azure sources answer in Kusto types, so one conversion keeps their frames
    identical to what the local engine returns for the same query.
    """
    columns = {}
    for index, (name, kusto_type) in enumerate(zip(names, types)):
        values = [row[index] for row in rows]
        try:
            columns[name] = _column(kusto_type, values)
        except (ValueError, TypeError, KeyError, OverflowError):
            raise KitError(f"column {name!r}: a value is not a valid Kusto {kusto_type}") from None
    frame = pd.DataFrame(columns)
    return frame.reindex(columns=list(names)) if not rows else frame


def parse_cluster_spec(text: str) -> tuple[str, str]:
    """``https://CLUSTER/DATABASE`` -> (cluster URL, database); anything else is a ``KitError``."""
    problem = f"not a cluster and database {text!r} (use {SPEC_HELP}, e.g. kusto:https://mycluster.westeurope.kusto.windows.net/logs)"
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


@dataclass
class KustoSource:
    """A database in an Azure Data Explorer cluster that holds the gateway log table.

    ``credential`` is any azure-identity token credential; without one,
    ``DefaultAzureCredential`` is created at the first query (so ``az login``
    or the usual ``AZURE_*`` variables work). The SDK honours the
    ``REQUESTS_CA_BUNDLE`` variable for TLS trust (a proxy's or a test's CA).
    """

    cluster: str
    database: str
    mode: str = "resource"
    credential: TokenCredential | None = field(default=None, repr=False)
    server_timeout: int = DEFAULT_SERVER_TIMEOUT
    warnings: list[str] = field(default_factory=list)
    _client: Any = field(default=None, init=False, repr=False)
    _owns_credential: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.mode = check_mode(self.mode)
        self.server_timeout = check_server_timeout(self.server_timeout, MAX_SERVER_TIMEOUT)

    @property
    def table(self) -> str:
        """The gateway log table the mode's queries read."""
        return MODES[self.mode]

    @property
    def description(self) -> str:
        """Where the rows come from, for reports and error messages."""
        host = urlsplit(self.cluster).netloc
        return f"Azure Data Explorer {host}/{self.database} ({self.table})"

    def _connect(self) -> Any:
        if self._client is None:
            from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

            if self.credential is None:
                from azure.identity import DefaultAzureCredential

                self.credential = DefaultAzureCredential()
                self._owns_credential = True
            kcsb = KustoConnectionStringBuilder.with_azure_token_credential(self.cluster, credential=self.credential)
            self._client = KustoClient(kcsb)
        return self._client

    def run(self, kql: str) -> pd.DataFrame:
        """Result of the KQL text as a typed DataFrame; every service or sign-in failure is a ``KitError``."""
        from azure.kusto.data import ClientRequestProperties
        from azure.kusto.data.exceptions import KustoError

        properties = ClientRequestProperties()
        properties.client_request_id = f"{CLIENT_REQUEST_PREFIX}{uuid.uuid4()}"
        properties.set_option(ClientRequestProperties.request_timeout_option_name, timedelta(seconds=self.server_timeout))
        properties.set_option(ClientRequestProperties.results_defer_partial_query_failures_option_name, True)
        try:
            response = self._connect().execute_query(self.database, kql, properties)
        except KustoError as err:
            raise KitError(self._explain(err)) from None
        primary = response.primary_results
        if not primary:
            raise KitError(f"{self.description}: the service returned no result table")
        table = primary[0]
        frame = frame_from_rows(
            [c.column_name for c in table.columns], [c.column_type for c in table.columns], table.raw_rows
        )
        problems = _completion_errors(response)
        if problems:
            message = (
                f"partial result from {self.description} ({len(frame)} rows kept): {problems[0]}; "
                "aggregate in KQL or narrow the time window"
            )
            self.warnings.append(message)
            logger.warning(message)
            frame.attrs["warnings"] = [message]
        return frame

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

        where = f"Azure Data Explorer {urlsplit(self.cluster).netloc}/{self.database}"
        if isinstance(err, KustoAuthenticationError):
            cause = first_line(getattr(err.exception, "message", None) or err.exception)
            return f"{where}: cannot sign in to Azure ({cause}); run 'az login' or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
        if isinstance(err, KustoThrottlingError):
            return f"{where}: the cluster is throttling requests (429); wait a minute and run again"
        if isinstance(err, KustoClientInvalidConnectionStringException):
            return f"{where}: {first_line(err)}"
        if isinstance(err, KustoNetworkError):
            cause = err.__cause__
            return f"{where}: cannot reach the cluster ({first_line(cause) if cause else 'network error'})"
        if isinstance(err, KustoApiError):
            api = err.get_api_error()
            return f"{where}: {api.code}: {first_line(api.description or api.message)}"
        if isinstance(err, KustoMultiApiError):
            api = err.get_api_errors()
            if api:
                return f"{where}: {api[0].code}: {first_line(api[0].description or api[0].message)}"
        if isinstance(err, KustoServiceError):
            status = getattr(err.http_response, "status_code", None)
            if status == 401:
                return f"{where}: the cluster refused the sign-in (401); run 'az login' or check the credentials in AZURE_* variables"
            return f"{where}: {first_line(err.message_text)}"
        return f"{where}: {first_line(err) or type(err).__name__}"

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """None: a cluster holds more than one incident, so the caller must name the window."""
        return None

    def close(self) -> None:
        """Release the HTTP connections. The SDK also closes the credential it was given, so a
        credential made here is dropped and made again if the source is used after this."""
        if self._client is not None:
            try:
                self._client.close()
            except AttributeError:  # a credential without close(): nothing of it to release
                pass
            self._client = None
            if self._owns_credential:
                self.credential = None
                self._owns_credential = False
