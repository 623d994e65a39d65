"""What both Azure sources share: the ``AzureSource`` base, Kusto types to DataFrames, failures in words.

Log Analytics and Azure Data Explorer both answer in Kusto's type system. Kusto's own
pandas helper (``azure.kusto.data.helpers.dataframe_from_result_table``) gives
timezone-aware nanosecond times, ``Int32``/``Int64``/``Float64`` extension types and
null-able strings; the rest of the kit expects what the local engine returns, so the
conversion is done here, once for both. ``AzureSource`` holds the rest they have in
common: the logging mode and its table, the credential (made here for ``--auth``, or the
caller's), a cut result completed by splitting its window (``analysis.sources.split``)
or else made visible, failures said in one line, and releasing connections.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from analysis.errors import KitError
from analysis.query.modes import DEFAULT_MODE, Mode, check_mode
from analysis.query.schema import kusto_type
from analysis.sources.base import Request, Source
from analysis.sources.signin import DEFAULT_AUTH, check_auth, make_credential, sign_in_hint
from analysis.sources.split import MAX_DEPTH, ServerTimeout, complete

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

#: Seconds a query may run on the service unless the caller says otherwise (Log Analytics' own default).
DEFAULT_SERVER_TIMEOUT = 180
#: Seconds to wait for a TCP/TLS connection: an unreachable endpoint fails this fast, not after minutes.
CONNECTION_TIMEOUT = 10
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def default_credential(auth: str = DEFAULT_AUTH, tenant: str | None = None) -> TokenCredential:
    """The credential for ``--auth`` (``DefaultAzureCredential`` unless told otherwise)."""
    return make_credential(auth, tenant)


def first_line(text: object) -> str:
    """The first non-empty line of an error text: a ``KitError`` is one line, SDK messages are not."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


# What the network layers say when the endpoint cannot be reached, and the words for a person.
_NETWORK_CAUSES = (
    (
        "name resolution",
        (
            "Name or service not known",
            "Temporary failure in name resolution",
            "nodename nor servname",
            "getaddrinfo failed",
            "Failed to resolve",
            "No address associated",
        ),
    ),
    ("connection refused", ("Connection refused", "actively refused")),
    ("connection timed out", ("timed out", "Timeout", "timeout")),
    ("network unreachable", ("Network is unreachable", "No route to host")),
    ("TLS handshake failed", ("CERTIFICATE_VERIFY_FAILED", "SSLError", "SSL:")),
)
_HOST = re.compile(r"host='([^']+)'|https?://([^/\s'\"]+)")
_NOT_THE_NETWORK = ("169.254.169.254",)


def network_cause(err: BaseException) -> str | None:
    """``"name resolution failed for HOST"`` and the like, when a network failure is behind ``err``.

    Sign-in and query failures both wrap the socket error several layers deep, in the
    exception chain or only in the text, so both are searched, line by line. The managed
    identity endpoint (169.254.169.254) not answering is how a machine without a managed
    identity looks, not a network failure, so it is never blamed.
    """
    lines: list[str] = []
    seen: BaseException | None = err
    hops = 0
    while seen is not None and hops < 12:
        lines.extend(f"{type(seen).__name__}: {seen}".splitlines())
        seen, hops = seen.__cause__ or seen.__context__, hops + 1
    for cause, markers in _NETWORK_CAUSES:
        for line in lines:
            if not any(marker in line for marker in markers):
                continue
            host = _HOST.search(line)
            where = next((g for g in host.groups() if g), "") if host else ""
            if where.startswith(_NOT_THE_NETWORK):
                continue
            return f"{cause}{' for ' + where if where else ''}"
    return None


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


def _times(values: list[Any]) -> pd.Series:
    times = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return times.dt.tz_convert(None).astype("datetime64[us]")


def _integers(values: list[Any]) -> pd.Series:
    ints = pd.array(values, dtype="Int64")
    return pd.Series(ints if ints.isna().any() else ints.astype("int64"))


def _reals(values: list[Any]) -> pd.Series:
    return pd.Series(np.array([_real(v) for v in values], dtype="float64"))


def _bools(values: list[Any]) -> pd.Series:
    if any(v is None for v in values):
        return pd.Series(pd.array([None if v is None else bool(v) for v in values], dtype="boolean"))
    return pd.Series(np.array([bool(v) for v in values], dtype=bool))


def _timespans(values: list[Any]) -> pd.Series:
    return pd.Series(pd.to_timedelta([_timespan(v) for v in values])).astype("timedelta64[us]")


def _strings(values: list[Any]) -> pd.Series:
    # Kusto strings are never null: a missing one is the empty string, as in the local engine.
    return pd.Series(["" if v is None else str(v) for v in values], dtype="str")


def _dynamics(values: list[Any]) -> pd.Series:
    # Log Analytics sends dynamic values as JSON text, Kusto v2 as JSON: keep the text form.
    return pd.Series([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], dtype="str")


def _guids(values: list[Any]) -> pd.Series:
    return pd.Series([None if v is None else str(v) for v in values], dtype="str")


#: Kusto type -> the column as the local engine would return it.
_COLUMNS: dict[str, Callable[[list[Any]], pd.Series]] = {
    "datetime": _times,
    "long": _integers,
    "int": _integers,
    "real": _reals,
    "bool": _bools,
    "timespan": _timespans,
    "string": _strings,
    "dynamic": _dynamics,
    "guid": _guids,
}


def _column(type_name: str, values: list[Any]) -> pd.Series:
    convert = _COLUMNS.get(kusto_type(type_name))
    return convert(values) if convert is not None else pd.Series(values, dtype=object)


