"""A gateway log export with markup in every string column: what anyone calling the API can write into the logs.

Built from the sample incident (same traffic, so the same SNAT exhaustion), with every documented string
column carrying scripts, event handlers, Markdown links and images, mathtext and fences. Each payload
names its column, so a leak says where it came from. Nothing random: the same rows every time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.schema import GATEWAY_LOGS, kusto_types

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
