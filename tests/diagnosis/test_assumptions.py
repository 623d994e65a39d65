"""Assumptions from command-line text: unknown names and out-of-range values are errors; units per region."""

from __future__ import annotations

import pytest

from analysis.diagnosis.assumptions import Assumptions, from_params, param_text
from analysis.errors import KitError


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"units": "0"}, "'units' is out of range"),
        ({"snat_ports": "-5"}, "'snat_ports' is out of range"),
        ({"snat_ports": "abc"}, "'snat_ports': expected a whole number"),
        ({"requests_per_connection": "0.5"}, "'requests_per_connection' is out of range"),
        ({"log_sampling_percent": "0"}, "'log_sampling_percent' is out of range"),
        ({"log_sampling_percent": "101"}, "'log_sampling_percent' is out of range"),
        ({"connect_timeout_s": "0"}, "'connect_timeout_s' is out of range"),
        ({"units.North Europe": "0"}, "'units_by_region' is out of range"),
        ({"units.North Europe": "two"}, "'units.North Europe': expected a whole number"),
        ({"units.": "2"}, "name the region"),
        ({"units_by_region": "North Europe"}, "expected REGION=UNITS"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
    ],
)
def test_assumptions_out_of_range_are_errors(texts, message):
    with pytest.raises(KitError, match=message):
        from_params(texts)


def test_units_are_one_value_for_every_region_unless_a_region_has_its_own():
    settings = from_params({"units": "2", "units.North Europe": "3", "units_by_region": "East US=1;North Europe=5"})
    assert settings.units_in("West Europe") == 2
    assert settings.units_in("North Europe") == 3  # the units.<region> form wins over the list
    assert settings.units_in("East US") == 1
    assert settings.capacity_in("North Europe") == 3 * 1024


def test_the_notebook_text_of_a_setting_reads_back_the_same():
    settings = Assumptions(units_by_region={"North Europe": 2, "East US 2": 4}, log_sampling_percent=20.0)
    texts = {name: param_text(value) for name, value in settings.as_dict().items()}
    assert from_params(texts) == settings
