"""Incidents under the unknowns the logs cannot show: timers, capacity, units over time, cut data.

Each scenario varies what nobody publishes or what the export hides (the
platform's SYN schedule, a connect budget that varies per call, the ports per
unit, a scale-out, sampling, a row cap, a window that ends mid-episode) and
says in its comment what physically happens, with the port model's figures:
a unit's pool holds 1,024 ports (unless said otherwise); a closed connection
holds its port 4 minutes, so a pool saturates once connects arrive faster than
about 256 a minute (ports / hold), and a saturated pool recovers as soon as
they arrive slower than that. "Attempted" is open connections plus every
connect of the last 4 minutes, failed ones included; "held" counts the
connects that got a port. The look-alikes at the end live under the same
unknowns and are not SNAT. Each stays under about 60k rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from analysis.synthetic.diagnostics import Assumptions, DiagnosticSetting
from analysis.synthetic.estates import CATALOG_OPS, NORTH_EUROPE_JOB, PRICING_OPS
from analysis.synthetic.parts import (
    BURST_DRIVERS,
    INVENTORY,
    ORDERS,
    PAYMENTS,
    SEARCH,
    SHIPPING,
    refusing,
    slow_keep_alive,
    snat,
)
from analysis.synthetic.ports import LINUX
from analysis.synthetic.scenarios import Behaviour, Burst, OutageKind, Region, Scenario, Window

#: The Log Analytics portal shows and exports at most this many rows of a result.
PORTAL_ROW_CAP = 30_000


def _bursts(*spans: tuple[int, int], multiplier: float = 5.0) -> tuple[Burst, ...]:
    """Batch bursts on the usual drivers, one per ``(start, end)``."""
    return tuple(
        Burst(start, end, multiplier, ramp_minutes=3, drivers=BURST_DRIVERS, driver_share=0.88) for start, end in spans
    )


def unknown_scenarios(sample: Scenario) -> list[Scenario]:
    """The incidents and look-alikes; ``sample`` is the embedded incident one of them repeats."""
    hour = 60
    orders_burst = snat(ORDERS, 20, 40, 5.0)
    return [
        # The snat_only burst on a platform with Linux's SYN schedule (1 s, six retransmissions):
        # ~500 requests a minute at 1.5 per connection open ~330 connections a minute, past the
        # 256 a minute 1,024 ports release: attempted peaks ~1,230, held 1,024. Calls whose SYNs all go
        # unanswered fail at 127 s (under the 300 s forward-request timeout, so
        # BackendConnectionFailure); the others connect 1, 3, 7, 15, 31 or 63 s late.
        Scenario(
            "timer_127s",
            datetime(2025, 6, 2, 14, 0),
            hour,
            (orders_burst, INVENTORY),
            seed=301,
            syn_schedule=LINUX,
        ),
        # The same shape on Windows' schedule (retries at 3 and 9 s) with a connect budget that
        # varies per call between 15 and 21 s: failed connects end spread over those 6 seconds,
        # not at one timer. Ports as in timer_127s (another draw): attempted peaks ~1,500 against 1,024.
        Scenario(
            "timer_spread_15_21",
            datetime(2025, 6, 3, 14, 0),
            hour,
            (orders_burst, INVENTORY),
            seed=302,
            connect_timeout_spread_s=6.0,
        ),
        # Six minutes of unpooled calls at ~590 a minute (8x an 80 a minute baseline, reaching full
        # rate in a minute): attempted passes 1,024 in the second minute and reaches ~2,400; the
        # pool fails from then to the end of the burst (pausing one minute when the ports of the
        # first minute come back), inside 90 quiet minutes.
        Scenario(
            "short_burst_6min",
            datetime(2025, 6, 4, 10, 0),
            90,
            (snat(replace(ORDERS, baseline_rpm=80.0), 40, 46, 8.0, reuse=1.0, ramp=1), INVENTORY),
            seed=303,
        ),
        # A day at a sparse 12 requests a minute (unpooled: ~50 ports) and a 40-minute midday
        # batch at 35x, ~420 a minute: attempted ~1,600 against 1,024, for the batch only.
        Scenario(
            "day_midday_batch",
            datetime(2025, 6, 5),
            24 * hour,
            (
                snat(replace(ORDERS, baseline_rpm=12.0), 720, 760, 35.0, reuse=1.0),
                replace(INVENTORY, baseline_rpm=8.0),
            ),
            seed=304,
        ),
        # A 20-minute ramp of unpooled calls from 60 to ~650 a minute on one unit: attempted passes
        # 1,024 near 256 a minute and climbs to ~2,700. At minute 40 the region scales out to 3
        # units while the load stays at ~650 a minute: each unit now gets ~220 new connections a
        # minute, under the 256 its ports release, so failures stop at once although the demand
        # stays high; no unit holds 1,024 again.
        Scenario(
            "scale_out_ends_ramp",
            datetime(2025, 6, 6, 9, 0),
            75,
            (
                replace(
                    ORDERS,
                    baseline_rpm=60.0,
                    behaviour=Behaviour.SNAT,
                    requests_per_connection=1.0,
                    bursts=(Burst(15, 60, 10.0, ramp_minutes=20, drivers=BURST_DRIVERS, driver_share=0.88),),
                ),
                INVENTORY,
            ),
            seed=305,
            regions=(Region("West Europe", 1, scale_out=((40, 3),)),),
        ),
        # Unpooled calls at ~215 a minute (under the 256 a minute the ports release) saturate for
        # 30 minutes at 2.5x, ~540 a minute (attempted ~2,450). When the load falls back to
        # ~215 a minute (83 % of the release rate) the held ports (1,024) drain faster than new
        # connects arrive: failures stop at once, while the attempts of the last 4 minutes stay
        # above 1,024 for 3 more minutes.
        Scenario(
            "saturated_recovers_under_load",
            datetime(2025, 6, 9, 16, 0),
            90,
            (snat(replace(ORDERS, baseline_rpm=215.0), 25, 55, 2.5, reuse=1.0), INVENTORY),
            seed=3067,
        ),
        # Two batch bursts on one pool, 35 minutes apart: each needs ~1,400 ports attempted against
        # 1,024 and the pool recovers fully between them: two episodes.
        Scenario(
            "two_episodes_one_pool",
            datetime(2025, 6, 10, 13, 0),
            110,
            (replace(orders_burst, bursts=_bursts((20, 35), (70, 85))), INVENTORY),
            seed=307,
        ),
        # The snat_only burst (attempted ~1,500 against 1,024) starting 15 minutes before the
        # window ends and running past it: the failures never stop within the window.
        Scenario(
            "episode_past_window",
            datetime(2025, 6, 11, 8, 0),
            55,
            (snat(ORDERS, 40, 70, 5.0), INVENTORY),
            seed=308,
        ),
        # An orders burst (attempted ~1,250 against 1,024) among four backends (~500 requests a
        # minute together); the export holds the newest 30,000 rows only, newest first, as the
        # portal gives them: the data starts about eight minutes into the episode, so its onset
        # is not in the logs.
        Scenario(
            "capped_export_30000",
            datetime(2025, 6, 12, 11, 0),
            90,
            (snat(ORDERS, 30, 60, 5.0), replace(INVENTORY, baseline_rpm=300.0), PAYMENTS, SHIPPING),
            seed=309,
            export_row_cap=PORTAL_ROW_CAP,
        ),
        # The instance really has 256 ports per unit and destination (not the 1,024 the kit
        # assumes): a burst to ~200 requests a minute at 1.5 per connection needs ~510 ports
        # attempted, a half of 1,024 but twice 256: failures start near 256.
        Scenario(
            "capacity_quarter",
            datetime(2025, 6, 13, 15, 0),
            hour,
            (snat(replace(ORDERS, baseline_rpm=40.0), 20, 40, 5.0), INVENTORY),
            seed=310,
            snat_ports=256,
        ),
        # The sample incident (1,024 ports per unit; the orders burst needs ~2,050 attempted) where
        # the user tells the kit the instance has 4,096 ports per unit: the figure is wrong.
        replace(sample, name="told_4096_ports", seed=311, assumptions=Assumptions(snat_ports=4096)),
        # One burst drives three backends on three IPs: orders (~1,300 attempted), payments at 8x
        # (~1,450) and shipping at 10x (~1,250), each against its own 1,024; inventory (keep-alive,
        # ~10 ports) stays healthy.
        Scenario(
            "several_pools_at_once",
            datetime(2025, 6, 16, 10, 0),
            hour,
            (orders_burst, snat(PAYMENTS, 20, 40, 8.0), snat(SHIPPING, 20, 40, 10.0), INVENTORY),
            seed=312,
        ),
        # Two orders bursts (~1,450 attempted against 1,024), logged at 10 % sampling with
        # "Always log errors": every failure is a row, one success in ten is.
        Scenario(
            "sampled_10_percent_two_episodes",
            datetime(2025, 6, 17, 7, 0),
            100,
            (replace(orders_burst, bursts=_bursts((20, 35), (65, 80))), INVENTORY),
            seed=313,
            logging=DiagnosticSetting(sampling_percent=10.0),
            assumptions=Assumptions(log_sampling_percent=10.0),
        ),
        # Premium in two regions; a bulk import reaches North Europe only: ~520 requests a minute
        # at 1.5 per connection there (attempted ~1,550 against North Europe's 1,024), West Europe
        # ~110 a minute (~260). The window ends four minutes after the burst and the failures do.
        Scenario(
            "two_regions_burst_in_one",
            datetime(2025, 6, 18, 9, 0),
            44,
            (snat(ORDERS, 20, 40, 6.0, drivers=(NORTH_EUROPE_JOB,)), INVENTORY),
            seed=314,
            regions=(Region("West Europe", 1, 0.5), Region("North Europe", 1, 0.5)),
        ),
        # Look-alike: a backend blackholed for 10 minutes at ordinary load on a Linux platform: its
        # SYNs go unanswered whatever the ports (it holds under 10), so ~99 % of its calls fail at 127 s.
        Scenario(
            "blackhole_127s",
            datetime(2025, 6, 19, 3, 0),
            hour,
            (
                replace(
                    SEARCH,
                    baseline_rpm=40.0,
                    behaviour=Behaviour.OUTAGE,
                    window=Window(20, 30),
                    outage_kind=OutageKind.BLACKHOLE,
                ),
                INVENTORY,
            ),
            seed=315,
            syn_schedule=LINUX,
        ),
        # Look-alike: a keep-alive backend (100 requests per connection: ~60 ports) driven to
        # 1,200 requests a minute refuses or resets what passes its 700 a minute, on a Linux
        # platform: the failures follow the load but come in milliseconds; no timer is reached.
        Scenario(
            "refuses_under_load_127s",
            datetime(2025, 6, 20, 12, 0),
            hour,
            (refusing("https://catalog.fabrikam.net", CATALOG_OPS, 300.0, 4.0, 700.0), INVENTORY),
            seed=316,
            syn_schedule=LINUX,
        ),
        # Look-alike: a keep-alive backend at 400 requests a minute (20 per connection) slows from
        # 80 ms to ~20 s for 15 minutes on a Linux platform: ~130 calls in flight keep ~160
        # connections open (attempted ~300 ports, under a third of 1,024); every call is answered, late.
        Scenario(
            "slow_keepalive_127s",
            datetime(2025, 6, 23, 17, 0),
            hour,
            (
                slow_keep_alive("https://pricing.contoso.com", PRICING_OPS, 400.0, 20.0, Window(20, 35), 20_000.0),
                INVENTORY,
            ),
            seed=317,
            syn_schedule=LINUX,
        ),
    ]
