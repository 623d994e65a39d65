"""Shared fixtures: scenario exports written once per session from the committed generator."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analysis.diagnosis.assumptions import Assumptions
from analysis.investigation.run import Investigation, investigate
from analysis.report.request import read_ip_map
from analysis.sources.local import open_local
from analysis.synthetic import Incident, generate
from analysis.synthetic.exports import to_azure_diagnostics, write_parquet, write_portal_export
from analysis.synthetic.library import scenario


@pytest.fixture(scope="session", autouse=True)
def result_cache(tmp_path_factory) -> Iterator[Path]:
    """Query results of the test run are kept in a folder of their own, never in the user's cache."""
    folder = tmp_path_factory.mktemp("result-cache")
    saved = os.environ.get("APIM_SNAT_CACHE")
    os.environ["APIM_SNAT_CACHE"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("APIM_SNAT_CACHE", None)
    else:
        os.environ["APIM_SNAT_CACHE"] = saved


@pytest.fixture(scope="session")
def incident() -> Callable[[str], Incident]:
    """A generated scenario by name, generated once."""
    cache: dict[str, Incident] = {}

    def get(name: str) -> Incident:
        if name not in cache:
            cache[name] = generate(scenario(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def scenario_export(incident, tmp_path_factory) -> Callable[[str, str], Path]:
    """Path of a scenario written as Parquet in the given logging mode, written once."""
    folder = tmp_path_factory.mktemp("scenarios")
    cache: dict[tuple[str, str], Path] = {}

    def get(name: str, mode: str = "resource") -> Path:
        if (name, mode) not in cache:
            logs = incident(name).logs
            frame = logs if mode == "resource" else to_azure_diagnostics(logs)
            path = folder / f"{name}.{mode}.parquet"
            write_parquet(frame, path)
            cache[(name, mode)] = path
        return cache[(name, mode)]

    return get


@pytest.fixture(scope="session")
def sample_portal_export(incident, tmp_path_factory) -> Path:
    """The sample incident as the portal's "Export to CSV" writes it (about 11 MB, so not committed)."""
    path = tmp_path_factory.mktemp("sample") / "gateway_logs_portal_export.csv"
    write_portal_export(incident("sample").logs, path)
    return path


@pytest.fixture(scope="session")
def scenario_ip_map(incident, tmp_path_factory) -> Callable[[str], Path]:
    """Path of the ``host,ip`` map (the ``--ip-map`` file) of a scenario's backend hosts, written once."""
    folder = tmp_path_factory.mktemp("ip_maps")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = incident(name).write_ip_map(folder / f"{name}.ip_map.csv")
        return cache[name]

    return get


@pytest.fixture(scope="session")
def diagnosed(incident, scenario_export, scenario_ip_map) -> Callable[..., Investigation]:
    """A scenario's logs investigated with what its user knows (or with the defaults), once per module."""
    cache: dict[tuple[str, str, bool], Investigation] = {}

    def get(name: str, mode: str = "resource", known: bool = True) -> Investigation:
        if (name, mode, known) not in cache:
            told = incident(name).scenario.assumptions
            settings = (
                {"units": told.units, "log_sampling_percent": told.log_sampling_percent, "snat_ports": told.snat_ports}
                if known
                else {}
            )
            assumptions = Assumptions(**{k: v for k, v in settings.items() if v is not None})
            ip_map = read_ip_map(scenario_ip_map(name)) if known and told.ip_map else None
            source = open_local(scenario_export(name, mode))
            cache[(name, mode, known)] = investigate(source, assumptions=assumptions, ip_map=ip_map)
            source.close()
        return cache[(name, mode, known)]

    return get
