"""The project's promises about itself: pins agree, the Quick start matches CI, the sample is small."""

from __future__ import annotations

import re
import tomllib

from tests.paths import REPO, SAMPLE_DIR


def pinned(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_lists_the_same_pins_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = pinned(project["dependencies"] + project["optional-dependencies"]["test"])
    assert len(declared) == len(project["dependencies"]) + len(project["optional-dependencies"]["test"]), "every dependency is pinned exactly"
    environment = pinned((REPO / "environment.yml").read_text(encoding="utf-8").splitlines())
    assert environment == declared
    assert "- python=3.11" in (REPO / "environment.yml").read_text(encoding="utf-8")


def test_the_lock_file_agrees_with_the_direct_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = pinned(project["dependencies"] + project["optional-dependencies"]["test"])
    locked = pinned((REPO / "requirements.lock").read_text(encoding="utf-8").splitlines())
    normalise = lambda name: name.replace("_", "-")  # noqa: E731
    locked = {normalise(k): v for k, v in locked.items()}
    assert {k: locked.get(normalise(k)) for k in declared} == declared


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
