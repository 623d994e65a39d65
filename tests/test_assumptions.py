"""Assumptions from command-line text: unknown names and out-of-range values are errors."""

from __future__ import annotations

import pytest

from analysis.assumptions import from_params
from analysis.errors import KitError


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"units": "0"}, "'units' is out of range"),
        ({"snat_ports": "-5"}, "'snat_ports' is out of range"),
        ({"snat_ports": "abc"}, "'snat_ports': expected a whole number"),
        ({"requests_per_connection": "0.5"}, "'requests_per_connection' is out of range"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
    ],
)
def test_assumptions_out_of_range_are_errors(texts, message):
    with pytest.raises(KitError, match=message):
        from_params(texts)
