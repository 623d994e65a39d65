"""KQL a person typed, run on a source over a window: ``apim-snat query`` and the explorer's KQL cell alike.

The text may use ``start``, ``end`` and the normalised ``GatewayRequests`` (either logging mode)
or the raw table, declare parameters of its own, or be a query as ``apim-snat queries show``
prints it (its own ``let`` statements; it runs as it is). It runs through the source like a
packaged query, so the same rules hold: the local engine reads nothing but the export's table
(``analysis.sources.local`` locks it), Azure runs it under the user's own sign-in. An engine's
complaint comes back in KQL terms, its line and column counted in the text the person wrote.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.errors import KitError
from analysis.query import pack
from analysis.query.pack import Query
from analysis.sources.base import Request, Source
from analysis.sources.engine_errors import for_the_writer, in_kql_terms

Window = tuple[pd.Timestamp, pd.Timestamp]
#: Said when values are given for a text that sets its own with let statements.
SETS_ITS_OWN = "the text sets its own parameters (let statements, as 'queries show' prints them); edit them"


def adhoc_query(text: str) -> Query:
    """The typed text as a query; empty text is a ``KitError``.

    >>> adhoc_query("GatewayRequests | count").parameters[0].name
    'start'
    """
    if not text.strip():
        raise KitError("the KQL text is empty")
    return pack.adhoc(text)


def run_adhoc(
    source: Source, query: Query, window: Window | None, params: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """``query``'s result on ``source``: ``window`` and ``params`` (text, as typed) fill the parameters it
    declares; a query with its own ``let`` statements takes neither. A ``KitError`` speaks KQL."""
    if query.standalone:
        if params:
            raise KitError(SETS_ITS_OWN)
        values: dict[str, object] = {}
    else:
        if window is None:
            raise KitError("no window to run the KQL over")
        declared = {p.name for p in query.parameters}
        given = {"start": window[0], "end": window[1], **query.parse_params(dict(params or {}))}
        values = {name: value for name, value in given.items() if name in declared}
    try:
        return source.run_request(Request(query, query.bind(values), source.mode))
    except KitError as err:
        rendered = query.render(values, source.mode)
        raise KitError(for_the_writer(in_kql_terms(str(err)), rendered, query.body)) from None
