"""A report's request as one typed value: what to read, over which window, how, under which assumptions.

The command line makes it from its arguments (an earlier report's parameters under them when that
report's results are the source, ``from_folder``); the notebook's kernel makes the same from its
papermill parameters. Papermill hands plain text, numbers and flags over, so ``parameters`` and
``from_parameters`` are the two directions of one mapping: a request handed to the notebook comes back
equal, its IP map as the copy ``render`` keeps in the report folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.assets import SAMPLE_SOURCE
from analysis.diagnosis import annotations as notes
from analysis.diagnosis.annotations import Annotation
from analysis.diagnosis.assumptions import Assumptions, from_params, param_text
from analysis.diagnosis.pools import IpMap, parse_ip_map
from analysis.query.modes import Mode, check_mode
from analysis.report.from_folder import under_earlier
from analysis.report.platform_metric import MetricTarget, metric_target
from analysis.safety.untrusted import Bound, read_text
from analysis.sources import split_specs
from analysis.times import user_window

#: Given as ``--param incident_id=...``, like an assumption, but it names the incident in the postmortem's title.
INCIDENT_ID = "incident_id"
#: The assumptions' names among the notebook's parameters.
SETTINGS = tuple(f.name for f in dataclasses.fields(Assumptions))


def read_ip_map(path: str | Path, follow: bool = True) -> IpMap:
    """The ``--ip-map`` file (CSV ``host,ip``); an unreadable, oversized or malformed one is a ``KitError``.

    ``follow`` a symbolic link only for a map the user named, never for a report folder's copy.
    """
    name = f"--ip-map {Path(path).name}"
    return parse_ip_map(read_text(Path(path), Bound.IP_MAP, name, follow), name)


def _time(value: pd.Timestamp | None) -> str:
    return value.isoformat() if value is not None else ""


@dataclass(frozen=True)
class ReportRequest:
    """One report's request; a window end or a mode left None is the source's to tell."""

    sources: tuple[str, ...] = (SAMPLE_SOURCE,)
    """Source specs (``sample``, ``file:PATH``, ...); several workspaces are queried as one."""
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    mode: Mode | None = None
    metric: MetricTarget | None = None
    """The service whose platform metric to set beside the logs; None for none (a cache replay may hold one)."""
    redact: bool = False
    """Caller IPs, subscription ids and user ids as pseudonyms in every output."""
    annotations: tuple[Annotation, ...] = ()
    ip_map: IpMap | None = field(default=None, repr=False)
    """Hosts on one IP share one SNAT pool; None: one pool per host."""
    portal_resource: str = ""
    """The resource whose Log Analytics the appendix links open; "": the source's or the metric's."""
    incident_id: str = ""
    assumptions: Assumptions = field(default_factory=Assumptions)

    @classmethod
    def from_parameters(
        cls,
        given: Mapping[str, Any],
        params: Mapping[str, str] | None = None,
        *,
        window_names: tuple[str, str] = ("start", "end"),
        follow_ip_map: bool = False,
    ) -> ReportRequest:
        """The request of the notebook's parameters ``given`` (any other name in it is not read) and of
        ``--param`` texts ``params``, which come after ``given``'s assumptions and incident id.

        Every value is checked here, before any query; a bad one is a ``KitError`` naming it as
        ``window_names`` and ``--param`` do. ``ip_map`` in ``given`` is the path of a ``host,ip`` file.
        """
        texts = {name: param_text(given[name]) for name in (*SETTINGS, INCIDENT_ID) if name in given}
        texts.update(params or {})  # the last one wins
        incident_id = texts.pop(INCIDENT_ID, "").strip()
        assumptions = from_params(texts)
        annotations = tuple(notes.loads(given.get("annotations") or ""))
        start, end = user_window(given.get("start"), given.get("end"), window_names)
        path = given.get("ip_map")
        ip_map = read_ip_map(path, follow=follow_ip_map) if path else None  # read once, before any query
        source = given.get("source", SAMPLE_SOURCE)
        sources = tuple(split_specs(source) if isinstance(source, str) else source)
        return cls(
            sources=sources,
            start=start,
            end=end,
            mode=check_mode(given["mode"]) if given.get("mode") else None,
            metric=metric_target(sources, given.get("metrics_resource"), given.get("metrics_region")),
            redact=bool(given.get("redact")),
            annotations=annotations,
            ip_map=ip_map,
            portal_resource=given.get("portal_resource") or "",
            incident_id=incident_id,
            assumptions=assumptions,
        )

    @classmethod
    def from_command_line(
        cls,
        given: Mapping[str, Any],
        params: Mapping[str, str],
        window_names: tuple[str, str],
        say: Callable[[str], None],
    ) -> ReportRequest:
        """The request of the command line's ``given`` parameters (None or "" for one it does not give) and
        ``--param`` texts, over an earlier report's when that report's results are the only source."""
        merged = under_earlier(given, say)
        named_map = bool(given.get("ip_map"))  # an earlier report's copy of its map is never followed out
        return cls.from_parameters(merged, params, window_names=window_names, follow_ip_map=named_map)

    def parameters(self, ip_map: str = "") -> dict[str, Any]:
        """The notebook's parameters of this request; ``ip_map`` is the file holding its map ("" for none)."""
        metric = self.metric or MetricTarget("", "")
        return {
            "source": ",".join(self.sources),
            "start": _time(self.start),
            "end": _time(self.end),
            "mode": self.mode.value if self.mode else "",
            "metrics_resource": metric.resource,
            "metrics_region": metric.region,
            "redact": self.redact,
            "annotations": notes.dumps(list(self.annotations)),
            "ip_map": ip_map,
            INCIDENT_ID: self.incident_id,
            # Left out at its notebook default, as the command line never sets it.
            **({"portal_resource": self.portal_resource} if self.portal_resource else {}),
            **self.assumptions.as_dict(),
        }
