"""A self-hosted gateway: its backend connections leave through the NAT of the machine or cluster it runs on.

Azure's SNAT ports per APIM unit belong to the managed gateway. A self-hosted gateway runs in a
container on the customer's own node, so its outbound connections are translated by that node's
kernel (netfilter connection tracking) and, on Azure Kubernetes Service, by the cluster's outbound
load balancer or NAT gateway; the same shape of failure (connects that time out under load, on one
destination) means that NAT ran out, and shows in places the gateway's logs never reach. This
module only words it: the diagnosis reads the flag from the findings (``gateway.self_hosted``).
"""

from __future__ import annotations

from typing import Any

#: Why the Azure SNAT figures do not apply, and where that NAT's exhaustion shows instead.
STATEMENT = (
    "The rows come from a self-hosted gateway: its backend connections leave through the NAT of the node or "
    "cluster it runs on, not through the SNAT ports of an APIM unit, so the kit's port capacity (snat_ports x "
    "units) is not that NAT's. Connects that time out under load on one destination still mean a NAT ran out of "
    "room; look for it where it shows: on the node, a full connection-tracking table (the kernel logs "
    "'nf_conntrack: table full, dropping packet'; /proc/sys/net/netfilter/nf_conntrack_count near "
    "nf_conntrack_max; conntrack -S counts insert_failed and drop), and on Azure Kubernetes Service the cluster's "
    "outbound load balancer: SnatPortExhaustion health events (ALBHealthEvent, HealthEventType "
    '"SnatPortExhaustion") and its SNAT Connection Count metric with state Failed, against Allocated and Used '
    "SNAT Ports (or the NAT gateway's own SNAT metrics)."
)


def gateway(self_hosted: bool) -> dict[str, Any]:
    """The findings' ``gateway`` entry: whether the rows came from a self-hosted gateway, and what that means.

    >>> gateway(False)
    {'self_hosted': False, 'statement': ''}
    >>> gateway(True)["statement"].startswith("The rows come from a self-hosted gateway")
    True
    """
    return {"self_hosted": self_hosted, "statement": STATEMENT if self_hosted else ""}
