"""What the analysis assumes where the logs cannot tell, each a setting the user may override.

Microsoft does not publish how many SNAT ports an APIM unit gets (azure-docs issue
#109030). The default is the Azure Load Balancer allocation for pools of 1-50
instances, and the report says so wherever it uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.errors import KitError
from analysis.literals import parse_value

TARGET_UTILISATION = 0.75
"""Sizing target: a fix should keep demand under this share of the ports (Load Balancer guidance:
alert at 75 % of allocated ports). Mitigations, what-if settings and charts all size against it."""


@dataclass(frozen=True)
class Assumptions:
    """Capacity and thresholds; every field can be set with ``--param name=value``."""

    snat_ports: int = 1024
    """SNAT ports per APIM instance (unit) and destination IP:port; not documented by Microsoft."""
    units: int = 1
    """APIM units (instances) sharing the outbound load."""
    requests_per_connection: float = 1.0
    """Requests carried by one backend connection; 1 means no reuse, the worst case."""
    port_hold_minutes: int = 4
    """Minutes a port stays taken after its connection closes (240 s after FIN)."""
    slow_p95_ms: float = 3000.0
    """Backend p95 latency from which a minute counts as slow."""
    min_requests: int = 200
    """Fewer requests than this in the window is too little traffic to judge."""
    max_window_days: int = 31
    """Longest window analysed, in days; a longer one is refused before any query runs (every minute
    of every destination is analysed, so a window of years needs gigabytes). Raise it on purpose."""

    def __post_init__(self) -> None:
        checks = {
            "snat_ports": self.snat_ports >= 1,
            "units": self.units >= 1,
            "requests_per_connection": self.requests_per_connection >= 1,
            "port_hold_minutes": 1 <= self.port_hold_minutes <= 60,
            "slow_p95_ms": self.slow_p95_ms > 0,
            "min_requests": self.min_requests >= 1,
            "max_window_days": self.max_window_days >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise KitError(f"parameter {name!r} is out of range: {getattr(self, name)!r} ({_RANGES[name]})")

    @property
    def snat_capacity(self) -> int:
        """Ports available to one destination IP:port across all units."""
        return self.snat_ports * self.units

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_RANGES = {
    "snat_ports": "at least 1",
    "units": "at least 1",
    "requests_per_connection": "at least 1",
    "port_hold_minutes": "1 to 60",
    "slow_p95_ms": "above 0",
    "min_requests": "at least 1",
    "max_window_days": "at least 1",
}
_TYPES = {"int": "long", "float": "real"}


def from_params(texts: Mapping[str, str]) -> Assumptions:
    """Assumptions from command-line ``name=value`` texts; unknown names and bad values are errors.

    >>> from_params({"units": "2"}).snat_capacity
    2048
    """
    fields = {f.name: f for f in dataclasses.fields(Assumptions)}
    values: dict[str, Any] = {}
    for name, text in texts.items():
        if name not in fields:
            raise KitError(f"unknown parameter {name!r} (known: {', '.join(fields)})")
        kql_type = _TYPES[str(fields[name].type)]
        try:
            values[name] = parse_value(text, kql_type)
        except ValueError as err:
            raise KitError(f"parameter {name!r}: {err}") from None
    return Assumptions(**values)
