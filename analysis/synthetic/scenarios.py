"""The declarative model of a synthetic incident.

A :class:`Scenario` says what traffic an APIM instance carried and what went
wrong at which backend; the generator turns it into gateway log rows and the
ground truth. Everything here is frozen so a scenario can be shared between
tests and the library without one caller changing it under another.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from analysis.errors import KitError

DEFAULT_PORTS = {"https": 443, "http": 80}


class Behaviour(StrEnum):
    """What a backend does during its :class:`Window`.

    Every destination is subject to the SNAT port model whatever its
    behaviour; ``SNAT`` only says the scenario means it to run out of ports.
    """

    HEALTHY = "healthy"
    SNAT = "snat"
    SLOW = "slow"
    APP_ERRORS = "app_errors"
    OUTAGE = "outage"


@dataclass(frozen=True)
class Window:
    """Minutes ``[start_minute, end_minute)`` counted from the scenario start.

    >>> Window(10, 15).minutes
    range(10, 15)
    """

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute:
            raise KitError(f"window must satisfy 0 <= start < end, got {self.start_minute}..{self.end_minute}")

    @property
    def minutes(self) -> range:
        return range(self.start_minute, self.end_minute)


@dataclass(frozen=True)
class Caller:
    """An API consumer: APIM subscription, client IP and product."""

    subscription: str
    ip: str
    product: str
    weight: float = 1.0


#: The nightly batch job that drives bursts unless a burst names other drivers.
BATCH_CALLER = Caller("partner-bulk-sync", "52.174.18.203", "partner-integration")

DEFAULT_CALLERS: tuple[Caller, ...] = (
    Caller("mobile-app-prod", "20.61.102.17", "mobile", 3.0),
    Caller("web-storefront", "40.114.201.66", "storefront", 3.0),
    Caller("3f9c2a71d4e84b0f9a6e15c7b2d08e43", "81.152.47.212", "starter", 1.0),
    Caller("b07e41c9a25d4f6e8c3a9d1f60e2b7a5", "94.229.118.35", "starter", 1.0),
    Caller("reporting-service", "13.79.66.140", "internal", 1.5),
    Caller("partner-bulk-sync", "52.174.18.203", "partner-integration", 0.5),
)


@dataclass(frozen=True)
class Burst:
    """Extra load on one destination: the rate is ``multiplier`` times baseline.

    The extra traffic ramps up over ``ramp_minutes`` and comes mostly
    (``driver_share``) from ``drivers``, so that a later per-key analysis can
    name who caused it.
    """

    start_minute: int
    end_minute: int
    multiplier: float
    ramp_minutes: int = 2
    drivers: tuple[Caller, ...] = (BATCH_CALLER,)
    driver_share: float = 0.9

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute:
            raise KitError(f"burst must satisfy 0 <= start < end, got {self.start_minute}..{self.end_minute}")
        if self.multiplier < 1:
            raise KitError(f"burst multiplier must be >= 1, got {self.multiplier}")
        if not self.drivers:
            raise KitError("a burst needs at least one driving caller")


@dataclass(frozen=True)
class Operation:
    """One API operation and how its calls look on both sides of the gateway.

    ``path`` is relative to the backend base URL and to the API's front-end
    suffix; ``{id}`` in it becomes a random number. ``query`` (with ``{n}``
    becoming a small number) is appended when set.
    """

    api_id: str
    api_suffix: str
    operation_id: str
    method: str
    path: str
    weight: float = 1.0
    query: str = ""


def destination_key(url: str) -> str:
    """``host:port`` of a backend URL, lower-case host, scheme's default port.

    >>> destination_key("https://Orders.Contoso-Backend.com/api")
    'orders.contoso-backend.com:443'
    >>> destination_key("https://legacy-erp.fabrikam.net:8443")
    'legacy-erp.fabrikam.net:8443'
    """
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise KitError(f"backend URL must be http(s)://host[:port][/path], got {url!r}")
    return f"{parts.hostname.lower()}:{parts.port or DEFAULT_PORTS[parts.scheme]}"


@dataclass(frozen=True)
class Destination:
    """One backend (one host:port, hence one pool of SNAT ports).

    ``requests_per_connection`` is connection reuse: 1 opens a new connection
    for every request. ``latency_ms`` is the median of a lognormal backend
    latency. ``window`` is when a ``slow``, ``app_errors`` or ``outage``
    behaviour applies; those three kinds need one.
    """

    base_url: str
    operations: tuple[Operation, ...]
    baseline_rpm: float
    bursts: tuple[Burst, ...] = ()
    requests_per_connection: float = 50.0
    latency_ms: float = 60.0
    latency_sigma: float = 0.45
    behaviour: Behaviour = Behaviour.HEALTHY
    window: Window | None = None
    slow_latency_ms: float = 6000.0
    error_share: float = 0.4
    outage_failure_share: float = 0.99
    cache_hit_share: float = 0.0
    backend_id: str = ""

    def __post_init__(self) -> None:
        host = urlsplit(self.base_url).hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not literal.is_global:
            raise KitError(f"{self.base_url}: SNAT applies to public destinations only, not {host}")
        destination_key(self.base_url)
        if not self.operations:
            raise KitError(f"{self.base_url}: a destination needs at least one operation")
        if self.requests_per_connection < 1:
            raise KitError(f"{self.base_url}: requests_per_connection must be >= 1")
        needs_window = self.behaviour in (Behaviour.SLOW, Behaviour.APP_ERRORS, Behaviour.OUTAGE)
        if needs_window and self.window is None:
            raise KitError(f"{self.base_url}: behaviour {self.behaviour} needs a window")

    @property
    def key(self) -> str:
        return destination_key(self.base_url)


@dataclass(frozen=True)
class Noise:
    """Imperfections of real data.

    ``dropped_minutes`` vanish from the logs entirely (ingestion gaps; the
    traffic still happened and still held ports). ``isolated_failure_rate`` is
    the chance that any call to a ``healthy`` destination fails with a one-off
    connection failure (other behaviours are left clean so each stays a
    pure example of itself).
    """

    dropped_minutes: tuple[int, ...] = ()
    isolated_failure_rate: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """A whole incident: when, how long, which backends, which APIM instance.

    ``start`` is naive UTC. SNAT capacity is ``snat_ports * units``: each unit
    is an instance with its own ports, and load spreads over them.
    """

    name: str
    start: datetime
    duration_minutes: int
    destinations: tuple[Destination, ...]
    snat_ports: int = 1024
    units: int = 1
    seed: int = 0
    noise: Noise = field(default_factory=Noise)
    callers: tuple[Caller, ...] = DEFAULT_CALLERS
    service: str = "contoso-apim"
    region: str = "West Europe"
    resource_group: str = "rg-apim-prod"
    azure_subscription_id: str = "6f1d2c4b-8a3e-4f57-9b21-0c7e5d9a3f18"
    workspace_id: str = "a4c8e2f1-5b7d-4e93-8f06-2d1b9c7e4a53"
    forward_timeout_s: int = 60

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None:
            raise KitError(f"scenario {self.name}: start must be naive UTC")
        if self.duration_minutes < 1:
            raise KitError(f"scenario {self.name}: duration must be at least one minute")
        keys = [d.key for d in self.destinations]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise KitError(f"scenario {self.name}: one Destination per host:port, repeated {duplicates}")
        if self.snat_ports < 1 or self.units < 1:
            raise KitError(f"scenario {self.name}: snat_ports and units must be positive")

    @property
    def capacity(self) -> int:
        """SNAT ports available towards one destination across all units."""
        return self.snat_ports * self.units
