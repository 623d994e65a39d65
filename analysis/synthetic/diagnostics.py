"""How the diagnostic setting and the user's export shape what the kit is handed.

The gateway serves every request; the API's diagnostic setting decides which
become rows (Sampling %, "Always log errors", Verbosity: azure-docs
``articles/api-management/diagnostic-logs-reference.md``), a user's KQL
``project`` before exporting decides which columns survive, and a row cap
(the portal's 30,000, the query API's 500,000) which rows. Whether the logs
can still tell the causes apart follows from what is left, not from any
diagnosis: :func:`missing_evidence` names what is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from analysis.errors import KitError


class Verbosity(StrEnum):
    """Diagnostic setting verbosity: ``error`` logs only failed requests."""

    ERROR = "error"
    INFORMATION = "information"
    VERBOSE = "verbose"


@dataclass(frozen=True)
class DiagnosticSetting:
    """The logging settings of the APIs, as the gateway applies them to each request.

    ``sampling_percent`` of the requests are logged; with
    ``always_log_errors`` every failed request is logged whatever the
    sampling. At ``Verbosity.ERROR`` only failed requests are logged. A
    failed request is one that is not ``IsRequestSuccess`` (not 2xx/3xx).
    """

    sampling_percent: float = 100.0
    always_log_errors: bool = True
    verbosity: Verbosity = Verbosity.INFORMATION

    def __post_init__(self) -> None:
        if not 0 < self.sampling_percent <= 100:
            raise KitError(f"sampling percent must be in (0, 100], got {self.sampling_percent}")

    @property
    def logs_everything(self) -> bool:
        return self.sampling_percent == 100 and self.verbosity != Verbosity.ERROR


@dataclass(frozen=True)
class Assumptions:
    """What a user who knows the estate would tell the kit (None: leave the kit's default).

    ``units`` the gateway had during the incident (per region, the same
    value for every region); ``log_sampling_percent`` of the diagnostic
    setting; ``ip_map``: the user resolves the backend hosts and gives the
    host -> IP map (the scenario writes it as ``ip_map.csv``); ``snat_ports``
    per unit and destination IP:port the user believes the instance has (it
    may be wrong: nobody publishes the figure).
    """

    units: int | None = None
    log_sampling_percent: float | None = None
    ip_map: bool = False
    snat_ports: int | None = None


#: Evidence the logs must carry to tell the causes apart, each satisfied by any of its columns:
#: which destination and when; whether each request failed; how a failed request failed (no
#: connection, timeout, or an answer from the backend); and how long backend calls took (the
#: requests in flight, and failures at the connect timeout versus in milliseconds).
EVIDENCE: dict[str, tuple[str, ...]] = {
    "when": ("TimeGenerated",),
    "destination": ("BackendUrl",),
    "outcome": ("ResponseCode", "IsRequestSuccess"),
    "failure reason": ("LastErrorReason", "Errors"),
    "backend time": ("BackendTime",),
}


def missing_evidence(setting: DiagnosticSetting, columns: tuple[str, ...]) -> tuple[str, ...]:
    """What the logged rows lack for telling the causes apart, in words a user can act on.

    >>> missing_evidence(DiagnosticSetting(), ("TimeGenerated", "BackendUrl", "ResponseCode"))
    ('column LastErrorReason', 'column BackendTime')
    >>> missing_evidence(DiagnosticSetting(verbosity=Verbosity.ERROR), ())
    ('successful requests (diagnostic setting verbosity: error)',)
    >>> missing_evidence(DiagnosticSetting(sampling_percent=20), ())
    ()
    """
    missing: list[str] = []
    if setting.verbosity == Verbosity.ERROR:
        missing.append("successful requests (diagnostic setting verbosity: error)")
    if columns:
        for options in EVIDENCE.values():
            if not set(options) & set(columns):
                missing.append(f"column {options[0]}")
    return tuple(missing)


def logged(rows: pd.DataFrame, setting: DiagnosticSetting, rng: np.random.Generator) -> pd.DataFrame:
    """The rows the diagnostic setting keeps, in order, with a fresh index."""
    if setting.logs_everything:
        return rows
    failed = ~rows["IsRequestSuccess"].to_numpy(dtype=bool)
    sampled = rng.random(len(rows)) * 100.0 < setting.sampling_percent
    keep = sampled | (failed & setting.always_log_errors)
    if setting.verbosity == Verbosity.ERROR:
        keep &= failed
    return rows.loc[keep].reset_index(drop=True)


def newest(rows: pd.DataFrame, cap: int | None) -> pd.DataFrame:
    """The newest ``cap`` rows, newest first, as the Log Analytics portal shows and exports a result it cuts
    (all rows, in time order, without a cap).

    >>> rows = pd.DataFrame({"TimeGenerated": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 10:01",
    ...                                                        "2025-01-01 10:02"])})
    >>> newest(rows, 2)["TimeGenerated"].dt.strftime("%H:%M").tolist()
    ['10:02', '10:01']
    """
    if cap is None:
        return rows
    return rows.iloc[::-1].head(cap).reset_index(drop=True)


def projected(rows: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The columns a user's export kept (all when ``columns`` is empty)."""
    if not columns:
        return rows
    unknown = sorted(set(columns) - set(rows.columns))
    if unknown:
        raise KitError(f"export columns not in the table: {unknown}")
    return rows[list(columns)]
