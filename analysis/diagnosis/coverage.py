"""What the logs can tell: the columns the checks need, the requests the diagnostic setting logged.

A diagnosis from logs that lack what tells the causes apart is a guess: without
``LastErrorReason`` a failed connection looks like any HTTP 500, without
``BackendTime`` nothing shows how long calls took (the requests in flight, a
failure at the connect timeout or in milliseconds), and logs of failed requests
only (diagnostic setting verbosity "error") have no ratio and no demand. Then
every destination is ``unknown`` and the report names what is missing. Sampled
logging that always logs errors is taken into account: each logged success
stands for ``100 / log_sampling_percent`` requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.query.modes import Mode

#: Columns the checks cannot do without, and what each tells.
EVIDENCE_COLUMNS = {
    "LastErrorReason": "how a failed request failed (connection, timeout, answer from the backend)",
    "BackendTime": "how long backend calls took (the requests in flight, a failure at the connect timeout)",
}
#: The legacy AzureDiagnostics spelling of the columns the diagnosis asks about.
LEGACY_NAMES = {
    "LastErrorReason": "lastError_reason_s",
    "BackendTime": "backendTime_d",
    "ApimSubscriptionId": "apimSubscriptionId_s",
    "CallerIpAddress": "CallerIPAddress",
}
#: Fields the legacy mode also reads from AdditionalFields.
FROM_ADDITIONAL_FIELDS = ("LastErrorReason", "BackendTime")
#: Application Insights columns each normalised column is read from (``kql/modes/appinsights-rows.kql``): it is
#: absent only when all of them are. A failed connect shows as an exception, or as a failed dependency.
APP_INSIGHTS_SOURCES = {
    "LastErrorReason": ("AppExceptions.ExceptionType", "AppDependencies.Success"),
    "BackendTime": ("AppDependencies.DurationMs",),
    "ApimSubscriptionId": ("AppRequests.Properties",),
    "CallerIpAddress": ("AppRequests.ClientIP",),
}
ERROR_ONLY = (
    "successful requests: the logs hold failed requests only, as a diagnostic setting at verbosity 'error' "
    "writes them (set it to 'information' to judge)"
)


@dataclass(frozen=True)
class Coverage:
    """What the logs of the window carry."""

    absent_columns: tuple[str, ...] = ()
    """Columns (normalised names) the rows lack altogether: a projected export."""
    error_only: bool = False
    """Failed requests were logged but not one successful request."""
    sampling_percent: float = 100.0
    self_hosted: bool = False
    """The rows come from a self-hosted gateway: its connects leave through its node's or cluster's NAT, whose
    capacity is not Azure's SNAT ports per unit (``analysis.diagnosis.self_hosted``)."""

    @property
    def missing(self) -> tuple[str, ...]:
        """What the logs lack for judging any destination, in words a user can act on."""
        found = [f"column {c} ({EVIDENCE_COLUMNS[c]})" for c in EVIDENCE_COLUMNS if c in self.absent_columns]
        if self.error_only:
            found.append(ERROR_ONLY)
        return tuple(found)

    def lacks(self, column: str) -> bool:
        return column in self.absent_columns

    @property
    def logging(self) -> str:
        """The logging assumption the diagnosis made, in a sentence."""
        if self.error_only:
            return (
                "Only failed requests are in the logs (diagnostic setting verbosity 'error'): no ratio can be judged."
            )
        if self.sampling_percent < 100:
            return (
                f"Assumed: the diagnostic setting logged {self.sampling_percent:g} % of the successful requests and "
                f"every failed one ('Always log errors'), so each logged success counts "
                f"{100 / self.sampling_percent:g} times (--param log_sampling_percent)."
            )
        return (
            "Assumed: every request was logged (sampling 100 %, verbosity 'information'); if the diagnostic setting "
            "samples, give its percentage with --param log_sampling_percent."
        )


def normalised_names(absent: tuple[str, ...], mode: str) -> tuple[str, ...]:
    """The source's absent raw columns as the normalised names the diagnosis asks about.

    In legacy mode ``LastErrorReason`` and ``BackendTime`` may also come from ``AdditionalFields``
    (``kql/modes/azurediagnostics.kql``), so they are absent only when that column is absent too.

    >>> normalised_names(("backendTime_d", "method_s", "AdditionalFields"), "azurediagnostics")
    ('BackendTime',)
    >>> normalised_names(("backendTime_d",), "azurediagnostics")
    ()
    >>> normalised_names(("AppExceptions.ExceptionType", "AppDependencies.DurationMs"), "appinsights")
    ('BackendTime',)
    """
    if Mode(mode).app_insights:
        return tuple(name for name, sources in APP_INSIGHTS_SOURCES.items() if set(sources) <= set(absent))
    if mode != "azurediagnostics":
        return tuple(absent)
    spilled = "AdditionalFields" not in absent
    return tuple(
        name
        for name, legacy in LEGACY_NAMES.items()
        if legacy in absent and not (spilled and name in FROM_ADDITIONAL_FIELDS)
    )


def assess(
    health: pd.DataFrame, absent_columns: tuple[str, ...], sampling_percent: float, self_hosted: bool = False
) -> Coverage:
    """The coverage of a window from its health rows and the columns its source lacks.

    A ``BackendTime`` present in no row counts as absent too (a workspace that never filled it).
    """
    absent = set(absent_columns)
    if len(health) and health["requests"].sum() > 0 and health["backend_p50_ms"].isna().all():
        absent.add("BackendTime")
    failed = float((health["requests"] - health["successes"]).sum()) if len(health) else 0.0
    successes = float(health["successes"].sum()) if len(health) else 0.0
    return Coverage(
        absent_columns=tuple(sorted(absent)),
        error_only=failed > 0 and successes == 0,
        sampling_percent=sampling_percent,
        self_hosted=self_hosted,
    )
