"""The declarative model of a synthetic incident.

A :class:`Scenario` says what traffic an APIM instance carried, through which
regions and gateway units, to which backends (host names and the IPs they
resolve to), what went wrong where, and how the diagnostic setting logged it;
the generator turns it into gateway log rows and the ground truth. Everything
here is frozen so a scenario can be shared between tests and the library
without one caller changing it under another.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from analysis.errors import KitError
from analysis.synthetic.diagnostics import Assumptions, DiagnosticSetting
from analysis.synthetic.ports import WINDOWS, SynSchedule

DEFAULT_PORTS = {"https": 443, "http": 80}


class Behaviour(StrEnum):
    """What a backend does (during its :class:`Window` where it needs one).

    Every destination is subject to the SNAT port model whatever its
    behaviour; ``SNAT`` only says the scenario means it to run out of ports.
    ``REFUSES_UNDER_LOAD`` is a backend that refuses or resets connections
    whenever its request rate passes ``overload_rpm`` (no window).
    """

    HEALTHY = "healthy"
    SNAT = "snat"
    SLOW = "slow"
    APP_ERRORS = "app_errors"
    OUTAGE = "outage"
    REFUSES_UNDER_LOAD = "refuses_under_load"


class OutageKind(StrEnum):
    """How an unreachable backend fails a connection attempt.

    ``REFUSED``: the host answers the SYN with a reset (nothing listening, or
    a firewall rejecting): fails in milliseconds. ``DNS``: the name does not
    resolve: fails in milliseconds. ``BLACKHOLE``: the SYNs go unanswered
    (host down, a firewall dropping): fails at the connect timeout, whatever
    the load.
    """

    REFUSED = "refused"
    DNS = "dns"
    BLACKHOLE = "blackhole"


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
    """An API consumer: APIM subscription, client IP and product.

    ``region`` pins the caller to one gateway region (clients are routed to
    the nearest region); empty spreads its calls over the regions by their
    shares. ``connections`` is how many client connections carry its calls:
    0 means many (a population of devices: calls spread evenly over the
    region's units); ``k`` means ``k`` long-lived connections, each kept on
    one unit chosen by a hash of the connection. ``timeout_s`` is when the
    client gives up on a call (None: it waits for the gateway's answer).
    """

    subscription: str
    ip: str
    product: str
    weight: float = 1.0
    region: str = ""
    connections: int = 0
    timeout_s: float | None = None


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
    name who caused it; the drivers' own ``region`` and ``connections`` say
    where it lands.
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


def _public_ip(text: str, where: str) -> str:
    """``text`` if it is a public IP address; SNAT applies to public destinations only."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise KitError(f"{where}: {text!r} is not an IP address") from None
    if not address.is_global:
        raise KitError(f"{where}: SNAT applies to public destinations only, not {text}")
    return str(address)


@dataclass(frozen=True)
class SideCall:
    """A ``send-request`` the API's policy makes on every call (a token or lookup endpoint).

    During ``window`` the side host fails a ``failure_share`` of the calls the
    way ``outage_kind`` says; the request then fails before it is forwarded,
    logged against the API's ``BackendUrl`` with ``LastErrorSource`` ``send-request``.
    """

    url: str
    window: Window
    failure_share: float = 0.9
    outage_kind: OutageKind = OutageKind.REFUSED

    def __post_init__(self) -> None:
        destination_key(self.url)

    @property
    def key(self) -> str:
        return destination_key(self.url)


@dataclass(frozen=True)
class Destination:
    """One backend host:port.

    ``ips`` are the addresses the host resolves to (calls spread evenly over
    them); empty means one made-up public IP of its own. Hosts sharing an IP
    and port share that pool of SNAT ports. ``requests_per_connection`` is
    connection reuse: 1 opens (and closes) a new connection for every
    request; above 1 the gateway keeps a pool of connections open and the
    backend closes each after that many requests. ``latency_ms`` is the
    median of a lognormal backend latency. ``window`` is when a ``slow``,
    ``app_errors`` or ``outage`` behaviour applies; those three kinds need one.
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
    outage_kind: OutageKind = OutageKind.REFUSED
    overload_rpm: float = 0.0
    cache_hit_share: float = 0.0
    backend_id: str = ""
    ips: tuple[str, ...] = ()
    side_call: SideCall | None = None

    def __post_init__(self) -> None:
        host = urlsplit(self.base_url).hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not literal.is_global:
            raise KitError(f"{self.base_url}: SNAT applies to public destinations only, not {host}")
        destination_key(self.base_url)
        for ip in self.ips:
            _public_ip(ip, self.base_url)
        if literal is not None and self.ips and self.ips != (str(literal),):
            raise KitError(f"{self.base_url}: an IP literal resolves to itself only")
        if not self.operations:
            raise KitError(f"{self.base_url}: a destination needs at least one operation")
        if self.requests_per_connection < 1:
            raise KitError(f"{self.base_url}: requests_per_connection must be >= 1")
        needs_window = self.behaviour in (Behaviour.SLOW, Behaviour.APP_ERRORS, Behaviour.OUTAGE)
        if needs_window and self.window is None:
            raise KitError(f"{self.base_url}: behaviour {self.behaviour} needs a window")
        if self.behaviour == Behaviour.REFUSES_UNDER_LOAD and self.overload_rpm <= 0:
            raise KitError(f"{self.base_url}: behaviour {self.behaviour} needs overload_rpm")

    @property
    def key(self) -> str:
        return destination_key(self.base_url)

    @property
    def host(self) -> str:
        return self.key.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.key.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Region:
    """One region of the APIM instance: its own gateway units, each with its own SNAT ports.

    ``share`` is the part of the traffic of callers not pinned to a region
    that this region receives (shares are normalised over the regions).
    ``units`` is how many units it starts with; ``scale_out`` lists
    ``(minute, units)`` changes during the scenario, in time order: from that
    minute new calls spread over that many units, each with its own ports
    (a caller's long-lived client connections stay on the units they were on).
    """

    name: str
    units: int = 1
    share: float = 1.0
    scale_out: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or self.units < 1 or self.share < 0:
            raise KitError(f"region {self.name!r}: needs a name, units >= 1 and share >= 0")
        minutes = [m for m, _ in self.scale_out]
        if any(m < 1 for m in minutes) or minutes != sorted(set(minutes)) or any(u < 1 for _, u in self.scale_out):
            raise KitError(f"region {self.name!r}: scale_out needs (minute >= 1, units >= 1) in time order")

    @property
    def max_units(self) -> int:
        """The most units the region has at any time: how many pools of ports each destination IP can use."""
        return max([self.units, *(u for _, u in self.scale_out)])


@dataclass(frozen=True)
class Noise:
    """Imperfections of real data.

    ``dropped_minutes`` vanish from the logs entirely (ingestion gaps; the
    traffic still happened and still held ports). ``isolated_failure_rate`` is
    the chance that any call to a ``healthy`` destination fails with a one-off
    connection failure (a pooled connection the backend had closed; other
    behaviours are left clean so each stays a pure example of itself).
    """

    dropped_minutes: tuple[int, ...] = ()
    isolated_failure_rate: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """A whole incident: when, how long, which backends, which APIM instance, how it was logged.

    ``start`` is naive UTC. A one-region instance is described by ``region``
    and ``units``; a multi-region (Premium) instance by ``regions``, which
    then replaces both. Each unit is a gateway instance with ``snat_ports``
    ports per destination IP and port of its own. ``syn_schedule`` is how the
    platform retries a connect whose SYNs go unanswered and when it gives up
    (:attr:`connect_timeout_s`; Windows by default: 21 s);
    ``connect_timeout_spread_s`` makes that budget vary per call, uniformly
    between the timeout less the spread and the timeout (it must leave every
    retransmission in the budget). ``forward_timeout_s`` is the
    ``forward-request`` timeout (default 300 s). ``logging`` is the diagnostic
    setting, ``export_columns`` the columns the user's export kept (empty: the
    whole table), ``export_row_cap`` the most rows it kept (the newest, newest
    first, as the portal shows and exports them; None: all), ``assumptions``
    what a user who knows the estate would tell the kit.
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
    regions: tuple[Region, ...] = ()
    resource_group: str = "rg-apim-prod"
    azure_subscription_id: str = "6f1d2c4b-8a3e-4f57-9b21-0c7e5d9a3f18"
    workspace_id: str = "a4c8e2f1-5b7d-4e93-8f06-2d1b9c7e4a53"
    syn_schedule: SynSchedule = WINDOWS
    connect_timeout_spread_s: float = 0.0
    forward_timeout_s: float = 300.0
    logging: DiagnosticSetting = field(default_factory=DiagnosticSetting)
    export_columns: tuple[str, ...] = ()
    export_row_cap: int | None = None
    assumptions: Assumptions = field(default_factory=Assumptions)

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
        names = [r.name for r in self.gateway_regions]
        if len(set(names)) != len(names) or sum(r.share for r in self.gateway_regions) <= 0:
            raise KitError(f"scenario {self.name}: regions need distinct names and a positive total share")
        pinned = {c.region for c in self.callers} | {
            d.region for dest in self.destinations for b in dest.bursts for d in b.drivers
        }
        unknown = sorted(pinned - {""} - set(names))
        if unknown:
            raise KitError(f"scenario {self.name}: callers pinned to unknown regions {unknown}")
        shortest = 1000.0 * (self.connect_timeout_s - self.connect_timeout_spread_s)
        if self.connect_timeout_spread_s < 0 or shortest <= self.syn_schedule.retry_ms[-1]:
            raise KitError(
                f"scenario {self.name}: connect_timeout_spread_s must be >= 0 and leave the connect budget "
                f"above the last SYN retransmission ({self.syn_schedule.retry_ms[-1] / 1000:g} s)"
            )
        if self.export_row_cap is not None and self.export_row_cap < 1:
            raise KitError(f"scenario {self.name}: export_row_cap must be positive")

    @property
    def connect_timeout_s(self) -> float:
        """When a connect whose SYNs all go unanswered gives up (the longest budget when it varies)."""
        return self.syn_schedule.give_up_ms / 1000.0

    @property
    def gateway_regions(self) -> tuple[Region, ...]:
        """The instance's regions: ``regions``, or the single ``region`` with ``units``."""
        return self.regions or (Region(self.region, self.units),)

    @property
    def multi_region(self) -> bool:
        return len(self.gateway_regions) > 1

    @property
    def capacity(self) -> int:
        """Ports towards one destination IP:port in the first region if its load spread evenly over its units.

        The ports are per unit: one unit can run out while this total is not reached.
        """
        return self.snat_ports * self.gateway_regions[0].units
