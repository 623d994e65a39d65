"""A gateway log export with markup in every string column: what anyone calling the API can write into the logs.

Built from the sample incident (same traffic, so the same SNAT exhaustion), with every documented string
column carrying scripts, event handlers, Markdown links and images, mathtext and fences. Each payload
names its column, so a leak says where it came from. Nothing random: the same rows every time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.query.schema import GATEWAY_LOGS, kusto_types

# Anything here that runs sets the title, opens a dialog or asks the (unresolvable) host "canary".
MARKUP = (
    '<script>document.title="ran"</script>',
    '<img src="http://canary.invalid/{tag}.png" onerror="alert(1)">',
    '[link](javascript:alert("{tag}"))',
    "![beacon](http://canary.invalid/{tag}-beacon.png)",
    "<svg onload=alert(1)>",
    "$\\foo{{$",
    "```",
    "<!--",
    "</table></div><h2>{tag}</h2>",
    "{{{{7*7}}}}",
    "\n# heading\n",
)
# Hosts cannot hold '/', ':', '?' or '#', so their markup is shorter; parse_url keeps all of it.
HOSTS = {
    "orders.contoso-backend.com": "orders<script>document.title='ran'<.contoso-backend.com",
    "inventory.azurewebsites.net": "inventory<img src=x onerror=alert(1)>.azurewebsites.net",
    "payments.contoso.com": "payments<svg onload=alert(1)>.contoso.com",
    "legacy-erp.fabrikam.net": "legacy-erp$\\foo{$.fabrikam.net",
    "shipping.fabrikam.net": "_shipping<!--.fabrikam.net",
    "search.cloudapp.azure.com": "search{{7*7}}<b>.cloudapp.azure.com",
}
# Planted in every row: these columns reach the report as values (tables, drivers, messages).
SHOWN_COLUMNS = (
    "ApiId",
    "OperationId",
    "ApimSubscriptionId",
    "CallerIpAddress",
    "LastErrorMessage",
    "LastErrorSection",
)
# Every other string column is planted in one row of PLANT_EVERY, so the reasons, error sources, regions,
# methods and cache states the diagnosis counts keep their meaning in the other rows.
PLANT_EVERY = 7
FILE_NAME = "logs<img src=x onerror=alert(1)>[x](javascript:alert(1)).parquet"


def payload(tag: str) -> str:
    """Every piece of markup, naming ``tag``."""
    return "".join(piece.format(tag=tag) for piece in MARKUP)


def hostile_hosts(url: pd.Series) -> pd.Series:
    """BackendUrl with each sample host replaced by its hostile twin."""
    for host, twin in HOSTS.items():
        url = url.str.replace(f"//{host}", f"//{twin}", regex=False)
    return url


def plant(logs: pd.DataFrame) -> pd.DataFrame:
    """``logs`` with markup in every string column (see the module docstring)."""
    planted = logs.copy()
    every = planted.index % PLANT_EVERY == 0
    for column, kusto_type in kusto_types(GATEWAY_LOGS).items():
        if kusto_type != "string" or column not in planted:
            continue
        if column == "BackendUrl":
            planted[column] = hostile_hosts(planted[column])
        elif column in SHOWN_COLUMNS:
            planted[column] = planted[column] + payload(column)
        else:
            planted.loc[every, column] = planted.loc[every, column] + payload(column)
    return planted


def write_hostile_export(logs: pd.DataFrame, folder: Path) -> Path:
    """The planted export as Parquet, under a file name that is markup too."""
    path = folder / FILE_NAME
    plant(logs).to_parquet(path, index=False)
    return path


# Credentials the logs may quote, each a distinctive text that must reach no output, redacted or not.
SECRETS = {
    "token as user name": "TOKENa1b2c3d4e5f6a7b8c9d0",
    "password with @": "Pa55@w0rd@xyz",
    "functions key": "FUNCKEYq9w8e7r6t5y4u3i2o1",
    "SAS signature": "SIGz1x2c3v4b5n6m7%2B8",
    "subscription key": "SUBKEY0f9e8d7c6b5a4",
    "api key": "APIKEYm1n2b3v4c5x6",
    "password": "hunter2hunter2",
    "access token (a JWT)": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcmRlcnMifQ.c2lnbmF0dXJlLXBhcnQ",
    "bearer token": "BEARERp0o9i8u7y6t5r4e3w2",
    "basic credentials": "dXNlcjpzM2NyM3RCQVNJQw==",
}
# What --redact must replace in free text besides caller IPs: an email, IPv4, and compressed and mapped IPv6.
PERSONAL = {"email": "alice.doe@contoso.com", "ipv4": "192.0.2.44", "ipv6": "2001:db8::7", "mapped": "::ffff:10.9.8.7"}
CREDENTIAL_MESSAGE = (
    " (GET https://fn.azurewebsites.net/api/orders?code={functions key}&sig={SAS signature}&sv=2022-11-02"
    "&subscription-key={subscription key}&api-key={api key}&password={password}"
    "#access_token={access token (a JWT)} Authorization: Bearer {bearer token}"
    " Proxy-Authorization: Basic {basic credentials} caller {email} from {ipv4} via {ipv6} and {mapped})"
)
# Backend URLs quoting credentials as user information: the token alone, and a password holding "@".
USERINFO_HOSTS = {
    "orders.contoso-backend.com": "{token as user name}@orders.contoso-backend.com",
    "inventory.azurewebsites.net": "svc:{password with @}@inventory.azurewebsites.net",
}


def plant_credentials(logs: pd.DataFrame) -> pd.DataFrame:
    """``logs`` with the SECRETS in backend URLs and in every error message (and the PERSONAL data with them)."""
    planted = logs.copy()
    values = {**SECRETS, **PERSONAL}
    url = planted["BackendUrl"]
    for host, twin in USERINFO_HOSTS.items():
        url = url.str.replace(f"//{host}", "//" + twin.format(**values), regex=False)
    planted["BackendUrl"] = url
    failed = planted["LastErrorMessage"].fillna("") != ""
    planted.loc[failed, "LastErrorMessage"] = planted.loc[failed, "LastErrorMessage"] + CREDENTIAL_MESSAGE.format(
        **values
    )
    return planted
