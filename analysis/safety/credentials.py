"""Credentials never leave: the one place that masks them in any string the kit shows or keeps.

The gateway logs quote what callers and policies sent: a backend URL with a token as its user name,
an error message quoting a URL with ``?code=`` (an Azure Functions key), ``sig=`` (a SAS signature),
``subscription-key=`` or ``access_token=``, an ``Authorization: Bearer`` header, a bare JWT. Every
query result passes through ``scrub_frame`` where it comes back from its source (before it is kept in
the cache), and every error line through ``scrub``, so no message, sample, saved result, notebook or
findings.json carries one, with or without ``--redact``. A credential is masked, its name kept
(``sig=***``), so the reader still sees that one was there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MASK = "***"
# The last part of a parameter or header name that says it holds a credential (any case).
_SECRET_WORDS = r"(?:key|token|secret|password|passwd|pwd|passphrase|signature|sig|credentials?)"
_NAME_CHARACTERS = r"A-Za-z0-9_.\-"
# A name ending in one of those words (``subscription-key``, ``AccountKey``, ``access_token``, ``sig``),
# or one of the short names that hold a credential on their own (``code``: Azure Functions, OAuth).
_NAME = rf"(?<![{_NAME_CHARACTERS}])(?:[{_NAME_CHARACTERS}]*{_SECRET_WORDS}|code|auth)(?![{_NAME_CHARACTERS}])"
# A header name with a hyphen ending in one of those words: Ocp-Apim-Subscription-Key, x-functions-key.
_HEADER = rf"(?<![{_NAME_CHARACTERS}])[A-Za-z0-9_]+-[{_NAME_CHARACTERS}]*{_SECRET_WORDS}"
_VALUE = r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s&;,\"'<>]+)"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # https://user:password@host/ and https://TOKEN@host/: the user information goes (up to the last @).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#]*@"), r"\1"),
    # Authorization: Bearer|Basic|SharedAccessSignature ... (a header, or quoted as name=value or JSON).
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[a-z][\w\-]*\s+)?)[^\s\"',;]+"),
        rf"\1{MASK}",
    ),
    # Bearer TOKEN anywhere (a token68 of 8 characters or more).
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*"), rf"\1{MASK}"),
    # name=value in a query string, a connection string or free text; "name": "value" in JSON.
    (re.compile(rf"(?i)({_NAME}\s*=\s*){_VALUE}"), rf"\1{MASK}"),
    (re.compile(rf"(?i)([\"']{_NAME}[\"']\s*:\s*){_VALUE}"), rf"\1{MASK}"),
    # A header such as Ocp-Apim-Subscription-Key: VALUE or x-functions-key: VALUE (a port number is no value).
    (re.compile(rf"(?i)({_HEADER}\s*:\s*)(?!\d+\b){_VALUE}"), rf"\1{MASK}"),
    # A JSON Web Token anywhere: three base64url parts, the first a JSON object ("eyJ").
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"), MASK),
)
# Cheap test first: a text holding none of these pieces (in lower case) is one no rule can touch.
_HINTS = ("@", "auth", "bearer", "eyj", "key", "token", "secret", "pass", "pwd", "sig", "credential", "code")


def scrub(text: str) -> str:
    """``text`` with every credential in it masked.

    >>> scrub("https://TOKEN@orders.contoso.com/api?code=abc123&x=1")
    'https://orders.contoso.com/api?code=***&x=1'
    >>> scrub("https://user:p@ss@host/?sig=a%2Fb&sv=2022-11-02 failed")
    'https://host/?sig=***&sv=2022-11-02 failed'
    >>> scrub("Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl; subscription-key=k1 password='x y'")
    'Authorization: Bearer ***; subscription-key=*** password=***'
    >>> scrub('{"client_secret": "s3cr3t", "name": "orders"} Ocp-Apim-Subscription-Key: 0123abcd')
    '{"client_secret": ***, "name": "orders"} Ocp-Apim-Subscription-Key: ***'
    >>> scrub("orders.contoso.com:443 at 2025-02-25T09:00:00Z"), scrub("vault-key:443")
    ('orders.contoso.com:443 at 2025-02-25T09:00:00Z', 'vault-key:443')
    """
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def is_text(values: pd.Series) -> bool:
    """Whether a column holds text (the only place a credential or an address can be): object, str, string
    and Arrow string columns alike."""
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(values.dtype))


def each_text(values: pd.Series, change: Callable[[str], str]) -> pd.Series:
    """``values`` with ``change`` applied to each text in it, once per distinct text (a column of a few
    destinations over a million rows costs a few calls); ``values`` itself when nothing changes."""
    import pandas as pd

    changed = {v: c for v in pd.unique(values.dropna()) if isinstance(v, str) and (c := change(v)) != v}
    return values.map(lambda v: changed.get(v, v) if isinstance(v, str) else v) if changed else values


def scrub_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every credential in its text cells and warnings masked (the same frame when none).

    Columns are taken by position: an ad-hoc query may name two alike.
    """
    changed = {}
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        masked = each_text(values, scrub) if is_text(values) else values
        if masked is not values:
            changed[position] = masked
    warnings = frame.attrs.get("warnings") or []
    if not changed and not any(isinstance(w, str) and scrub(w) != w for w in warnings):
        return frame
    scrubbed = frame.copy(deep=False)
    for position, values in changed.items():
        scrubbed.isetitem(position, values)
    scrubbed.attrs = {**frame.attrs, "warnings": [scrub(w) if isinstance(w, str) else w for w in warnings]}
    return scrubbed
