"""The repository itself: lines a reader can see without scrolling, no editor leftovers committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.paths import REPO

MAX_LINE = 120
TEXT_SUFFIXES = {".py", ".kql", ".md", ".toml", ".yml", ".yaml", ".js", ".j2", ".cfg"}
TEXT_NAMES = {"Makefile", "run", ".gitignore"}


def _tracked() -> list[Path]:
    """The files git tracks (the checkout is a git clone in development and CI)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / name for name in listed.decode().split("\0") if name]


def test_no_line_is_longer_than_120_characters():
    long_lines = []
    for path in _tracked():
        if path.suffix not in TEXT_SUFFIXES and path.name not in TEXT_NAMES:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if len(line) > MAX_LINE:
                long_lines.append(f"{path.relative_to(REPO)}:{number} ({len(line)})")
    assert not long_lines, long_lines


def test_no_notebook_checkpoint_is_committed():
    assert not [p for p in _tracked() if ".ipynb_checkpoints" in p.parts]
