"""The project's promises about itself: pins agree, the Quick start matches CI, the sample is small,
and the built wheel works on its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from analysis.investigation.run import investigate
from analysis.query import pack
from analysis.sources import open_source
from tests.paths import REPO, SAMPLE_DIR


def pinned(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_installs_the_lock_with_a_supported_python():
    environment = (REPO / "environment.yml").read_text(encoding="utf-8")
    assert "- -r requirements.lock" in environment and "- python>=3.11,<3.14" in environment
    assert "==" not in environment, "the exact versions live in the lock alone"


def test_pyproject_gives_ranges_and_the_lock_pins_a_version_inside_each():
    """Ranges in pyproject.toml (the kit installs beside the user's tools), exact pins in the lock (what the Quick
    start installs and the tests ran with)."""
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    locked = pinned((REPO / "requirements.lock").read_text(encoding="utf-8").splitlines())
    normalise = lambda name: name.lower().replace("_", "-")  # noqa: E731
    locked = {normalise(k): v for k, v in locked.items()}
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(text)
        assert "==" not in text and requirement.specifier, f"{text}: a compatible range, not a pin"
        version = locked.get(normalise(requirement.name))
        assert version is not None and requirement.specifier.contains(version), (text, version)


def test_the_makefile_takes_the_newest_supported_python():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "SUPPORTED := 3.13 3.12 3.11" in makefile and "python$$v -c" in makefile


def quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^#+ .*[Qq]uick ?start.*?^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    assert section, "README.md has a Quick start section with a code block"
    return [line.strip() for line in section.group(1).splitlines() if line.strip()]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[1] in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_the_embedded_sample_is_under_20_mb():
    assert sum(p.stat().st_size for p in SAMPLE_DIR.iterdir()) < 20 * 1024 * 1024


def test_every_package_of_the_kit_is_built():
    """A new subpackage under analysis/ must be listed for the wheel (pyproject.toml lists them by hand)."""
    listed = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "analysis").rglob("__init__.py")}
    assert found <= set(listed)
    assert {"analysis.kql", "analysis.notebooks", "analysis.data"} <= set(listed)


# The wheel is built from a copy of what the build reads, so the checkout gets no build/ or egg-info.
BUILD_INPUTS = ("pyproject.toml", "README.md", "analysis", "kql", "notebooks", "data")


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_the_installed_wheel_renders_the_sample_from_any_folder(tmp_path):
    """pip install of the wheel (not editable), then the commands run from a folder outside the checkout.

    The wheel is installed without dependencies into a bare environment that sees this environment's
    packages through a .pth line; .pth files of that folder are not read, so the checkout's editable
    install (a .pth finder) cannot shadow the installed package.
    """
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--check-build-dependencies",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("apim_snat_kit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for packaged in (
        "analysis/kql/destination_health.kql",
        "analysis/kql/modes/azurediagnostics.kql",
        "analysis/kql/schema/AzureDiagnostics.columns.csv",
        "analysis/notebooks/snat_incident_report.ipynb",
        "analysis/data/sample/gateway_logs.parquet",
        "analysis/report/templates/offline/index.html.j2",
        "analysis/report/templates/batch/index.html.j2",
        "analysis/investigation/findings.schema.json",
    ):
        assert packaged in names
    # Every module of the checkout ships: a subpackage left out of pyproject.toml's list fails here.
    modules = {str(p.relative_to(REPO)) for p in (REPO / "analysis").rglob("*.py")}
    assert modules - names == set()

    env_dir = tmp_path / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=tmp_path)
    python = env_dir / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        cwd=tmp_path,
    )
    site_packages = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip()
    )
    (site_packages / "kit_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    # The dependencies' Jupyter data (nbconvert's templates, ...) as their install puts it in the prefix;
    # not the kernels: the checkout's kernel would run the checkout's code.
    shared = env_dir / "share" / "jupyter"
    shared.mkdir(parents=True)
    for data in (Path(sys.prefix) / "share" / "jupyter").iterdir():
        if data.name != "kernels":
            (shared / data.name).symlink_to(data, target_is_directory=data.is_dir())

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTHON", "JUPYTER"))}
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter")  # no kernel registered for this user elsewhere
    where = _run(
        [str(python), "-c", "import analysis.assets as a; print(a.__file__); print(a.kql_dir())"],
        cwd=elsewhere,
        env=env,
    )
    assert all(Path(line).is_relative_to(site_packages) for line in where.split()), where

    listed = _run([str(env_dir / "bin" / "apim-snat"), "queries", "list"], cwd=elsewhere, env=env).splitlines()
    assert [line.split("\t")[0] for line in listed] == [query.name for query in pack.packaged()]
    _run(
        [str(env_dir / "bin" / "apim-snat"), "report", "--source", "sample", "--out", "report"], cwd=elsewhere, env=env
    )
    assert {"report.html", "report.ipynb", "findings.json"} <= {p.name for p in (elsewhere / "report").iterdir()}
    kernel = json.loads((env_dir / "share" / "jupyter" / "kernels" / "apim-snat" / "kernel.json").read_text())
    assert kernel["argv"][0] == str(python), "the report ran in the installed environment's kernel"

    installed = json.loads((elsewhere / "report" / "findings.json").read_text(encoding="utf-8"))
    source_here = open_source("sample")
    try:
        expected = investigate(source_here).findings
    finally:
        source_here.close()
    assert installed.pop("source") == "the sample incident (ApiManagementGatewayLogs)"  # no path in a report
    assert expected.pop("source") == "local file gateway_logs.parquet (ApiManagementGatewayLogs)"  # nor here
    for document in (installed, expected):
        for query in document["queries"]:
            query.pop("duration_s", None)
    assert installed == json.loads(json.dumps(expected, default=str))
