"""The two ways API Management can send gateway logs to Log Analytics, and the table each fills.

A workspace receives the gateway logs either in the resource-specific table
``ApiManagementGatewayLogs`` or in the legacy ``AzureDiagnostics`` table. Every
query reads the normalised ``GatewayRequests`` that ``kql/modes/<mode>.kql``
builds from the mode's table, so the rest of the kit never asks which one it was.
"""

from __future__ import annotations

from enum import StrEnum

from analysis.errors import KitError


class Mode(StrEnum):
    """A logging mode; the value is the name used on the command line, in notebooks and in findings."""

    RESOURCE = "resource"
    AZURE_DIAGNOSTICS = "azurediagnostics"

    @property
    def table(self) -> str:
        """The Log Analytics table the mode's rows live in."""
        return _TABLES[self]


_TABLES = {Mode.RESOURCE: "ApiManagementGatewayLogs", Mode.AZURE_DIAGNOSTICS: "AzureDiagnostics"}
#: What Azure sources query when not told: they cannot look at the workspace first.
DEFAULT_MODE = Mode.RESOURCE


def check_mode(mode: str) -> Mode:
    """The logging mode named ``mode``; an unknown one is a ``KitError`` listing the known ones.

    >>> check_mode("azurediagnostics").table
    'AzureDiagnostics'
    """
    try:
        return Mode(mode)
    except ValueError:
        raise KitError(f"unknown logging mode {mode!r} (use one of: {', '.join(Mode)})") from None
