"""The folders state the layers and the imports keep to them: each subpackage imports only those below it.

The data path runs one way (parameters -> KQL -> source -> frames -> diagnosis -> findings -> postmortem ->
report); a subpackage reaching back up, or a pure one touching files or processes, fails here by name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.paths import REPO

ANALYSIS = REPO / "analysis"
#: Modules at the top of the package that every layer may use (errors, times, where the assets are).
GROUND = {"__init__", "errors", "times", "assets", "signals"}
#: What each layer may import besides itself and the ground floor.
ALLOWED: dict[str, set[str]] = {
    "safety": set(),
    "query": {"safety"},
    "sources": {"safety", "query"},
    "diagnosis": {"safety", "query"},
    "investigation": {"safety", "query", "sources", "diagnosis"},
    "postmortem": {"safety", "diagnosis"},
    "report": {"safety", "query", "sources", "diagnosis", "investigation", "postmortem"},
    "explorer": {"safety", "query", "sources", "diagnosis", "investigation", "postmortem"},
    "fleet": {"safety", "query", "sources", "diagnosis", "investigation", "report"},
    "synthetic": {"query", "sources"},
    "cli": {"safety", "query", "sources", "diagnosis", "investigation", "postmortem", "report", "fleet"},
}
#: Layers of pure functions over frames and documents: no files, processes or sockets of their own.
PURE = {"diagnosis", "postmortem"}
SIDE_EFFECTS = ("os", "shutil", "subprocess", "socket", "tempfile", "pathlib", "urllib.request", "http", "azure")


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package (the ground floor is ``ground``)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in GROUND:
        return "ground"
    return parts[1]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def imported(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function; ``from analysis import x`` names x."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "analysis":
                found |= {f"analysis.{alias.name}" for alias in node.names}
    return found


def modules() -> list[Path]:
    return sorted(p for p in ANALYSIS.rglob("*.py") if not {"kql", "notebooks", "data"} & set(p.parts))


def test_every_subpackage_is_a_known_layer():
    folders = {p.name for p in ANALYSIS.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(ALLOWED) - {"cli"}
    assert {p.stem for p in ANALYSIS.glob("*.py")} == GROUND | {"cli"}


def test_imports_run_down_the_layers_only():
    wrong = []
    for path in modules():
        mine = layer(module_name(path))
        for target in imported(path):
            if not target.startswith("analysis.") or target == "analysis.__version__":
                continue
            theirs = layer(target)
            if theirs not in {mine, "ground"} and theirs not in ALLOWED[mine]:
                wrong.append(f"{module_name(path)} ({mine}) imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_the_diagnosis_and_the_postmortem_touch_no_files_or_processes():
    wrong = [
        f"{module_name(path)} imports {target}"
        for path in modules()
        if layer(module_name(path)) in PURE
        for target in imported(path)
        if any(target == name or target.startswith(name + ".") for name in SIDE_EFFECTS)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_an_import_up_the_layers(tmp_path):
    """The check reads function-level imports and ``from analysis import x`` too (it can fail)."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from analysis import report\n    import analysis.sources.local\n")
    assert {layer(t) for t in imported(path) if t.startswith("analysis.")} == {"report", "sources"}


def readme_map() -> dict[str, set[str]]:
    """The README's layout of analysis/: the modules it names in each folder's block (``""`` for the top)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text[text.index("\nanalysis/ ") : text.index("\nnotebooks/ ")]
    found: dict[str, set[str]] = {"": set()}
    folder = ""
    for line in block.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            name = line.split()[0]
            folder = name.rstrip("/") if name.endswith("/") else ""
            found.setdefault(folder, set())
        found[folder] |= set(re.findall(r"(?<![/\w])(\w+)\.py\b", line))
    return found


def test_the_readme_names_every_module_in_its_folder():
    """The README's module map is the tree: a module added, moved or renamed without it fails here."""
    told = readme_map()
    tree = {"": {p.stem for p in ANALYSIS.glob("*.py")} - {"__init__"}}
    for package in sorted(set(ALLOWED) - {"cli", "synthetic"}):
        tree[package] = {p.stem for p in (ANALYSIS / package).glob("*.py")} - {"__init__", "__main__"}
    assert {k: v for k, v in told.items() if k != "synthetic"} == tree
