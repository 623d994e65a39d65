"""SNAT pools: which destinations share ports.

Ports belong to one region's gateway units and are spent per destination IP and
port, so a pool is (region, IP, port). The logs name host names, not IPs: an
``--ip-map`` (CSV ``host,ip``; a host may have several rows) says which hosts
share an IP, and a host resolving to several IPs spreads its calls over them.
Without a map every host is taken as one IP of its own; hosts whose connection
failures began within a couple of minutes of each other may still share one
(App Service apps of one scale unit, Front Door hosts) and are tested as one
*inferred* pool. A host the map does not list is its own pool, and says so.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from analysis.diagnosis.health import BUSY_COLUMNS
from analysis.diagnosis.onset import Episode
from analysis.errors import KitError, excerpt

Key = tuple[str, str]
#: An IP as a ``--redact`` report names it (``analysis.sources.sharing``): its copy of the map says so too.
REDACTED_IP = re.compile(r"ip-[0-9a-f]{10}")
#: Hosts whose connection-failure episodes begin at most this far apart are tested as one pool.
INFER_ONSET_MINUTES = 2
#: What a pool's minute adds up from its members (each weighted by the share of its calls the pool carries).
POOLED_COLUMNS = ("requests", "successes", "failures", *BUSY_COLUMNS)


class PoolKind(StrEnum):
    """Where a pool comes from; the values are the findings.json strings."""

    IP = "ip"
    """From the ``--ip-map``: the hosts resolving to one IP."""
    HOST = "host"
    """No map given: the host taken as one IP of its own."""
    UNMAPPED = "unmapped"
    """A map was given but does not list the host: its own pool."""
    INFERRED = "inferred"
    """Hosts whose failures began together, tested as one pool: confirm by resolving their names."""


@dataclass(frozen=True)
class Member:
    destination: str
    weight: float = 1.0
    """Share of the destination's calls that go through this pool (1 / the IPs its host resolves to)."""


@dataclass(frozen=True)
class Pool:
    """One pool of SNAT ports: a region's ports towards one destination IP and port."""

    region: str
    port: int
    kind: PoolKind
    members: tuple[Member, ...]
    ip: str | None = None

    @property
    def id(self) -> str:
        """``region/address:port``, where the address is the IP, the host, or the hosts joined by ``+``."""
        if self.ip is not None:
            address = self.ip
        else:
            address = "+".join(host(m.destination) for m in self.members)
        return f"{self.region}/{address}:{self.port}" if self.region else f"{address}:{self.port}"

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(m.destination for m in self.members)

    def keys(self) -> list[Key]:
        return [(self.region, m.destination) for m in self.members]


def host(destination: str) -> str:
    """``"api.contoso.com:443"`` -> ``"api.contoso.com"``."""
    return destination.rsplit(":", 1)[0]


def port(destination: str) -> int:
    """``"api.contoso.com:443"`` -> ``443``."""
    return int(destination.rsplit(":", 1)[1])


@dataclass(frozen=True)
class IpMap:
    """Host -> the IPs it resolves to, as the user gave them."""

    hosts: dict[str, tuple[str, ...]]

    def ips(self, name: str) -> tuple[str, ...]:
        """The IPs of ``name`` (a host), or none when the map does not list it."""
        return self.hosts.get(name.lower(), ())


def parse_ip_map(text: str, name: str = "ip map") -> IpMap:
    """The ``host,ip`` CSV text as a map; a missing column, an empty host or an invalid IP is a ``KitError``.

    >>> parse_ip_map("host,ip\\nA.azurewebsites.net,20.50.1.7\\nb.azurewebsites.net,20.50.1.7\\n").hosts
    {'a.azurewebsites.net': ('20.50.1.7',), 'b.azurewebsites.net': ('20.50.1.7',)}
    """
    try:
        return _ip_map(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))), name)
    except csv.Error as err:
        raise KitError(f"{name}: not a CSV file ({excerpt(str(err), 80)})") from None


