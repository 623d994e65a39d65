"""The ways API Management's request logs reach a Log Analytics workspace, and the tables each fills.

A workspace receives the gateway logs either in the resource-specific table
``ApiManagementGatewayLogs`` or in the legacy ``AzureDiagnostics`` table; an API
whose logging goes to Application Insights instead writes a request, a dependency
and an exception per call (``AppRequests``, ``AppDependencies``, ``AppExceptions``
in the workspace; ``requests``, ``dependencies``, ``exceptions`` when the
Application Insights resource itself is queried). Every query reads the normalised
``GatewayRequests`` that the mode's prelude in ``kql/modes`` builds from the mode's
tables, so the rest of the kit never asks which one it was.
"""

from __future__ import annotations

from enum import StrEnum

from analysis.errors import KitError


class Mode(StrEnum):
    """A logging mode; the value is the name used on the command line, in notebooks and in findings."""

    RESOURCE = "resource"
    AZURE_DIAGNOSTICS = "azurediagnostics"
    APP_INSIGHTS = "appinsights"
    APP_INSIGHTS_CLASSIC = "appinsights-classic"

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the mode reads, the one holding the requests first."""
        return _TABLES[self]

    @property
    def table(self) -> str:
        """The table holding one row per request of the mode."""
        return self.tables[0]

    @property
    def app_insights(self) -> bool:
        """Whether the rows come from Application Insights: each may stand for several requests (``ItemCount``)."""
        return self in (Mode.APP_INSIGHTS, Mode.APP_INSIGHTS_CLASSIC)


_TABLES = {
    Mode.RESOURCE: ("ApiManagementGatewayLogs",),
    Mode.AZURE_DIAGNOSTICS: ("AzureDiagnostics",),
    Mode.APP_INSIGHTS: ("AppRequests", "AppDependencies", "AppExceptions"),
    Mode.APP_INSIGHTS_CLASSIC: ("requests", "dependencies", "exceptions"),
}
#: What Azure sources query when not told: they cannot look at the workspace first.
DEFAULT_MODE = Mode.RESOURCE


def check_mode(mode: str) -> Mode:
    """The logging mode named ``mode``; an unknown one is a ``KitError`` listing the known ones.

    >>> check_mode("azurediagnostics").table
    'AzureDiagnostics'
    >>> check_mode("appinsights").tables
    ('AppRequests', 'AppDependencies', 'AppExceptions')
    """
    try:
        return Mode(mode)
    except ValueError:
        raise KitError(f"unknown logging mode {mode!r} (use one of: {', '.join(Mode)})") from None
