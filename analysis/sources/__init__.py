"""Where query results come from: local exports (duckdb-kql), Azure, or a cache of earlier results.

This package opens a source named on the command line or in a notebook (``open_source``);
what every source does is the contract in ``analysis.sources.base``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.errors import KitError
from analysis.query.modes import DEFAULT_MODE
from analysis.sources.base import Source
from analysis.sources.scrubbed import Scrubbed

SOURCE_KINDS = (
    "sample",
    "file:PATH",
    "loganalytics:WORKSPACE_ID",
    "loganalytics-resource:RESOURCE_ID",
    "kusto:https://CLUSTER/DATABASE",
    "cache:DIR",
)
#: Where results are kept when neither ``--cache`` nor this variable says otherwise: the user's cache folder.
CACHE_VARIABLE = "APIM_SNAT_CACHE"
#: Set (to 1) for a process that must answer from the cache alone, such as the report's notebook kernel.
OFFLINE_VARIABLE = "APIM_SNAT_OFFLINE"


@dataclass(frozen=True)
class SourceOptions:
    """How to reach and keep results: sign-in, server timeout, cache folder, refresh, offline.

    ``cache`` None keeps nothing. ``offline`` answers from the cache alone (a query
    missing there is a ``KitError``): the report's notebook kernel runs that way,
    after the command line has run every query once.
    """

    auth: str = "default"
    tenant: str | None = None
    server_timeout: int | None = None
    cache: Path | None = None
    refresh: bool = False
    offline: bool = False
    client_options: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environment(cls, **given: Any) -> SourceOptions:
        """Options given here, the cache folder and offline switch from the environment otherwise."""
        from analysis.sources.cache import default_cache_root

        cache = given.pop("cache", None) or os.environ.get(CACHE_VARIABLE) or default_cache_root()
        offline = given.pop("offline", None) or os.environ.get(OFFLINE_VARIABLE, "") == "1"
        return cls(cache=Path(cache), offline=offline, **given)


def absolute(spec: str) -> str:
    """The same source named so that it means the same from any working directory.

    >>> absolute("sample"), absolute("file:/data/x.csv")
    ('sample', 'file:/data/x.csv')
    """
    kind, _, rest = spec.partition(":")
    if kind in ("file", "cache") and rest:
        return f"{kind}:{Path(rest).expanduser().resolve()}"
    return spec


def _open_one(spec: str, mode: str | None, options: SourceOptions, more: Sequence[str] = ()) -> Source:
    kind, _, rest = spec.partition(":")
    if kind in ("loganalytics", "loganalytics-resource"):
        from analysis.sources.loganalytics import LogAnalyticsSource

        return LogAnalyticsSource(
            workspace_id=rest if kind == "loganalytics" else None,
            resource_id=rest if kind == "loganalytics-resource" else None,
            additional_workspaces=list(more),
            mode=mode or DEFAULT_MODE,
            **_azure_settings(options),
        )
    if kind == "kusto":
        from analysis.sources.kusto import KustoSource, parse_cluster_spec

        cluster, database = parse_cluster_spec(rest)
        return KustoSource(cluster, database, mode=mode or DEFAULT_MODE, **_azure_settings(options))
    if kind == "cache" and rest:
        from analysis.sources.cache import CacheReplay

        return CacheReplay.open(Path(rest), mode)

    from analysis.sources.local import open_local

    if spec == "sample":
        sample = sample_dir() / SAMPLE_LOGS
        if not sample.is_file():
            raise KitError(f"the sample incident is missing at {sample}; rebuild it with 'make sample'")
        return open_local(sample, mode)
    if kind == "file" and rest:
        return open_local(rest, mode)
    raise KitError(f"unknown source {spec!r} (use one of: {', '.join(SOURCE_KINDS)})")


def _azure_settings(options: SourceOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {"auth": options.auth, "tenant": options.tenant}
    if options.server_timeout is not None:
        settings["server_timeout"] = options.server_timeout
    if options.client_options:
        settings["client_options"] = dict(options.client_options)
    return settings


def _workspaces(specs: Sequence[str]) -> list[str]:
    """The workspace ids after the first of several ``--source`` values; only workspaces can be unioned."""
    from analysis.sources.loganalytics import check_workspace_id

    kinds = {spec.partition(":")[0] for spec in specs}
    if not specs[0].startswith(("loganalytics:", "loganalytics-resource:")) or kinds - {
        "loganalytics",
        "loganalytics-resource",
    }:
        raise KitError(
            "several --source values are unioned by Log Analytics itself: give loganalytics:WORKSPACE_ID "
            "values (the first may be loganalytics-resource:RESOURCE_ID), not " + ", ".join(sorted(kinds))
        )
    others = []
    for spec in specs[1:]:
        kind, _, rest = spec.partition(":")
        if kind != "loganalytics":
            raise KitError(f"only the first --source may be resource-scoped, not {spec!r}")
        others.append(check_workspace_id(rest))
    return others


def open_source(spec: str | Sequence[str], mode: str | None = None, options: SourceOptions | None = None) -> Source:
    """``sample``, ``file:PATH``, ``loganalytics:WORKSPACE_ID``, ``loganalytics-resource:RESOURCE_ID``,
    ``kusto:https://CLUSTER/DATABASE`` or ``cache:DIR``; several workspaces are queried as one.

    Local kinds detect the logging mode from the file; Azure kinds cannot look, so
    they query ``mode`` (``resource`` when None). Azure SDKs are imported only for
    Azure kinds. Every result comes back with its credentials masked (``Scrubbed``; a cache masks
    what it reads back), and with ``options.cache`` is kept there and reused (see
    ``analysis.sources.cache``). An unknown kind is a ``KitError`` listing the known ones.
    """
    options = options or SourceOptions()
    specs = split_specs(spec) if isinstance(spec, str) else list(spec)
    if not specs:
        raise KitError("no source given")
    more = _workspaces(specs) if len(specs) > 1 else []
    if options.offline and options.cache is not None and not specs[0].startswith("cache:"):
        from analysis.sources.cache import CacheReplay, cache_folder

        return CacheReplay.open(cache_folder(options.cache, specs, mode), mode)
    source = _open_one(specs[0], mode, options, more)
    if specs[0].startswith("cache:"):
        return source  # a cache masks what it reads back itself
    source = Scrubbed(source)
    if options.cache is None:
        return source
    from analysis.sources.cache import CachedSource

    return CachedSource.wrap(source, specs, options.cache, refresh=options.refresh)


def split_specs(text: str) -> list[str]:
    """One parameter text naming several workspaces (``loganalytics:A,loganalytics:B``) as a list.

    >>> split_specs("loganalytics:a,loganalytics:b"), split_specs("file:x,y.csv")
    (['loganalytics:a', 'loganalytics:b'], ['file:x,y.csv'])
    """
    return text.split(",") if text.startswith("loganalytics") else [text]
