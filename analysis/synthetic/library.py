"""Named scenarios: the embedded sample incident, one scenario per look-alike, real estates, a holdout,
and incidents under the unknowns.

``SCENARIOS`` are the first look-alikes: each isolates one thing a diagnosis
must get right (SNAT versus an outage, a slow backend, application errors,
gaps and noise). ``ESTATES`` are incidents shaped like real APIM estates
(shared IPs, regions, units, keep-alive pools, timeouts, logging settings)
and further look-alikes. ``HOLDOUT`` varies the same physics with other
seeds, hosts, magnitudes and timings, for judging a diagnosis on incidents it
was not tuned on. ``UNKNOWNS`` vary what the logs cannot show (the platform's
timers, the ports per unit, a scale-out, sampling, a cut export, a window that
ends mid-episode), with look-alikes under the same unknowns. Each stays near
or under 60k rows, except ``sample_day``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from analysis.errors import KitError
from analysis.synthetic.estates import estate_scenarios, holdout_scenarios
from analysis.synthetic.parts import INVENTORY, LEGACY_ERP, ORDERS, PAYMENTS, SEARCH, SHIPPING, snat
from analysis.synthetic.scenarios import Behaviour, Burst, Noise, Scenario, Window
from analysis.synthetic.unknowns import unknown_scenarios


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
ESTATES: dict[str, Scenario] = {s.name: s for s in estate_scenarios(SCENARIOS["sample"], SCENARIOS["snat_only"])}
HOLDOUT: dict[str, Scenario] = {s.name: s for s in holdout_scenarios()}
UNKNOWNS: dict[str, Scenario] = {s.name: s for s in unknown_scenarios(SCENARIOS["sample"])}
ALL: dict[str, Scenario] = {**SCENARIOS, **ESTATES, **HOLDOUT, **UNKNOWNS}


def scenario(name: str) -> Scenario:
    """The library scenario called ``name`` (from any of the four sets).

    >>> scenario("sample").duration_minutes
    120
    """
    try:
        return ALL[name]
    except KeyError:
        raise KitError(f"unknown scenario {name!r}; known: {', '.join(ALL)}") from None
