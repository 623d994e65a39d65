"""What a report may show of its source: a description without local paths, and with ``--redact`` pseudonyms.

A report is mailed to people who do not need to know where the export lay on the on-call
engineer's disk, nor (outside the team) which client IPs, subscriptions and users called the API.
``SharedSource`` wraps a source at the edge of the data path: the investigation sees the same
rows, with caller IPs, subscription ids and user ids replaced by stable pseudonyms when asked,
so every output made from them (findings, saved results, notebook, HTML) carries only those.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.modes import Mode
from analysis.sources import Request, Source, Wrapping, run_request

#: Set to any text to get the same pseudonyms in every report made with it (a fleet run sets one).
KEY_VARIABLE = "APIM_SNAT_REDACT_KEY"
# Raw columns, in either logging mode, that name who called; and the load-driver keys of those kinds.
IDENTITY_COLUMNS = {
    "CallerIpAddress": "ip",
    "callerIpAddress_s": "ip",
    "ApimSubscriptionId": "subscription",
    "apimSubscriptionId_s": "subscription",
    "UserId": "user",
    "userId_s": "user",
}
IDENTITY_KEYS = {"caller_ip": "ip", "caller_range": "ip", "subscription": "subscription", "user": "user"}
# Free text (error messages) may quote an address; IPv4 and IPv6 are replaced there too.
_ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")


_PSEUDONYM = re.compile(r"(?:ip|subscription|user)-[0-9a-f]{10}")


class Pseudonyms:
    """Stable stand-ins: the same value of a kind always gets the same name under one key.

    Keyed (HMAC-SHA256), so nobody without the key can hash the 2^32 IPv4 addresses and undo them.

    >>> names = Pseudonyms(b"k")
    >>> names("ip", "40.114.201.66") == names("ip", "40.114.201.66"), names("ip", "40.114.201.66")[:3]
    (True, 'ip-')
    >>> names("ip", ""), names("ip", names("ip", "10.0.0.1")) == names("ip", "10.0.0.1")
    ('', True)
    """

    def __init__(self, key: bytes):
        self._key = key

    @classmethod
    def from_environment(cls) -> Pseudonyms:
        """Under ``KEY_VARIABLE`` when set (stable across reports), else a key of this run only."""
        given = os.environ.get(KEY_VARIABLE)
        return cls(given.encode() if given else secrets.token_bytes(32))

    def __call__(self, kind: str, value: str) -> str:
        if not value or _PSEUDONYM.fullmatch(value):  # a redacted report's results, rendered again
            return value
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:10]}"

    def text(self, value: str) -> str:
        """Free text with every IP address in it replaced."""
        return _ADDRESS.sub(lambda m: self("ip", m.group(0)), value)

    def frame(self, result: pd.DataFrame) -> pd.DataFrame:
        """A query result with identities replaced: identity columns, load-driver keys and message text."""
        redacted = result.copy()
        for column, kind in IDENTITY_COLUMNS.items():
            if column in redacted:
                redacted[column] = redacted[column].map(lambda v, k=kind: self(k, v) if isinstance(v, str) else v)
        if {"key", "key_kind"} <= set(redacted.columns):
            redacted["key"] = [
                self(IDENTITY_KEYS[kind], key) if kind in IDENTITY_KEYS and isinstance(key, str) else key
                for kind, key in zip(redacted["key_kind"], redacted["key"], strict=True)
            ]
        for column in (c for c in redacted.columns if "message" in str(c).lower()):
            redacted[column] = redacted[column].map(lambda v: self.text(v) if isinstance(v, str) else v)
        redacted.attrs = dict(result.attrs)
        return redacted


def shown_spec(spec: str) -> str:
    """The source named as a report may show it: a file by its name only.

    >>> shown_spec("file:/home/me/incident/logs.parquet"), shown_spec("sample")
    ('file:logs.parquet', 'sample')
    >>> shown_spec("cache:/home/me/reports/incident-42/results")
    'cache:results'
    """
    kind, _, rest = spec.partition(":")
    return f"{kind}:{Path(rest).name}" if kind in ("file", "cache") and rest else spec


def describe(spec: str, source: Source) -> str:
    """A source's description without local paths: the file's name, the sample, or the Azure resource."""
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return f"local file {Path(rest).name} ({Mode(source.mode).table})"
    if spec == "sample":
        return f"the sample incident ({Mode(source.mode).table})"
    return source.description


@dataclass
class SharedSource(Wrapping):
    """``source`` as a report shows it (see the module docstring); runs, ranges and closes through it."""

    inner: Source
    description: str
    pseudonyms: Pseudonyms | None = None
    mode: str = field(init=False)

    def __post_init__(self) -> None:
        self.mode = self.inner.mode

    def _shown(self, result: pd.DataFrame) -> pd.DataFrame:
        return self.pseudonyms.frame(result) if self.pseudonyms else result

    def run(self, kql: str) -> pd.DataFrame:
        return self._shown(self.inner.run(kql))

    def run_request(self, request: Request) -> pd.DataFrame:
        """A packaged query, handed on as a request, so a cache or a split behind this still sees it."""
        return self._shown(run_request(self.inner, request))


def shared(spec: str, source: Source, redact: bool = False) -> SharedSource:
    """``source`` (opened from ``spec``) described without local paths, redacted when asked."""
    return SharedSource(source, describe(spec, source), Pseudonyms.from_environment() if redact else None)
