"""Where calls go on the wire: destination IPs, SNAT pools, gateway units.

SNAT ports belong to one gateway instance (unit) of one region and are spent
per destination IP and port, so the pool a call draws from is
``(region, ip, port)`` on the unit that carries it. A host resolves to one or
more IPs; several hosts may share an IP (App Service apps of one scale unit,
Front Door hosts). Traffic reaches a unit by a hash of the client connection.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import NamedTuple

import pandas as pd

from analysis.errors import KitError
from analysis.synthetic.scenarios import Caller, Destination, Scenario

#: Made-up backend addresses are drawn from this public block (Azure's 20.0.0.0/8), never a
#: private, shared or documentation range, so they pass any "is this public" check.
MADE_UP_BLOCK = ipaddress.ip_network("20.0.0.0/8")


class PoolKey(NamedTuple):
    """A pool of SNAT ports: one per region, destination IP and port (each unit has its own)."""

    region: str
    ip: str
    port: int


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def made_up_ip(host: str) -> str:
    """A deterministic public IP for ``host`` (same host, same IP, on every machine).

    >>> made_up_ip("orders.contoso-backend.com")
    '20.128.238.1'
    >>> ipaddress.ip_address(made_up_ip("x.example.net")).is_global
    True
    """
    offset = _digest(host) % (MADE_UP_BLOCK.num_addresses - 2) + 1
    address = MADE_UP_BLOCK[offset]
    while not address.is_global or str(address).endswith((".0", ".255")):
        address += 1
    return str(address)


def destination_ips(destination: Destination) -> tuple[str, ...]:
    """The IPs a destination's host resolves to: its ``ips``, or one made-up IP of its own."""
    return destination.ips or (made_up_ip(destination.host),)


def ip_map(scenario: Scenario) -> pd.DataFrame:
    """The ``host,ip`` map a user resolving the scenario's backend hosts would write (one row per host and IP)."""
    rows = [(d.host, ip) for d in scenario.destinations for ip in destination_ips(d)]
    return pd.DataFrame(sorted(set(rows)), columns=["host", "ip"])


def pools_of(scenario: Scenario) -> dict[PoolKey, tuple[str, ...]]:
    """Every SNAT pool of the scenario and the ``host:port`` destinations that draw from it, sorted.

    >>> from datetime import datetime
    >>> from analysis.synthetic.scenarios import Operation
    >>> op = (Operation("a", "a", "get", "GET", "/x"),)
    >>> a = Destination("https://a.azurewebsites.net", op, 1.0, ips=("20.40.1.1",))
    >>> b = Destination("https://b.azurewebsites.net", op, 1.0, ips=("20.40.1.1",))
    >>> pools_of(Scenario("x", datetime(2025, 1, 1), 1, (a, b)))
    {PoolKey(region='West Europe', ip='20.40.1.1', port=443): ('a.azurewebsites.net:443', 'b.azurewebsites.net:443')}
    """
    members: dict[PoolKey, list[str]] = {}
    for region in scenario.gateway_regions:
        for destination in scenario.destinations:
            for ip in destination_ips(destination):
                members.setdefault(PoolKey(region.name, ip, destination.port), []).append(destination.key)
    keys = sorted(members, key=lambda k: (k.region, ipaddress.ip_address(k.ip), k.port))
    return {k: tuple(sorted(members[k])) for k in keys}


def check_addresses(scenario: Scenario) -> None:
    """Refuse a scenario where two hosts got the same made-up IP by chance (they would share ports unintended)."""
    owners: dict[str, str] = {}
    for destination in scenario.destinations:
        if destination.ips:
            continue
        ip = destination_ips(destination)[0]
        if ip in owners:
            raise KitError(
                f"scenario {scenario.name}: {owners[ip]} and {destination.host} got the same made-up IP {ip}"
            )
        owners[ip] = destination.host


def connection_unit(caller: Caller, region: str, connection: int, units: int) -> int:
    """The unit that carries one client connection of ``caller`` in ``region`` (a hash, as a load balancer does).

    >>> connection_unit(Caller("job", "52.1.2.3", "p"), "West Europe", 0, 1)
    0
    """
    return _digest(f"{caller.subscription}|{caller.ip}|{region}|{connection}") % units
