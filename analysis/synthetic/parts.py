"""Building blocks of the scenario library: APIs, backends, callers and the SNAT burst shape."""

from __future__ import annotations

from dataclasses import replace

from analysis.synthetic.scenarios import BATCH_CALLER, Behaviour, Burst, Caller, Destination, Operation, Window

#: A second job on the same partner network, so a burst has two driving keys.
REPLAY_CALLER = Caller("orders-replay-job", "52.174.18.204", "partner-integration")

ORDERS_OPS = (
    Operation("orders-api", "orders/v1", "get-order", "GET", "/orders/{id}", 5.0),
    Operation("orders-api", "orders/v1", "list-orders", "GET", "/orders", 2.0, "?customerId={id}&page={n}"),
    Operation("orders-api", "orders/v1", "create-order", "POST", "/orders", 2.0),
    Operation("orders-api", "orders/v1", "update-order-status", "PUT", "/orders/{id}/status", 1.0),
)
INVENTORY_OPS = (
    Operation("inventory-api", "inventory", "get-item", "GET", "/api/items/{id}", 6.0),
    Operation("inventory-api", "inventory", "list-items", "GET", "/api/items", 2.0, "?page={n}&pageSize=50"),
    Operation("inventory-api", "inventory", "reserve-item", "POST", "/api/reservations", 1.0),
)
ERP_OPS = (
    Operation("erp-api", "erp", "get-customer", "GET", "/customers/{id}", 3.0),
    Operation("erp-api", "erp", "create-invoice", "POST", "/invoices", 1.0),
)
PAYMENTS_OPS = (
    Operation("payments-api", "payments/v2", "create-charge", "POST", "/charges", 4.0),
    Operation("payments-api", "payments/v2", "get-charge", "GET", "/charges/{id}", 3.0),
    Operation("payments-api", "payments/v2", "create-refund", "POST", "/refunds", 1.0),
)
SEARCH_OPS = (
    Operation("search-api", "search", "search-products", "GET", "/query", 5.0, "?q=sku{id}&page={n}"),
    Operation("search-api", "search", "suggest", "GET", "/suggest", 2.0, "?prefix=sku{id}"),
)
SHIPPING_OPS = (
    Operation("shipping-api", "shipping/v1", "get-rates", "GET", "/rates/{id}", 3.0),
    Operation("shipping-api", "shipping/v1", "create-shipment", "POST", "/shipments", 1.0),
)

ORDERS = Destination(
    "https://orders.contoso-backend.com",
    ORDERS_OPS,
    100.0,
    requests_per_connection=20.0,
    latency_ms=85.0,
    backend_id="orders-backend",
)
INVENTORY = Destination(
    "https://inventory.azurewebsites.net",
    INVENTORY_OPS,
    90.0,
    requests_per_connection=40.0,
    latency_ms=45.0,
    cache_hit_share=0.3,
)
LEGACY_ERP = Destination(
    "https://legacy-erp.fabrikam.net:8443/erp/api",
    ERP_OPS,
    40.0,
    requests_per_connection=25.0,
    latency_ms=180.0,
    backend_id="erp",
)
PAYMENTS = Destination(
    "https://payments.contoso.com", PAYMENTS_OPS, 60.0, requests_per_connection=30.0, latency_ms=120.0
)
SEARCH = Destination(
    "https://search.cloudapp.azure.com", SEARCH_OPS, 30.0, requests_per_connection=30.0, latency_ms=70.0
)
SHIPPING = Destination(
    "https://shipping.fabrikam.net", SHIPPING_OPS, 45.0, requests_per_connection=35.0, latency_ms=95.0
)


#: The batch jobs that drive the library's SNAT bursts.
BURST_DRIVERS = (BATCH_CALLER, REPLAY_CALLER)


def snat(
    destination: Destination,
    start: int,
    end: int,
    multiplier: float,
    reuse: float = 1.5,
    ramp: int = 3,
    drivers: tuple[Caller, ...] = BURST_DRIVERS,
) -> Destination:
    """``destination`` with poor connection reuse and a burst driven by batch jobs."""
    burst = Burst(start, end, multiplier, ramp_minutes=ramp, drivers=drivers, driver_share=0.88)
    return replace(destination, behaviour=Behaviour.SNAT, requests_per_connection=reuse, bursts=(burst,))


def slow_keep_alive(
    url: str, ops: tuple[Operation, ...], rpm: float, reuse: float, window: Window, slow_ms: float
) -> Destination:
    """A busy backend reached through a keep-alive pool that slows down at a constant request rate."""
    return Destination(
        url,
        ops,
        rpm,
        requests_per_connection=reuse,
        latency_ms=80.0,
        latency_sigma=0.45,
        behaviour=Behaviour.SLOW,
        window=window,
        slow_latency_ms=slow_ms,
    )


def refusing(url: str, ops: tuple[Operation, ...], rpm: float, multiplier: float, knee: float) -> Destination:
    """A keep-alive backend whose own limit refuses or resets connections above ``knee`` requests per minute."""
    return Destination(
        url,
        ops,
        rpm,
        bursts=(Burst(20, 40, multiplier, ramp_minutes=3),),
        requests_per_connection=100.0,
        latency_ms=40.0,
        behaviour=Behaviour.REFUSES_UNDER_LOAD,
        overload_rpm=knee,
    )
