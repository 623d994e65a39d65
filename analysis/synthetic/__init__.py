"""Synthetic APIM gateway logs with known ground truth.

A :class:`Scenario` describes traffic and trouble per backend; :func:`generate`
turns it into ``ApiManagementGatewayLogs`` rows plus the truth per
``host:port``; ``exports`` writes them the ways real data arrives (Parquet,
the portal's CSV export, legacy ``AzureDiagnostics``).
"""

from analysis.synthetic.incident import Incident, generate
from analysis.synthetic.scenarios import (
    Behaviour,
    Burst,
    Caller,
    Destination,
    Noise,
    Operation,
    Scenario,
    Window,
    destination_key,
)
from analysis.synthetic.truth import DestinationTruth

__all__ = [
    "Behaviour",
    "Burst",
    "Caller",
    "Destination",
    "DestinationTruth",
    "Incident",
    "Noise",
    "Operation",
    "Scenario",
    "Window",
    "destination_key",
    "generate",
]
