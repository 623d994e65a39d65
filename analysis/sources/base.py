"""The ``Source`` contract: what every source of query results does, and what it may know beside.

A source runs rendered KQL text and returns a DataFrame; nothing else in the kit
knows whether the rows came from a file, a workspace or the cache. A packaged query
is handed over as a ``Request`` (query, bound values, mode) through ``run_request``,
so that sources which can do more with it (keep it in the cache, split its window
when the service cuts the result short) know what it is; the text is the same.

Beside its rows a source may know more: documented columns its rows lack, what was
wrong in the rows it read, whether they are a self-hosted gateway's, results kept or
replayed beside its own. Each of these is a method or property here with the answer of a
source that knows nothing of it, so callers ask every source alike. ``Wrapping`` is a
source in front of another: it hands on all of these.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.query.literals import kql_literal
from analysis.sources.quality import DataQuality

if TYPE_CHECKING:
    from analysis.query.pack import Query

Window = tuple[pd.Timestamp, pd.Timestamp]


@dataclass(frozen=True)
class Request:
    """One query to run: the query, every parameter's value and the logging mode; its KQL follows."""

    query: Query
    values: Mapping[str, Any]
    mode: str

    @property
    def name(self) -> str:
        return self.query.name

    @cached_property
    def kql(self) -> str:
        """The text that runs, exactly as ``apim-snat queries show`` prints it."""
        return self.query.render(self.values, self.mode)

    @property
    def parameters(self) -> dict[str, str]:
        """Every parameter as its KQL literal, for the record."""
        return {p.name: kql_literal(self.values[p.name], p.kql_type) for p in self.query.parameters}

    @property
    def window(self) -> Window | None:
        """``start`` and ``end`` when the query takes both."""
        start, end = self.values.get("start"), self.values.get("end")
        return (pd.Timestamp(start), pd.Timestamp(end)) if start is not None and end is not None else None

    def within(self, start: pd.Timestamp, end: pd.Timestamp) -> Request:
        """The same query over a part of the window."""
        return replace(self, values={**self.values, "start": start, "end": end})


class Source(ABC):
    """What the investigation needs from any source; whoever opens one closes it."""

    @property
    @abstractmethod
    def mode(self) -> str:
        """The logging mode the source's queries read (``analysis.query.modes``)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the rows come from, for reports and error messages."""

    @abstractmethod
    def run(self, kql: str) -> pd.DataFrame:
        """The result of KQL text."""

    @abstractmethod
    def time_range(self) -> Window | None:
        """First and last time of the rows, when the source can tell (a workspace holds more than one incident)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the source holds open."""

    def run_request(self, request: Request) -> pd.DataFrame:
        """The result of a packaged query; a source that does no more with it runs its text."""
        return self.run(request.kql)

    @property
    def absent_columns(self) -> tuple[str, ...]:
        """Documented columns of the source's table that its rows lack altogether (a projected export).

        Only a local export can lack columns; a Log Analytics or ADX table has its whole schema.
        """
        return ()

    @property
    def data_quality(self) -> DataQuality | None:
        """What the source found wrong in the rows it read; None from a source that does not read rows
        itself (Azure: the service aggregates)."""
        return None

    @property
    def self_hosted(self) -> bool:
        """Whether the rows are a self-hosted gateway's log lines (its host's NAT, not Azure's SNAT)."""
        return False

    def keep_beside(
        self,
        name: str,
        key: str,
        parameters: dict[str, str],
        window: Window | None,
        fetch: Callable[[], pd.DataFrame],
    ) -> pd.DataFrame:
        """A result that is not KQL (the platform metric), kept with the source's results where it keeps
        any (reused, replayed offline, written to a report's ``results/``); ``key`` is its request as text.

        A source that keeps nothing fetches it.
        """
        return fetch()

    def replayed_records(self, name: str) -> list[dict[str, Any]]:
        """The records of the results replayed under ``name``, oldest first: none from a source that queries."""
        return []


class Wrapping(Source):
    """A source in front of another (``inner``): what it does not change of the rows, it hands on."""

    inner: Source

    @property
    def mode(self) -> str:
        return self.inner.mode

    @property
    def description(self) -> str:
        return self.inner.description

    def time_range(self) -> Window | None:
        return self.inner.time_range()

    def close(self) -> None:
        self.inner.close()

    @property
    def absent_columns(self) -> tuple[str, ...]:
        return self.inner.absent_columns

    @property
    def data_quality(self) -> DataQuality | None:
        return self.inner.data_quality

    @property
    def self_hosted(self) -> bool:
        return self.inner.self_hosted

    def keep_beside(
        self,
        name: str,
        key: str,
        parameters: dict[str, str],
        window: Window | None,
        fetch: Callable[[], pd.DataFrame],
    ) -> pd.DataFrame:
        return self.inner.keep_beside(name, key, parameters, window, fetch)

    def replayed_records(self, name: str) -> list[dict[str, Any]]:
        return self.inner.replayed_records(name)
