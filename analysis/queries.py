"""Find, describe and render the packaged KQL queries in ``kql/`` (pure: text in, text out).

A query file starts with ``//`` comment lines (its description), then a typed
``declare query_parameters(...)`` statement, then a body that reads the
normalised table ``GatewayRequests``. Rendering swaps the declaration for one
``let`` per parameter, each a typed literal, and puts the logging mode's
definition of ``GatewayRequests`` in front. The rendered text is what runs, the
same on Log Analytics, Azure Data Explorer and the local engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb_kql

from analysis.errors import KitError
from analysis.literals import check_param, parse_value

KQL_DIR = Path(__file__).resolve().parent.parent / "kql"
MODES: dict[str, str] = {
    "resource": "ApiManagementGatewayLogs",
    "azurediagnostics": "AzureDiagnostics",
}
NORMALISED_TABLE = "GatewayRequests"


@dataclass(frozen=True)
class Parameter:
    """One declared query parameter; ``default`` is None when the caller must supply it."""

    name: str
    kql_type: str
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Query:
    """A packaged query: its name, what it answers, its typed parameters and its body."""

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    body: str

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        known = ", ".join(p.name for p in self.parameters)
        raise KitError(f"query {self.name!r} has no parameter {name!r} (it takes: {known})")

    def parse_params(self, texts: Mapping[str, str]) -> dict[str, Any]:
        """Command-line ``k=v`` texts as values of each parameter's declared type."""
        values = {}
        for name, text in texts.items():
            parameter = self.parameter(name)
            try:
                values[name] = parse_value(text, parameter.kql_type)
            except ValueError as err:
                raise KitError(f"parameter {name!r} ({parameter.kql_type}): {err}") from None
        return values

    def bind(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every parameter's value: the given ones over the declared defaults."""
        values = dict(values or {})
        for name in values:
            self.parameter(name)
        bound = {}
        for parameter in self.parameters:
            value = values.get(parameter.name, parameter.default)
            if value is None:
                raise KitError(f"query {self.name!r} needs parameter {parameter.name!r} ({parameter.kql_type})")
            bound[parameter.name] = value
        return bound

    def render(self, values: Mapping[str, Any] | None = None, mode: str = "resource") -> str:
        """The runnable KQL text for ``mode``, with every parameter a typed literal."""
        bound = self.bind(values)
        lets = [
            f"let {p.name} = {check_param(p.name, bound[p.name], p.kql_type)};" for p in self.parameters
        ]
        header = f"// {self.name} (mode: {mode})"
        return "\n".join([header, *lets, mode_prelude(mode), self.body]) + "\n"


def mode_prelude(mode: str) -> str:
    """The ``let GatewayRequests = ...;`` statement that normalises one logging mode."""
    if mode not in MODES:
        raise KitError(f"unknown logging mode {mode!r} (use one of: {', '.join(MODES)})")
    return (KQL_DIR / "modes" / f"{mode}.kql").read_text(encoding="utf-8").strip()


def _description(text: str) -> str:
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("//"):
            break
        lines.append(stripped.lstrip("/").strip())
    return " ".join(line for line in lines if line)


def _parse(text: str, origin: str) -> Any:
    """The parse tree, or a ``KitError`` that says where the syntax breaks."""
    try:
        parsed = duckdb_kql.parse(text)
    except duckdb_kql.KqlError as err:
        raise KitError(f"{origin}: KQL syntax error: {str(err).splitlines()[0]}") from None
    if not parsed.ok:
        raise KitError(f"{origin}: KQL syntax error: {parsed.diagnostics[0]}")
    return parsed.tree


def _declaration_span(text: str, origin: str) -> tuple[int, int]:
    """Where the ``declare query_parameters(...);`` statement starts and ends."""
    tree = _parse(text, origin)
    for statement in tree.query().statement():
        node = statement.getChild(0)
        if type(node).__name__ == "DeclareQueryParametersStatementContext":
            end = node.stop.stop + 1
            rest = text[end:]
            semicolon = len(rest) - len(rest.lstrip())
            if rest[semicolon : semicolon + 1] == ";":
                end += semicolon + 1
            return node.start.start, end
    raise KitError(f"{origin}: no 'declare query_parameters(...)' statement")


def from_text(name: str, text: str) -> Query:
    """A ``Query`` from the text of a query file."""
    start, end = _declaration_span(text, name)
    parameters = tuple(
        Parameter(p.name, p.type, p.default) for p in duckdb_kql.query_parameters(text[start:end])
    )
    return Query(
        name=name,
        description=_description(text),
        parameters=parameters,
        body=text[end:].strip(),
    )


WINDOW_PARAMETERS = (Parameter("start", "datetime"), Parameter("end", "datetime"))


def adhoc(text: str) -> Query:
    """A query typed at the keyboard: it may declare its own parameters, and otherwise gets
    ``start``, ``end`` and ``GatewayRequests`` like a packaged one."""
    _parse(text, "ad-hoc")
    if "declare" in text and "query_parameters" in text:
        return from_text("ad-hoc", text)
    return Query(name="ad-hoc", description="", parameters=WINDOW_PARAMETERS, body=text.strip())


def packaged() -> list[Query]:
    """Every query in ``kql/``, by name."""
    return [from_text(path.stem, path.read_text(encoding="utf-8")) for path in sorted(KQL_DIR.glob("*.kql"))]


def load(name: str) -> Query:
    """One packaged query by name."""
    path = KQL_DIR / f"{name}.kql"
    if not path.is_file() or "/" in name or "\\" in name:
        known = ", ".join(p.stem for p in sorted(KQL_DIR.glob("*.kql")))
        raise KitError(f"no packaged query named {name!r} (known: {known})")
    return from_text(name, path.read_text(encoding="utf-8"))
