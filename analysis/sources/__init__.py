"""Where query results come from: local exports (duckdb-kql) or Azure.

A source runs rendered KQL text and returns a DataFrame; nothing else in the kit
knows whether the rows came from a file or a workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pandas as pd

from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.data_quality import DataQuality
from analysis.errors import KitError
from analysis.modes import DEFAULT_MODE

SOURCE_KINDS = ("sample", "file:PATH", "loganalytics:WORKSPACE_ID", "kusto:https://CLUSTER/DATABASE")


class Source(Protocol):
    """What the investigation needs from any source; whoever opens one closes it."""

    mode: str

    @property
    def description(self) -> str: ...

    def run(self, kql: str) -> pd.DataFrame: ...

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None: ...

    def close(self) -> None: ...


def data_quality(source: Source) -> DataQuality | None:
    """What the source found wrong in the rows it read; None from a source that does not read rows
    itself (Azure: the service aggregates)."""
    found = getattr(source, "data_quality", None)
    return found if isinstance(found, DataQuality) else None


def absolute(spec: str) -> str:
    """The same source named so that it means the same from any working directory.

    >>> absolute("sample"), absolute("file:/data/x.csv")
    ('sample', 'file:/data/x.csv')
    """
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return f"file:{Path(rest).expanduser().resolve()}"
    return spec


def open_source(spec: str, mode: str | None = None) -> Source:
    """``sample``, ``file:PATH``, ``loganalytics:WORKSPACE_ID`` or ``kusto:https://CLUSTER/DATABASE``.

    Local kinds detect the logging mode from the file; Azure kinds cannot look, so
    they query ``mode`` (``resource`` when None). Azure SDKs are imported only for
    Azure kinds. An unknown kind is a ``KitError`` listing the known ones.
    """
    kind, _, rest = spec.partition(":")
    if kind == "loganalytics":
        from analysis.sources.loganalytics import LogAnalyticsSource

        return LogAnalyticsSource(rest, mode=mode or DEFAULT_MODE)
    if kind == "kusto":
        from analysis.sources.kusto import KustoSource, parse_cluster_spec

        cluster, database = parse_cluster_spec(rest)
        return KustoSource(cluster, database, mode=mode or DEFAULT_MODE)

    from analysis.sources.local import open_local

    if spec == "sample":
        sample = sample_dir() / SAMPLE_LOGS
        if not sample.is_file():
            raise KitError(f"the sample incident is missing at {sample}; rebuild it with 'make sample'")
        return open_local(sample, mode)
    if kind == "file" and rest:
        return open_local(rest, mode)
    raise KitError(f"unknown source {spec!r} (use one of: {', '.join(SOURCE_KINDS)})")
