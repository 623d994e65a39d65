"""Incidents shaped like real APIM estates, further look-alikes, and a holdout set.

The comment above each scenario says what physically happens; the truth is computed from that
physics by the generator. The figures quoted are the model's attempted demand: ports needed = open
connections + connections closed in the last 4 minutes (failed connects included), against 1,024 ports
per unit and destination IP:port; the ports really held stop at 1,024.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from analysis.synthetic.diagnostics import Assumptions, DiagnosticSetting, Verbosity
from analysis.synthetic.parts import (
    BURST_DRIVERS,
    INVENTORY,
    ORDERS,
    ORDERS_OPS,
    PAYMENTS,
    SEARCH,
    SHIPPING,
    refusing,
    slow_keep_alive,
    snat,
)
from analysis.synthetic.scenarios import (
    BATCH_CALLER,
    DEFAULT_CALLERS,
    Behaviour,
    Burst,
    Caller,
    Destination,
    Operation,
    OutageKind,
    Region,
    Scenario,
    SideCall,
    Window,
)

#: One inbound IP of an App Service scale unit, shared by every app on it (made up).
APP_SERVICE_IP = "20.50.201.17"
#: One anycast IP that several Front Door hosts resolve to (made up).
FRONT_DOOR_IP = "20.119.64.130"

CUSTOMERS_OPS = (
    Operation("customers-api", "customers/v1", "get-customer", "GET", "/customers/{id}", 4.0),
    Operation("customers-api", "customers/v1", "update-customer", "PUT", "/customers/{id}", 1.0),
)
CATALOG_OPS = (
    Operation("catalog-api", "catalog/v1", "get-product", "GET", "/products/{id}", 5.0),
    Operation("catalog-api", "catalog/v1", "list-products", "GET", "/products", 2.0, "?page={n}"),
)
PRICING_OPS = (
    Operation("pricing-api", "pricing/v2", "get-price", "GET", "/prices/{id}", 6.0),
    Operation("pricing-api", "pricing/v2", "quote", "POST", "/quotes", 1.0),
)
REPORTS_OPS = (Operation("reports-api", "reports", "export-report", "POST", "/exports", 1.0),)
QUOTES_OPS = (
    Operation("quotes-api", "quotes/v1", "get-quote", "GET", "/quotes/{id}", 3.0),
    Operation("quotes-api", "quotes/v1", "create-quote", "POST", "/quotes", 1.0),
)
EDGE_OPS = (
    Operation("shop-api", "shop", "get-basket", "GET", "/baskets/{id}", 3.0),
    Operation("shop-api", "shop", "add-item", "POST", "/baskets/{id}/items", 1.0),
)
MEDIA_OPS = (Operation("media-api", "media", "get-image", "GET", "/images/{id}", 1.0),)

#: The job that calls the App Service apps of one estate in a nightly sync.
SYNC_JOB = Caller("erp-nightly-sync", "52.169.40.12", "partner-integration")
#: A batch client that, like its users, reaches the gateway's East US region only.
EAST_US_JOB = Caller("us-east-reconciler", "40.121.88.19", "partner-integration", region="East US")
NORTH_EUROPE_JOB = Caller("nordic-bulk-import", "52.164.200.77", "partner-integration", region="North Europe")


def _app_service(name: str, ops: tuple[Operation, ...]) -> Destination:
    """An App Service app on the shared inbound IP, called without connection reuse, with a 2.8x sync burst."""
    burst = Burst(20, 40, 2.8, ramp_minutes=3, drivers=(SYNC_JOB,), driver_share=0.9)
    return Destination(
        f"https://{name}.azurewebsites.net",
        ops,
        35.0,
        bursts=(burst,),
        requests_per_connection=1.0,
        latency_ms=70.0,
        behaviour=Behaviour.SNAT,
        ips=(APP_SERVICE_IP,),
    )


def _day(sample: Scenario) -> Scenario:
    """The sample's orders incident twelve times in a day: a 15-minute unpooled burst every two hours.

    Between bursts the baseline is sparse (20 rpm) so the day stays near 130k rows.
    """
    bursts = tuple(
        Burst(60 + 120 * k, 75 + 120 * k, 24.0, ramp_minutes=3, drivers=BURST_DRIVERS, driver_share=0.88)
        for k in range(12)
    )
    orders = replace(ORDERS, baseline_rpm=20.0, behaviour=Behaviour.SNAT, requests_per_connection=1.0, bursts=bursts)
    return replace(
        sample,
        name="sample_day",
        start=datetime(2025, 2, 25),
        duration_minutes=24 * 60,
        destinations=(orders, replace(INVENTORY, baseline_rpm=10.0)),
        seed=20250226,
    )


def estate_scenarios(sample: Scenario, snat_only: Scenario) -> list[Scenario]:
    """One scenario per incident shape of real estates, then further look-alikes.

    ``sample`` and ``snat_only`` are the library scenarios several of them vary.
    """
    hour = 60
    return [
        # Three apps on one App Service inbound IP: each needs about 400 ports at its peak (~100
        # unpooled requests a minute held 4 minutes), under half the 1,024; together ~1,250: their
        # one pool runs out.
        Scenario(
            "app_service_shared_ip",
            datetime(2025, 4, 1, 1, 0),
            hour,
            (
                _app_service("orders-api", ORDERS_OPS),
                _app_service("customers-api", CUSTOMERS_OPS),
                _app_service("catalog-api", CATALOG_OPS),
                SHIPPING,
            ),
            seed=101,
            assumptions=Assumptions(ip_map=True),
        ),
        # Premium in two regions sharing the traffic half and half; a bulk import reaches North
        # Europe only: ~520 requests a minute at 1.5 per connection there need ~1,390 ports, West
        # Europe ~80 requests a minute need ~210. Each region's unit has its own ports.
        Scenario(
            "two_regions_one_exhausted",
            datetime(2025, 4, 2, 9, 0),
            hour,
            (snat(ORDERS, 20, 40, 6.0, drivers=(NORTH_EUROPE_JOB,)), INVENTORY),
            seed=102,
            regions=(Region("West Europe", 1, 0.5), Region("North Europe", 1, 0.5)),
        ),
        # A steady 2,700 requests a minute through a keep-alive pool (15 requests per connection:
        # 180 closed a minute, 720 ports held); the backend slows from 80 ms to 9 s, so ~450 calls
        # are in flight and the pool's ~490 open connections push the ports past 1,024. When it
        # recovers, the idle connections close and hold their ports 4 more minutes. ~65k rows.
        Scenario(
            "slow_backend_keepalive",
            datetime(2025, 4, 3, 15, 0),
            24,
            (slow_keep_alive("https://pricing.contoso.com", PRICING_OPS, 2700.0, 15.0, Window(5, 13), 9000.0),),
            seed=103,
        ),
        # The snat_only incident behind a 10 s forward-request timeout: calls whose SYNs find no
        # port are cut at 10 s and logged as Timeout with no backend response, not at 21 s.
        replace(snat_only, name="forward_timeout_10s", forward_timeout_s=10.0, seed=104),
        # The snat_only incident logged at verbosity "error": only failed requests are rows, so no
        # ratio or demand can be measured: the logs cannot tell.
        replace(snat_only, name="error_only_logging", seed=105, logging=DiagnosticSetting(verbosity=Verbosity.ERROR)),
        # The snat_only incident with 20 % sampling and "Always log errors": every failure is a row,
        # one success in five is; a user who states the sampling gets the demand back.
        replace(
            snat_only,
            name="sampled_20_percent",
            seed=106,
            logging=DiagnosticSetting(sampling_percent=20.0),
            assumptions=Assumptions(log_sampling_percent=20.0),
        ),
        # The sample exported with only TimeGenerated, BackendUrl and ResponseCode: a 500 cannot be
        # told from a failed connection, nor a fast failure from a slow one: the logs cannot tell.
        replace(sample, name="three_columns_export", export_columns=("TimeGenerated", "BackendUrl", "ResponseCode")),
        # A busy keep-alive backend (100 requests per connection, ~70 ports) that refuses or resets
        # connections above 700 requests a minute: fast failures that follow the load, not SNAT.
        Scenario(
            "refuses_under_load",
            datetime(2025, 4, 4, 12, 0),
            hour,
            (refusing("https://catalog.fabrikam.net", CATALOG_OPS, 300.0, 4.0, 700.0), INVENTORY),
            seed=107,
        ),
        # The sample on 3 units: the burst comes from two jobs holding two long-lived client
        # connections each, three of the four hashed to one unit, which needs ~1,450 ports while
        # the region's three units together see ~2,240 (< 3 x 1,024).
        replace(
            sample,
            name="sample_three_units",
            units=3,
            assumptions=Assumptions(units=3),
            destinations=(
                snat(
                    replace(ORDERS, baseline_rpm=80.0),
                    50,
                    70,
                    7.0,
                    reuse=1.0,
                    ramp=5,
                    drivers=tuple(replace(d, connections=2) for d in BURST_DRIVERS),
                ),
                *sample.destinations[1:],
            ),
        ),
        _day(sample),
        # Look-alike: one backend blackholed (SYNs unanswered: failures at the connect timeout, at
        # ordinary load, ~100 % of calls) and one whose name stops resolving (failures in ms).
        Scenario(
            "unreachable_kinds",
            datetime(2025, 4, 7, 3, 0),
            hour,
            (
                replace(
                    SEARCH,
                    baseline_rpm=40.0,
                    behaviour=Behaviour.OUTAGE,
                    window=Window(20, 30),
                    outage_kind=OutageKind.BLACKHOLE,
                ),
                replace(SHIPPING, behaviour=Behaviour.OUTAGE, window=Window(35, 45), outage_kind=OutageKind.DNS),
                INVENTORY,
            ),
            seed=108,
        ),
        # Look-alike: the payments API's token side call (send-request) fails for 15 minutes; the
        # requests fail before being forwarded, so the payments backend itself is healthy.
        Scenario(
            "side_call_failures",
            datetime(2025, 4, 8, 10, 0),
            hour,
            (
                replace(PAYMENTS, side_call=SideCall("https://login.fabrikam-idp.com/oauth2/token", Window(20, 35))),
                INVENTORY,
            ),
            seed=109,
        ),
        # Look-alike: a report export backend slows to ~150 s; the calls still waiting at 240 s are
        # cut by the platform's idle timeout (BackendConnectionFailure at ~240 s): a slow backend.
        Scenario(
            "idle_cut",
            datetime(2025, 4, 9, 13, 0),
            hour,
            (
                Destination(
                    "https://reports.contoso.com",
                    REPORTS_OPS,
                    6.0,
                    latency_ms=2000.0,
                    behaviour=Behaviour.SLOW,
                    window=Window(15, 45),
                    slow_latency_ms=150_000.0,
                ),
                INVENTORY,
            ),
            seed=110,
        ),
    ]


def holdout_scenarios() -> list[Scenario]:
    """The same physics with other seeds, hosts, magnitudes and timings."""
    shop = Destination(
        "https://shop-api.contoso-edge.azurefd.net",
        EDGE_OPS,
        60.0,
        requests_per_connection=2.0,
        latency_ms=60.0,
        ips=(FRONT_DOOR_IP,),
    )
    media = Destination(
        "https://media.contoso-edge.azurefd.net",
        MEDIA_OPS,
        60.0,
        requests_per_connection=2.0,
        latency_ms=40.0,
        ips=(FRONT_DOOR_IP,),
    )
    east_burst = Burst(25, 45, 6.0, ramp_minutes=2, drivers=(EAST_US_JOB,), driver_share=0.9)
    clients_give_up = (
        replace(Caller("mobile-app-prod", "20.61.102.17", "mobile", 3.0), timeout_s=15.0),
        *(c for c in DEFAULT_CALLERS if c.subscription != "mobile-app-prod"),
    )
    return [
        # Two Front Door hosts on one anycast IP, Premium in East US and West US 2; a reconciler in
        # East US drives both hosts: each needs ~650 ports there, the shared pool ~1,300.
        Scenario(
            "holdout_front_door_one_region",
            datetime(2025, 5, 2, 20, 0),
            70,
            (
                replace(shop, behaviour=Behaviour.SNAT, bursts=(east_burst,)),
                replace(media, behaviour=Behaviour.SNAT, bursts=(east_burst,)),
            ),
            seed=201,
            regions=(Region("East US", 1, 0.6), Region("West US 2", 1, 0.4)),
            assumptions=Assumptions(ip_map=True),
        ),
        # A keep-alive backend at 2,800 requests a minute slowing to 9 s behind a 15 s forward-request
        # timeout: dropped SYNs and the slowest answers are both logged as Timeout at 15 s. ~62k rows.
        Scenario(
            "holdout_slow_keepalive_15s",
            datetime(2025, 5, 3, 11, 0),
            22,
            (
                slow_keep_alive(
                    "https://rates.northwind-logistics.com", PRICING_OPS, 2800.0, 14.0, Window(4, 12), 9000.0
                ),
            ),
            seed=202,
            forward_timeout_s=15.0,
        ),
        # An unpooled burst on the shipping backend, logged at 50 % sampling with errors always logged.
        Scenario(
            "holdout_sampled_50_percent",
            datetime(2025, 5, 5, 6, 30),
            70,
            (snat(replace(SHIPPING, baseline_rpm=70.0), 30, 48, 5.0, reuse=1.2), INVENTORY, PAYMENTS),
            seed=203,
            logging=DiagnosticSetting(sampling_percent=50.0),
            assumptions=Assumptions(log_sampling_percent=50.0),
        ),
        # A quotes backend that refuses above 600 requests a minute, driven to 1,500.
        Scenario(
            "holdout_refused_higher_load",
            datetime(2025, 5, 6, 16, 0),
            55,
            (refusing("https://quotes.contoso-insurance.com", QUOTES_OPS, 500.0, 3.0, 600.0), SHIPPING),
            seed=204,
        ),
        # One host on two IPs: its unpooled burst needs ~1,600 ports in all, ~800 per IP: under the
        # 1,024 of each pool, so no SNAT failure (only SYN retransmission delays near the top).
        Scenario(
            "holdout_two_ips_spread",
            datetime(2025, 5, 7, 8, 0),
            60,
            (
                replace(
                    Destination(
                        "https://api.contoso-global.com",
                        ORDERS_OPS,
                        60.0,
                        requests_per_connection=1.0,
                        latency_ms=90.0,
                        ips=("20.61.14.5", "20.61.14.6"),
                    ),
                    bursts=(Burst(20, 40, 6.7, ramp_minutes=3, drivers=(BATCH_CALLER,)),),
                ),
                INVENTORY,
            ),
            seed=205,
            assumptions=Assumptions(ip_map=True),
        ),
        # An orders burst where the mobile app gives up after 15 s: its calls without a port end as
        # ClientConnectionFailure at 15 s, the others as connect timeouts at 21 s.
        Scenario(
            "holdout_clients_give_up",
            datetime(2025, 5, 8, 19, 0),
            60,
            (snat(replace(ORDERS, base_url="https://orders.northwind.com", baseline_rpm=110.0), 15, 35, 4.5), SHIPPING),
            seed=206,
            callers=clients_give_up,
        ),
    ]
