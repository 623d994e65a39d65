"""Synthetic APIM gateway logs with known ground truth.

A :class:`Scenario` describes traffic, regions, gateway units, backends (and
the IPs they resolve to), trouble and the logging setting; :func:`generate`
turns it into ``ApiManagementGatewayLogs`` rows plus the truth per
destination and SNAT pool; ``exports`` writes them the ways real data arrives
(Parquet, the portal's CSV export, legacy ``AzureDiagnostics``).
"""

from analysis.synthetic.addressing import PoolKey
from analysis.synthetic.diagnostics import Assumptions, DiagnosticSetting, Verbosity
from analysis.synthetic.incident import Incident, generate
from analysis.synthetic.scenarios import (
    Behaviour,
    Burst,
    Caller,
    Destination,
    Noise,
    Operation,
    OutageKind,
    Region,
    Scenario,
    SideCall,
    Window,
    destination_key,
)
from analysis.synthetic.truth import DestinationTruth, PoolTruth, ScenarioTruth

__all__ = [
    "Assumptions",
    "Behaviour",
    "Burst",
    "Caller",
    "Destination",
    "DestinationTruth",
    "DiagnosticSetting",
    "Incident",
    "Noise",
    "Operation",
    "OutageKind",
    "PoolKey",
    "PoolTruth",
    "Region",
    "Scenario",
    "ScenarioTruth",
    "SideCall",
    "Verbosity",
    "Window",
    "destination_key",
    "generate",
]
