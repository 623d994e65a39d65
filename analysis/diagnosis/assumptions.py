"""What the analysis assumes where the logs cannot tell, each a setting the user may override.

Microsoft does not publish how many SNAT ports an APIM unit gets (azure-docs issue
#109030). The default is the Azure Load Balancer allocation for pools of 1-50
instances, and the report says so wherever it uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis.diagnosis.tiers import Tier, parse_tier
from analysis.errors import KitError
from analysis.query.literals import parse_value

TARGET_UTILISATION = 0.75
"""Sizing target: a fix should keep demand under this share of the ports (Load Balancer guidance:
alert at 75 % of allocated ports). Mitigations, what-if settings and charts all size against it."""

#: ``--param units.<region>=N`` gives one region its own units.
REGION_UNITS_PREFIX = "units."


@dataclass(frozen=True)
class Assumptions:
    """Capacity, logging and thresholds; every field can be set with ``--param name=value``."""

    snat_ports: int = 1024
    """SNAT ports per APIM instance (unit) and destination IP:port; not documented by Microsoft."""
    units: int = 1
    """APIM units (instances) of every region during the incident, unless ``units_by_region`` names the region."""
    units_by_region: dict[str, int] = field(default_factory=dict)
    """Units of the regions that had another number than ``units`` (``--param "units.West Europe=2"``)."""
    requests_per_connection: float = 1.0
    """The least connection reuse there can have been: the top of the demand band opens a connection per this
    many requests. 1 (no reuse) is the widest band, the default when nobody knows."""
    port_hold_minutes: int = 4
    """Minutes a port stays taken after its connection closes (240 s after FIN)."""
    pool_idle_minutes: int = 1
    """Minutes an idle pooled backend connection stays open before it closes (.NET's default is 1 minute;
    not documented for APIM): a connection busy that long plus the hold ago may still hold its port."""
    connect_timeout_s: float | None = None
    """When a connection attempt whose SYNs go unanswered gives up. Not published (Windows gives up after
    3 + 6 + 12 = 21 s, Linux after 127 s): by default the timer is read from the failed connects themselves;
    a value given here overrides it."""
    log_sampling_percent: float = 100.0
    """Share of successful requests the diagnostic setting logged; failed ones are taken as always logged."""
    slow_p95_ms: float = 3000.0
    """Backend p95 latency from which a minute counts as slow."""
    min_requests: int = 200
    """Fewer requests than this in the window is too little traffic to judge."""
    max_window_days: int = 31
    """Longest window analysed, in days; a longer one is refused before any query runs (every minute
    of every destination is analysed, so a window of years needs gigabytes). Raise it on purpose."""
    tier: Tier | None = None
    """The instance's API Management tier: how far it can scale out and whether a NAT gateway can carry its
    outbound calls (``tiers``). None: every mitigation says what it needs of the tier."""

    def __post_init__(self) -> None:
        checks = {
            "snat_ports": self.snat_ports >= 1,
            "units": self.units >= 1,
            "units_by_region": all(name.strip() and units >= 1 for name, units in self.units_by_region.items()),
            "requests_per_connection": self.requests_per_connection >= 1,
            "port_hold_minutes": 1 <= self.port_hold_minutes <= 60,
            "pool_idle_minutes": 0 <= self.pool_idle_minutes <= 60,
            "connect_timeout_s": self.connect_timeout_s is None or 1 <= self.connect_timeout_s <= 230,
            "log_sampling_percent": 0 < self.log_sampling_percent <= 100,
            "slow_p95_ms": self.slow_p95_ms > 0,
            "min_requests": self.min_requests >= 1,
            "max_window_days": self.max_window_days >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise KitError(f"parameter {name!r} is out of range: {getattr(self, name)!r} ({_RANGES[name]})")

    def units_in(self, region: str) -> int:
        """Units of ``region`` during the incident.

        >>> Assumptions(units=2, units_by_region={"North Europe": 3}).units_in("West Europe")
        2
        """
        return self.units_by_region.get(region, self.units)

    def capacity_in(self, region: str) -> int:
        """Ports towards one destination IP:port in ``region`` when its load spreads evenly over the units."""
        return self.snat_ports * self.units_in(region)

    @property
    def snat_capacity(self) -> int:
        """Ports available to one destination IP:port across the units of a region without its own figure."""
        return self.snat_ports * self.units

    @property
    def sampling_factor(self) -> float:
        """How many requests each logged successful row stands for."""
        return 100.0 / self.log_sampling_percent

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_RANGES = {
    "snat_ports": "at least 1",
    "units": "at least 1",
    "units_by_region": "a region name and at least 1 unit each",
    "requests_per_connection": "at least 1",
    "port_hold_minutes": "1 to 60",
    "pool_idle_minutes": "0 to 60",
    "connect_timeout_s": "1 to 230 seconds, or empty to read it from the failed connects",
    "log_sampling_percent": "above 0, at most 100",
    "slow_p95_ms": "above 0",
    "min_requests": "at least 1",
    "max_window_days": "at least 1",
}
_TYPES = {"int": "long", "float": "real", "float | None": "real"}


def param_text(value: Any) -> str:
    """A setting as ``--param`` text: a region mapping as ``Region=N;Region=N``, anything else as itself.

    >>> param_text({"West Europe": 2, "North Europe": 1}), param_text(3), param_text(None)
    ('West Europe=2;North Europe=1', '3', '')
    """
    if isinstance(value, Mapping):
        return ";".join(f"{name}={units}" for name, units in value.items())
    return "" if value is None else str(value)


def _region_units(name: str, text: str) -> int:
    try:
        value = parse_value(text.strip(), "long")
    except ValueError as err:
        raise KitError(f"parameter {name!r}: {err}") from None
    if not isinstance(value, int):
        raise KitError(f"parameter {name!r}: expected a whole number of units, got {text!r}")
    return value


def _units_by_region(text: str) -> dict[str, int]:
    """``Region=N;Region=N`` (empty for none) as a mapping."""
    found: dict[str, int] = {}
    for item in filter(str.strip, text.split(";")):
        region, sep, units = item.rpartition("=")
        if not sep or not region.strip():
            raise KitError(f"parameter 'units_by_region': expected REGION=UNITS;..., got {item.strip()!r}")
        found[region.strip()] = _region_units(f"{REGION_UNITS_PREFIX}{region.strip()}", units)
    return found


def from_params(texts: Mapping[str, str]) -> Assumptions:
    """Assumptions from command-line ``name=value`` texts; unknown names and bad values are errors.

    ``units.<region>=N`` (or ``units_by_region=REGION=N;...``) gives a region its own units.

    >>> from_params({"units": "2"}).snat_capacity
    2048
    >>> from_params({"units.North Europe": "3"}).units_in("North Europe")
    3
    """
    fields = {f.name: f for f in dataclasses.fields(Assumptions)}
    values: dict[str, Any] = {}
    by_region: dict[str, int] = {}
    for name, text in texts.items():
        if name.startswith(REGION_UNITS_PREFIX):
            region = name.removeprefix(REGION_UNITS_PREFIX).strip()
            if not region:
                raise KitError(f"parameter {name!r}: name the region, e.g. 'units.West Europe=2'")
            by_region[region] = _region_units(name, text)
            continue
        if name not in fields:
            raise KitError(f"unknown parameter {name!r} (known: {', '.join(fields)}, units.<region>)")
        if name == "units_by_region":
            by_region = {**_units_by_region(text), **by_region}
            continue
        if name == "tier":
            values[name] = parse_tier(text) if text.strip() else None
            continue
        kind = str(fields[name].type)
        if kind.endswith("| None") and not text.strip():
            values[name] = None  # an optional setting left empty: read from the data
            continue
        kql_type = _TYPES[kind]
        try:
            values[name] = parse_value(text, kql_type)
        except ValueError as err:
            raise KitError(f"parameter {name!r}: {err}") from None
    return Assumptions(**values, units_by_region=by_region)