def frame_from_rows(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with Kusto types mapped as the kit expects: naive UTC ``datetime64[us]``,
    ``int64`` (``Int64`` when nulls), ``float64``, ``str`` and ``bool``.

    Both Azure sources answer in Kusto types, so one conversion keeps their frames
    identical to what the local engine returns for the same query.
    """
    columns = {}
    for index, (name, type_name) in enumerate(zip(names, types, strict=True)):
        values = [row[index] for row in rows]
        try:
            columns[name] = _column(type_name, values)
        except (ValueError, TypeError, KeyError, OverflowError):
            raise KitError(f"column {name!r}: a value is not a valid Kusto {type_name}") from None
    frame = pd.DataFrame(columns)
    return frame.reindex(columns=list(names)) if not rows else frame


@dataclass(kw_only=True)
class AzureSource(Source):
    """A Log Analytics workspace or an Azure Data Explorer database holding the gateway logs.

    ``credential`` is any azure-identity token credential; without one,
    ``DefaultAzureCredential`` is made at the first query (so ``az login`` or the usual
    ``AZURE_*`` variables work) and released by ``close()``. A query that the service
    cuts short is returned with what came back and flagged in ``warnings``, in the log
    and in ``frame.attrs["warnings"]``. Subclasses connect, run and explain errors.
    """

    mode: str = DEFAULT_MODE
    credential: TokenCredential | None = field(default=None, repr=False)
    auth: str = DEFAULT_AUTH
    tenant: str | None = None
    server_timeout: int = DEFAULT_SERVER_TIMEOUT
    client_options: dict[str, Any] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)
    _client: Any = field(default=None, init=False, repr=False)
    _owns_credential: bool = field(default=False, init=False, repr=False)

    #: The longest a query may run on the service, in seconds.
    MAX_SERVER_TIMEOUT: ClassVar[int]
    #: Whether closing the SDK's client also closes the credential it was given.
    CLIENT_CLOSES_CREDENTIAL: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.mode = check_mode(self.mode or DEFAULT_MODE)
        self.auth = check_auth(self.auth, self.tenant)
        self.server_timeout = check_server_timeout(self.server_timeout, self.MAX_SERVER_TIMEOUT)

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables the mode's queries read."""
        return Mode(self.mode).tables

    @property
    def label(self) -> str:
        """The service and the place in it, short enough for a report."""
        raise NotImplementedError

    @property
    def description(self) -> str:
        """Where the rows come from, for reports and error messages."""
        return f"{self.label} ({', '.join(self.tables)})"

    @property
    def _where(self) -> str:
        """The place in full, for error lines."""
        return self.label

    def _sign_in(self) -> TokenCredential:
        """The caller's credential, or the one for ``auth`` made once and owned here."""
        if self.credential is None:
            self.credential = default_credential(self.auth, self.tenant)
            self._owns_credential = True
        return self.credential

    def _query(self, kql: str) -> tuple[pd.DataFrame, str | None]:
        """Run the text once: the rows, and the service's reason when it cut them (None when whole).

        Raises ``ServerTimeout`` when the service stopped the query with no rows, and a
        one-line ``KitError`` for every other failure.
        """
        raise NotImplementedError

    def run(self, kql: str) -> pd.DataFrame:
        """Result of the KQL text as a typed DataFrame; a cut result is returned and flagged."""
        try:
            frame, problem = self._query(kql)
        except ServerTimeout as err:
            raise KitError(f"{err}; narrow the window or raise --timeout") from None
        return self._finish(frame, [problem] if problem else [], 1)

    def run_request(self, request: Request) -> pd.DataFrame:
        """Result of a packaged query; when the service cuts it, each half of the window is asked
        for in turn (``analysis.sources.split``), and what stays cut is flagged."""
        return self._finish(*complete(request, lambda r: self._query(r.kql), depth=MAX_DEPTH))

    def _finish(self, frame: pd.DataFrame, problems: list[str], parts: int) -> pd.DataFrame:
        """Say where it will be seen that a result is still cut: warnings, the log, the frame."""
        if parts > 1:
            frame.attrs["parts"] = parts
        if not problems:
            return frame
        more = f" and {len(problems) - 1} more part(s)" if len(problems) > 1 else ""
        message = (
            f"partial result from {self.description} ({len(frame)} rows kept): {problems[0]}{more}; "
            "aggregate in KQL or narrow the time window"
        )
        self.warnings.append(message)
        logging.getLogger(type(self).__module__).warning(message)
        frame.attrs["warnings"] = [message]
        frame.attrs["complete"] = False
        return frame

    def _unreachable(self, err: BaseException, endpoint: str) -> str | None:
        """One line naming the endpoint and the network cause, when the network is what failed."""
        cause = network_cause(err)
        return f"{self._where}: cannot reach {endpoint} ({cause})" if cause else None

    def _sign_in_failed(self, err: BaseException, said: object) -> str:
        """One line for a credential that gave no token: the network cause first, if there is one."""
        cause = network_cause(err)
        if cause:
            return f"{self._where}: cannot sign in to Azure: {cause} (check the network or proxy, then run again)"
        return f"{self._where}: cannot sign in to Azure ({first_line(said)}); {sign_in_hint(self.auth)}"

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """None: a workspace or cluster holds more than one incident, so the caller must name the window."""
        return None

    def close(self) -> None:
        """Release the HTTP connections, and the credential when it was made here (it is made
        again if the source is used after this)."""
        if self._client is not None:
            try:
                self._client.close()
            except AttributeError:  # the SDK closing a credential without close(): nothing to release
                pass
            self._client = None
        if self._owns_credential:
            close = getattr(self.credential, "close", None)
            if callable(close) and not self.CLIENT_CLOSES_CREDENTIAL:
                close()
            self.credential = None
            self._owns_credential = False
