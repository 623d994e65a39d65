"""Named scenarios: the embedded sample incident and one scenario per look-alike.

Each scenario isolates one thing a diagnosis must get right (SNAT versus an
outage, a slow backend, application errors, gaps and noise), and each stays
under 60k rows so tests that generate them stay fast.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from analysis.errors import KitError
from analysis.synthetic.scenarios import (
    BATCH_CALLER,
    Behaviour,
    Burst,
    Caller,
    Destination,
    Noise,
    Operation,
    Scenario,
    Window,
)

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


def snat(
    destination: Destination, start: int, end: int, multiplier: float, reuse: float = 1.5, ramp: int = 3
) -> Destination:
    """``destination`` with poor connection reuse and a burst driven by batch jobs."""
    burst = Burst(start, end, multiplier, ramp_minutes=ramp, drivers=(BATCH_CALLER, REPLAY_CALLER), driver_share=0.88)
    return replace(destination, behaviour=Behaviour.SNAT, requests_per_connection=reuse, bursts=(burst,))


def _build() -> dict[str, Scenario]:
    sample = Scenario(
        name="sample",
        start=datetime(2025, 2, 25, 8, 30),
        duration_minutes=120,
        destinations=(
            snat(replace(ORDERS, baseline_rpm=80.0), 50, 70, 7.0, reuse=1.0, ramp=5),
            replace(LEGACY_ERP, behaviour=Behaviour.SLOW, window=Window(20, 45), slow_latency_ms=7000.0),
            replace(PAYMENTS, behaviour=Behaviour.APP_ERRORS, window=Window(85, 100), error_share=0.35),
            replace(SEARCH, baseline_rpm=25.0, behaviour=Behaviour.OUTAGE, window=Window(30, 35)),
            replace(INVENTORY, baseline_rpm=120.0),
            SHIPPING,
        ),
        seed=20250225,
        noise=Noise(isolated_failure_rate=0.0004),
    )
    hour = 60
    scenarios = [
        sample,
        Scenario("snat_only", datetime(2025, 3, 4, 14, 0), hour, (snat(ORDERS, 20, 40, 5.0), INVENTORY), seed=11),
        Scenario(
            "unreachable_only",
            datetime(2025, 3, 5, 2, 0),
            hour,
            (replace(SEARCH, baseline_rpm=40.0, behaviour=Behaviour.OUTAGE, window=Window(20, 30)), INVENTORY),
            seed=12,
        ),
        Scenario(
            "backend_errors_only",
            datetime(2025, 3, 6, 10, 0),
            hour,
            (replace(PAYMENTS, behaviour=Behaviour.APP_ERRORS, window=Window(20, 35)), INVENTORY),
            seed=13,
        ),
        Scenario(
            "slow_only",
            datetime(2025, 3, 7, 16, 0),
            hour,
            (replace(LEGACY_ERP, behaviour=Behaviour.SLOW, window=Window(15, 35)), INVENTORY),
            seed=14,
        ),
        Scenario(
            "snat_beside_slow",
            datetime(2025, 3, 10, 9, 0),
            75,
            (
                snat(ORDERS, 25, 45, 5.0),
                replace(LEGACY_ERP, behaviour=Behaviour.SLOW, window=Window(25, 50), slow_latency_ms=5000.0),
                INVENTORY,
            ),
            seed=15,
        ),
        Scenario(
            "two_exhausted",
            datetime(2025, 3, 11, 11, 0),
            hour,
            (snat(ORDERS, 20, 40, 5.0), snat(replace(PAYMENTS, baseline_rpm=70.0), 25, 45, 5.0, reuse=1.0), INVENTORY),
            seed=16,
        ),
        Scenario(
            "no_reuse_modest_volume",
            datetime(2025, 3, 12, 13, 0),
            hour,
            (
                replace(
                    PAYMENTS,
                    baseline_rpm=200.0,
                    behaviour=Behaviour.SNAT,
                    requests_per_connection=1.0,
                    bursts=(Burst(20, 45, 1.6, ramp_minutes=3),),
                ),
                INVENTORY,
            ),
            seed=17,
        ),
        Scenario(
            "no_incident",
            datetime(2025, 3, 13, 8, 0),
            hour,
            (replace(ORDERS, bursts=(Burst(20, 40, 5.0),)), INVENTORY, SHIPPING),
            seed=18,
        ),
        Scenario(
            "outage_during_burst",
            datetime(2025, 3, 14, 18, 0),
            hour,
            (
                replace(
                    SEARCH,
                    baseline_rpm=60.0,
                    bursts=(Burst(20, 45, 4.0),),
                    behaviour=Behaviour.OUTAGE,
                    window=Window(28, 34),
                ),
                INVENTORY,
            ),
            seed=19,
        ),
        Scenario(
            "noisy_with_gaps",
            datetime(2025, 3, 17, 7, 0),
            75,
            (snat(ORDERS, 30, 50, 5.0), INVENTORY, PAYMENTS),
            seed=20,
            noise=Noise(dropped_minutes=(10, 11, 38, 62), isolated_failure_rate=0.002),
        ),
    ]
    return {s.name: s for s in scenarios}


SCENARIOS: dict[str, Scenario] = _build()


def scenario(name: str) -> Scenario:
    """The library scenario called ``name``.

    >>> scenario("sample").duration_minutes
    120
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KitError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