def _ip_map(reader: csv.DictReader, name: str) -> IpMap:
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in ("host", "ip") if c not in columns]
    if missing:
        raise KitError(f"{name}: missing column {' and '.join(missing)} (the header must be 'host,ip')")
    found: dict[str, list[str]] = {}
    for line, row in enumerate(reader, start=2):
        values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        host_name, ip = values["host"].lower().rstrip("."), values["ip"]
        if not host_name and not ip:
            continue
        if not host_name or ":" in host_name or "/" in host_name:
            shown = excerpt(values["host"])
            raise KitError(f"{name}, line {line}: {shown} is not a host name (no scheme, port or path)")
        try:
            address = ip if REDACTED_IP.fullmatch(ip) else str(ipaddress.ip_address(ip))
        except ValueError:
            raise KitError(f"{name}, line {line}: {excerpt(ip)} is not an IP address") from None
        ips = found.setdefault(host_name, [])
        if address not in ips:
            ips.append(address)
    if not found:
        raise KitError(f"{name}: no host listed")
    return IpMap({h: tuple(ips) for h, ips in found.items()})


def build_pools(keys: Iterable[Key], ip_map: IpMap | None) -> list[Pool]:
    """The pools of the destinations seen: by IP when a map is given, else one per host."""
    shared: dict[tuple[str, str, int], list[Member]] = {}
    pools = []
    for region, destination in keys:
        ips = ip_map.ips(host(destination)) if ip_map is not None else ()
        if not ips:
            kind = PoolKind.HOST if ip_map is None else PoolKind.UNMAPPED
            pools.append(Pool(region, port(destination), kind, (Member(destination),)))
            continue
        for ip in ips:
            shared.setdefault((region, ip, port(destination)), []).append(Member(destination, 1.0 / len(ips)))
    for (region, ip, number), members in shared.items():
        pools.append(Pool(region, number, PoolKind.IP, tuple(sorted(members, key=lambda m: m.destination)), ip))
    return sorted(pools, key=lambda p: p.id)


def infer(candidates: dict[Key, Episode]) -> list[Pool]:
    """Hosts of one region and port whose worst connection-failure episodes began within
    ``INFER_ONSET_MINUTES`` of the first of them: candidate pools of two or more hosts."""
    by_port: dict[tuple[str, int], list[tuple[pd.Timestamp, str]]] = {}
    for (region, destination), episode in candidates.items():
        by_port.setdefault((region, port(destination)), []).append((episode.onset, destination))
    found = []
    limit = pd.Timedelta(minutes=INFER_ONSET_MINUTES)
    for (region, number), onsets in sorted(by_port.items()):
        group: list[tuple[pd.Timestamp, str]] = []
        for onset, destination in sorted(onsets):
            if group and onset - group[0][0] > limit:
                found.extend(_inferred(region, number, group))
                group = []
            group.append((onset, destination))
        found.extend(_inferred(region, number, group))
    return found


def _inferred(region: str, number: int, group: list[tuple[pd.Timestamp, str]]) -> list[Pool]:
    if len(group) < 2:
        return []
    members = tuple(Member(destination) for _, destination in sorted(group, key=lambda item: item[1]))
    return [Pool(region, number, PoolKind.INFERRED, members)]


def pool_minutes(members: pd.DataFrame, pool: Pool) -> pd.DataFrame:
    """The pool's minutes: its members' requests, failures and busy time, each weighted, summed per minute.

    ``members`` holds every minute of each member (``health.dense``) with its ``failures``.
    The backend p95 of a pool minute is its worst member's.
    """
    weights = {m.destination: m.weight for m in pool.members}
    own = members[(members["region"] == pool.region) & members["destination"].isin(list(weights))]
    weighted = own[list(POOLED_COLUMNS)].mul(own["destination"].map(weights), axis=0)
    weighted["minute"] = own["minute"]
    frame = weighted.groupby("minute", sort=True)[list(POOLED_COLUMNS)].sum()
    frame["backend_p95_ms"] = own.groupby("minute")["backend_p95_ms"].max()
    frame["gap"] = own.groupby("minute")["gap"].any()
    frame = frame.reset_index()
    frame.insert(0, "pool", pool.id)
    return frame
