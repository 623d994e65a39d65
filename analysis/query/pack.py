"""Find, describe and render the packaged KQL queries in ``kql/`` (pure: text in, text out).

A query file starts with ``//`` comment lines (its description), then a typed
``declare query_parameters(...)`` statement, then a body that reads the
normalised table ``GatewayRequests``. Rendering swaps the declaration for one
``let`` per parameter, each a typed literal, and puts the logging mode's
definition of ``GatewayRequests`` in front. The rendered text is what runs, the
same on Log Analytics, Azure Data Explorer and the local engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.assets import kql_dir
from analysis.errors import KitError
from analysis.query.declaration import Parameter, declaration_of
from analysis.query.literals import check_param, parse_value
from analysis.query.modes import Mode, check_mode


@dataclass(frozen=True)
class Query:
    """A packaged query: its name, what it answers, its typed parameters and its body.

    A ``standalone`` query is already rendered (``queries show`` output): it runs as it is.
    """

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    body: str
    standalone: bool = False

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
        if self.standalone:
            return self.body + "\n"
        lets = [f"let {p.name} = {check_param(p.name, bound[p.name], p.kql_type)};" for p in self.parameters]
        header = f"// {self.name} (mode: {mode})"
        return "\n".join([header, *lets, mode_prelude(mode), self.body]) + "\n"


#: The statements after the mode's own: the destination of each request, the same for every mode.
DESTINATIONS_PRELUDE = "destinations.kql"
#: The files in ``kql/modes`` that make a mode's ``GatewayRows``: the two Application Insights shapes read
#: their own tables, then share the statements that join them into one row per request.
MODE_PRELUDES = {
    Mode.RESOURCE: ("resource.kql",),
    Mode.AZURE_DIAGNOSTICS: ("azurediagnostics.kql",),
    Mode.APP_INSIGHTS: ("appinsights.kql", "appinsights-rows.kql"),
    Mode.APP_INSIGHTS_CLASSIC: ("appinsights-classic.kql", "appinsights-rows.kql"),
}


def mode_prelude(mode: str) -> str:
    """The ``let`` statements that normalise one logging mode into ``GatewayRequests``: the mode's
    ``GatewayRows`` (``MODE_PRELUDES``), then the destination of each row."""
    folder = kql_dir() / "modes"
    names = (*MODE_PRELUDES[check_mode(mode)], DESTINATIONS_PRELUDE)
    return "\n".join((folder / name).read_text(encoding="utf-8").strip() for name in names)


def _description(text: str) -> str:
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("//"):
            break
        lines.append(stripped.lstrip("/").strip())
    return " ".join(line for line in lines if line)


def from_text(name: str, text: str) -> Query:
    """A ``Query`` from the text of a query file."""
    declaration = declaration_of(text, name)
    return Query(
        name=name,
        description=_description(text),
        parameters=declaration.parameters,
        body=text[declaration.end :].strip(),
    )


WINDOW_PARAMETERS = (Parameter("start", "datetime"), Parameter("end", "datetime"))
_DEFINES_GATEWAY_REQUESTS = re.compile(r"^\s*let\s+GatewayRequests\s*=", re.MULTILINE)


def adhoc(text: str) -> Query:
    """A query typed at the keyboard: it may declare its own parameters, and otherwise gets
    ``start``, ``end`` and ``GatewayRequests`` like a packaged one; a rendered query
    (one that defines ``GatewayRequests`` itself) runs as it is.

    >>> adhoc("let GatewayRequests = T;\\nGatewayRequests | count").standalone
    True
    """
    if _DEFINES_GATEWAY_REQUESTS.search(text):
        return Query(name="ad-hoc", description="", parameters=(), body=text.strip(), standalone=True)
    if "declare" in text and "query_parameters" in text:
        return from_text("ad-hoc", text)
    return Query(name="ad-hoc", description="", parameters=WINDOW_PARAMETERS, body=text.strip())


def packaged() -> list[Query]:
    """Every query in ``kql/``, by name."""
    return [from_text(path.stem, path.read_text(encoding="utf-8")) for path in sorted(kql_dir().glob("*.kql"))]


def load(name: str) -> Query:
    """One packaged query by name."""
    path = kql_dir() / f"{name}.kql"
    if not path.is_file() or "/" in name or "\\" in name:
        known = ", ".join(p.stem for p in sorted(kql_dir().glob("*.kql")))
        raise KitError(f"no packaged query named {name!r} (known: {known})")
    return from_text(name, path.read_text(encoding="utf-8"))
