"""One contract for sources: every source derives from ``analysis.sources.base``, what a source knows beside its
rows is asked of it alike (wrappers hand it on), and the package's own modules never import the package."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pandas as pd

import analysis.sources
from analysis.sources.base import Source, Wrapping
from analysis.sources.progress import Watched
from analysis.sources.quality import DataQuality
from analysis.sources.scrubbed import Scrubbed
from analysis.sources.sharing import SharedSource
from tests.paths import REPO

SOURCES = REPO / "analysis" / "sources"
#: Every kind of source the kit opens or puts in front of another.
CONCRETE = {
    "LocalSource",
    "LogAnalyticsSource",
    "KustoSource",
    "CacheReplay",
    "CachedSource",
    "Scrubbed",
    "SharedSource",
    "Watched",
}


def parent_imports(text: str) -> list[str]:
    """The statements of a module's text that import the ``analysis.sources`` package itself."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and (
            (node.level == 0 and node.module == "analysis.sources") or (node.level == 1 and node.module is None)
        ):
            found.append(ast.unparse(node))
        elif isinstance(node, ast.Import) and any(alias.name == "analysis.sources" for alias in node.names):
            found.append(ast.unparse(node))
    return found


def test_the_check_finds_every_way_of_importing_the_package():
    assert parent_imports("from analysis.sources import Request, open_source") != []
    assert parent_imports("from analysis.sources import archive") != []
    assert parent_imports("import analysis.sources") != []
    assert parent_imports("from . import archive") != []
    assert parent_imports("def f():\n    from analysis.sources import open_source\n") != []
    siblings = (
        "import analysis.sources.archive as archive\nfrom analysis.sources.base import Source\nfrom .base import X"
    )
    assert parent_imports(siblings) == []


def test_no_module_of_the_sources_package_imports_the_package_itself():
    """The package only opens sources; its modules import the base and each other, so none waits on it."""
    found = {
        path.name: statements
        for path in sorted(SOURCES.glob("*.py"))
        if (statements := parent_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def source_classes() -> dict[str, type]:
    """Every class defined in the modules of ``analysis.sources`` that is a source or looks like one."""
    found = {}
    for info in pkgutil.iter_modules(analysis.sources.__path__, "analysis.sources."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and (issubclass(cls, Source) or _looks_like_a_source(set(vars(cls)))):
                found[name] = cls
    return found


def _looks_like_a_source(members: set[str]) -> bool:
    """A class with what only a source has: a time range, requests, or queries with a mode or a close."""
    return bool({"time_range", "run_request"} & members) or ("run" in members and bool({"mode", "close"} & members))


def test_every_source_of_the_kit_derives_from_the_base_and_can_be_made():
    found = source_classes()
    assert CONCRETE <= set(found)
    assert {name for name, cls in found.items() if not issubclass(cls, Source)} == set()
    assert {name for name in CONCRETE if inspect.isabstract(found[name])} == set()


def class_members(node: ast.ClassDef) -> set[str]:
    """Names a class body defines: methods, and attributes assigned (``mode, description = ...``)."""
    names = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(item.name)
        elif isinstance(item, ast.Assign | ast.AnnAssign):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def base_names(node: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases if isinstance(b, ast.Name | ast.Attribute)}


def undeclared_sources(files: list[Path]) -> list[str]:
    """Classes in ``files`` (nested ones too) that look like a source and derive from no ``Source``, by name."""
    classes = [
        (path, node)
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    ]
    family, grown = {"Source"}, True
    while grown:
        more = {node.name for _, node in classes if base_names(node) & family} - family
        family, grown = family | more, bool(more)
    return sorted(
        f"{path.as_posix().removeprefix(f'{REPO.as_posix()}/')}: {node.name}"
        for path, node in classes
        if node.name not in family and _looks_like_a_source(class_members(node))
    )


def test_every_source_double_in_the_tests_and_benchmarks_derives_from_the_base(tmp_path):
    files = sorted(
        path for folder in ("analysis", "tests", "bench") for path in (REPO / folder).rglob("*.py") if path.is_file()
    )
    assert undeclared_sources(files) == []
    double = tmp_path / "double.py"
    double.write_text("class Fake:\n    mode = 'resource'\n\n    def run(self, kql):\n        return None\n")
    assert undeclared_sources([double]) == [f"{double.as_posix()}: Fake"]  # so the check above can fail


class Known(Source):
    """A source that knows all a source can know beside its rows."""

    mode, description = "resource", "known"
    absent_columns = ("ApiManagementGatewayLogs.BackendUrl",)
    data_quality = DataQuality(rows=3)
    self_hosted = True

    def run(self, kql: str) -> pd.DataFrame:
        return pd.DataFrame({"kql": [kql]})

    def time_range(self) -> None:
        return None

    def close(self) -> None:
        pass

    def keep_beside(self, name, key, parameters, window, fetch) -> pd.DataFrame:
        return pd.DataFrame({"kept": [key]})

    def replayed_records(self, name: str) -> list[dict]:
        return [{"query": name}]


def test_a_source_that_knows_nothing_beside_its_rows_says_so_and_fetches_what_it_cannot_keep():
    class Plain(Source):
        mode, description = "resource", "plain"

        def run(self, kql: str) -> pd.DataFrame:
            return pd.DataFrame({"kql": [kql]})

        def time_range(self) -> None:
            return None

        def close(self) -> None:
            pass

    plain = Plain()
    assert (plain.absent_columns, plain.data_quality, plain.self_hosted) == ((), None, False)
    assert plain.replayed_records("requests_metric") == []
    fetched = plain.keep_beside("requests_metric", "key", {}, None, lambda: pd.DataFrame({"fetched": [1]}))
    assert list(fetched.columns) == ["fetched"]


def test_sources_in_front_of_another_hand_on_what_it_knows():
    known = Known()
    front = Watched(SharedSource(Scrubbed(known), "shown"), lambda _: None, live=False)
    assert (front.mode, front.description) == ("resource", "shown")
    assert front.absent_columns == known.absent_columns and front.self_hosted
    assert front.data_quality is known.data_quality
    assert front.replayed_records("requests_metric") == [{"query": "requests_metric"}]
    kept = front.keep_beside("requests_metric", "key", {}, None, lambda: pd.DataFrame({"fetched": [1]}))
    assert kept["kept"].tolist() == ["key"]
    assert isinstance(front, Wrapping) and front.run("print 1")["kql"].tolist() == ["print 1"]
