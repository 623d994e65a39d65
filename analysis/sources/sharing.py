"""What a report may show of its source: a description without local paths, and with ``--redact`` pseudonyms.

A report is mailed to people who do not need to know where the export lay on the on-call
engineer's disk, nor (outside the team) which client IPs, subscriptions, users and people called
the API. ``SharedSource`` wraps a source at the edge of the data path: the investigation sees the
same rows, with caller IPs, subscription ids and user ids replaced by stable pseudonyms when asked,
and every email address and IPv4 or IPv6 address (in any of its spellings) in every other text
replaced alike, so every output made from them (findings, saved results, notebook, HTML) carries
only those. The backend destinations keep their names (an IP-addressed backend's included): they
are what the report is about and the key every later query asks by. Credentials are masked
before any of this, redacted or not (``analysis.safety.credentials``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from analysis.query.modes import Mode
from analysis.safety.credentials import each_text, is_text
from analysis.sources.base import Request, Source, Wrapping

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
#: Columns that name a backend destination: kept as they are (see the module docstring).
DESTINATION_COLUMNS = frozenset({"destination", "Destination", "host", "Host", "pool"})
# Free text may quote an email address, an IPv4 address or an IPv6 address in any spelling
# (full, compressed, with an IPv4 tail or a zone); a candidate IPv6 is replaced only if it is one.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f:.]*[0-9A-Fa-f])"
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![0-9A-Za-z:])"
)
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_PSEUDONYM = re.compile(r"(?:ip|subscription|user|email)-[0-9a-f]{10}")


def _address(text: str) -> str | None:
    """``text`` as the one spelling of its IP address (an IPv4-mapped IPv6 one as IPv4), or None.

    >>> _address("2001:DB8:0:0:0:0:0:1"), _address("::ffff:10.0.0.1"), _address("09:19:25")
    ('2001:db8::1', '10.0.0.1', None)
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


class Pseudonyms:
    """Stable stand-ins: the same value of a kind always gets the same name under one key.

    Keyed (HMAC-SHA256), so nobody without the key can hash the 2^32 IPv4 addresses and undo them.
    An IP address is named by its one spelling, so ``2001:db8::1`` and ``2001:DB8:0:0:0:0:0:1`` agree.

    >>> names = Pseudonyms(b"k")
    >>> names("ip", "40.114.201.66") == names("ip", "40.114.201.66"), names("ip", "40.114.201.66")[:3]
    (True, 'ip-')
    >>> names("ip", ""), names("ip", names("ip", "10.0.0.1")) == names("ip", "10.0.0.1")
    ('', True)
    >>> names("ip", "2001:db8::1") == names("ip", "2001:DB8:0:0:0:0:0:1")
    True
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
        if kind == "ip":
            value = _address(value.strip()) or value
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:10]}"

    def text(self, value: str) -> str:
        """Free text with every email address and IP address in it replaced.

        >>> names = Pseudonyms(b"k")
        >>> said = names.text("A.B@contoso.com from 2001:db8::1, [::ffff:10.0.0.1]:443 or 10.0.0.1 at 09:19:25")
        >>> said == (f"{names('email', 'a.b@contoso.com')} from {names('ip', '2001:db8::1')}, "
        ...          f"[{names('ip', '10.0.0.1')}]:443 or {names('ip', '10.0.0.1')} at 09:19:25")
        True
        """
        value = _EMAIL.sub(lambda m: self("email", m.group(0).lower()), value)
        value = _IPV6.sub(lambda m: self("ip", m.group(0)) if _address(m.group(0)) else m.group(0), value)
        return _IPV4.sub(lambda m: self("ip", m.group(0)), value)

    def frame(self, result: pd.DataFrame) -> pd.DataFrame:
        """A query result with identities replaced: identity columns, load-driver keys of those kinds, and
        the addresses in every other text column but the destinations'."""
        redacted = result.copy()
        for column in redacted.columns:
            if column in DESTINATION_COLUMNS or not is_text(redacted[column]):
                continue
            kind = IDENTITY_COLUMNS.get(str(column))
            redacted[column] = each_text(redacted[column], partial(self, kind) if kind else self.text)
        if {"key", "key_kind"} <= set(redacted.columns):
            redacted["key"] = [
                self(IDENTITY_KEYS[kind], raw) if kind in IDENTITY_KEYS and isinstance(raw, str) else shown
                for kind, raw, shown in zip(result["key_kind"], result["key"], redacted["key"], strict=True)
            ]
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
        return f"local file {Path(rest).name} ({', '.join(Mode(source.mode).tables)})"
    if spec == "sample":
        return f"the sample incident ({', '.join(Mode(source.mode).tables)})"
    return source.description


@dataclass
class SharedSource(Wrapping):
    """``source`` as a report shows it (see the module docstring); runs, ranges and closes through it."""

    inner: Source
    shown_as: str
    """Its description without local paths (``describe``): ``description``."""
    pseudonyms: Pseudonyms | None = None

    @property
    def description(self) -> str:
        return self.shown_as

    def _shown(self, result: pd.DataFrame) -> pd.DataFrame:
        return self.pseudonyms.frame(result) if self.pseudonyms else result

    def run(self, kql: str) -> pd.DataFrame:
        return self._shown(self.inner.run(kql))

    def run_request(self, request: Request) -> pd.DataFrame:
        """A packaged query, handed on as a request, so a cache or a split behind this still sees it."""
        return self._shown(self.inner.run_request(request))


def shared(spec: str, source: Source, redact: bool = False) -> SharedSource:
    """``source`` (opened from ``spec``) described without local paths, redacted when asked."""
    return SharedSource(source, describe(spec, source), Pseudonyms.from_environment() if redact else None)
