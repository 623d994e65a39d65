"""What the logs cannot tell, as ranges: the ports a pool held, over which SNAT explains it, and what confirms it.

Microsoft publishes neither the SNAT ports of an APIM unit nor the connect timer,
and the logs never show connection reuse. The data still bounds the capacity: a
saturated pool holds every port it has, so the ports held while it failed (between
the calls in flight and every successful connect in the hold a new connection) are
an empirical capacity. An assumed capacity far from them is named as a
contradiction rather than silently deciding the answer, and the other limit of the
same shape, APIM's concurrent backend connections per HTTP authority and unit, is
named with whether it fits.
"""

from __future__ import annotations

from analysis.diagnosis.assessment import Capacity, HoldsIf

#: APIM's concurrent backend connections per HTTP authority and unit: 2,048 (1,024 on Developer)
#: (azure-docs ``includes/api-management-service-limits.md``).
CONNECTION_LIMIT = 2048
CONNECTION_LIMIT_DEVELOPER = 1024
#: Held ports under this share of the assumed capacity contradict it; calls in flight over the capacity
#: times this contradict it the other way.
FITS_SHARE = 0.5
OVER_SHARE = 1.25
CONFIRM = (
    "the instance's Diagnose and solve problems > SNAT Port Analysis in the Azure portal (on the tiers that have it)",
    "the backend's own connection logs: new connections a minute from the instance's outbound IPs; connects the "
    "gateway counted as failed that never arrived were dropped on the way out",
    "the units the instance ran during the incident (its Capacity metric or scale-out history) and, for App Service "
    "or Front Door backends, the IPs their names resolve to (--ip-map)",
)


CONFIRM_SELF_HOSTED = (
    "on the node the gateway runs on, a full connection-tracking table (nf_conntrack_count near nf_conntrack_max; "
    "the kernel logs 'nf_conntrack: table full, dropping packet')",
    "on Azure Kubernetes Service, the outbound load balancer's SnatPortExhaustion health events and its SNAT "
    "Connection Count metric with state Failed (or the NAT gateway's SNAT metrics)",
    "the backend's own connection logs: new connections a minute from the cluster's outbound IPs",
)


def contradiction(capacity: Capacity, held_low: float, held_high: float) -> str | None:
    """The assumed capacity against the ports held while the pool failed, when the two do not fit.

    >>> contradiction(Capacity(4096, 1), 20.0, 1100.0)[:60]
    'the assumed 4,096 ports contradict the data: while it failed'
    >>> contradiction(Capacity(1024, 1), 20.0, 1100.0) is None
    True
    """
    if held_high < FITS_SHARE * capacity.low:
        return (
            f"the assumed {capacity.low:,} ports contradict the data: while it failed the pool held at most "
            f"{held_high:,.0f}, so it had fewer ports than assumed (check snat_ports and units), hosts missing from "
            f"the pool shared its IP and held the rest (an App Service or Front Door IP: --ip-map), or another limit "
            f"failed the connects"
        )
    if held_low > OVER_SHARE * capacity.high:
        return (
            f"the assumed {capacity.high:,} ports contradict the data: {held_low:,.0f} calls were in flight at once, "
            f"each on a port of its own, so the pool had more ports than assumed"
        )
    return None


def look_alike(held_low: float, units: int) -> str:
    """The concurrent-connection limit, which fails calls that follow load on one backend too: fitting or not.

    >>> look_alike(30.0, 1)[:40]
    'not the concurrent-connection limit: at '
    """
    lowest = CONNECTION_LIMIT_DEVELOPER * units
    if held_low >= FITS_SHARE * lowest:
        return (
            f"APIM's limit of {CONNECTION_LIMIT:,} concurrent backend connections per HTTP authority and unit "
            f"({CONNECTION_LIMIT_DEVELOPER:,} on Developer) fits too: {held_low:,.0f} calls were in flight at once"
        )
    return (
        f"not the concurrent-connection limit: at most {held_low:,.0f} calls were in flight at once, far under the "
        f"{CONNECTION_LIMIT_DEVELOPER:,} to {CONNECTION_LIMIT:,} per HTTP authority and unit it allows"
    )


def holds_if(
    capacity: Capacity,
    held_low: float,
    held_high: float,
    requests_per_connection: float,
    connect_timer_s: float | None,
    *,
    self_hosted: bool = False,
) -> HoldsIf:
    """The range over which SNAT explains a pool's failures, from the ports it held while it failed.

    For a self-hosted gateway the capacity is its NAT's, not the assumed ports: nothing contradicts it, and
    what confirms it is on the node or the cluster."""
    return HoldsIf(
        ports_at_least=round(held_low, 1),
        ports_at_most=round(held_high, 1),
        units=capacity.units,
        concentrated=capacity.concentrated,
        requests_per_connection=requests_per_connection,
        assumed_ports=capacity.low,
        connect_timer_s=connect_timer_s,
        contradiction=None if self_hosted else contradiction(capacity, held_low, held_high),
        look_alike=look_alike(held_low, capacity.units),
        confirm=CONFIRM_SELF_HOSTED if self_hosted else CONFIRM,
    )
