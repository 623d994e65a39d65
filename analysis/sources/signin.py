"""How the kit signs in to Azure (``--auth``), and one line for a person when it cannot.

Each choice is one azure-identity credential. ``default`` tries the usual places in
turn (environment, workload and managed identity, ``az login``, ...); the others pin
one of them, which is faster and says more precisely what failed. A device-code
prompt goes to stderr, so that ``--format csv`` output stays clean.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from analysis.errors import KitError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def _device_code_prompt(uri: str, code: str, expires: datetime) -> None:
    from tqdm import tqdm

    # Through tqdm, so that a query's clock on the same terminal steps aside instead of running into the line.
    tqdm.write(
        f"apim-snat: to sign in, open {uri} and enter the code {code} (valid until {expires:%H:%M} UTC)",
        file=sys.stderr,
    )


def _default(tenant: str | None) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _cli(tenant: str | None) -> TokenCredential:
    from azure.identity import AzureCliCredential

    return AzureCliCredential(tenant_id=tenant or "")


def _device_code(tenant: str | None) -> TokenCredential:
    from azure.identity import DeviceCodeCredential

    return DeviceCodeCredential(tenant_id=tenant or "organizations", prompt_callback=_device_code_prompt)


def _managed_identity(tenant: str | None) -> TokenCredential:
    from azure.identity import ManagedIdentityCredential

    client_id = os.environ.get("AZURE_CLIENT_ID")
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def _environment(tenant: str | None) -> TokenCredential:
    from azure.identity import EnvironmentCredential

    return EnvironmentCredential()


@dataclass(frozen=True)
class SignIn:
    """One ``--auth`` choice: how its credential is made, whether ``--tenant`` applies, what to do when it fails."""

    make: Callable[[str | None], TokenCredential]
    takes_tenant: bool
    hint: str


AUTH: dict[str, SignIn] = {
    "default": SignIn(
        _default, False, "run 'az login', or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
    ),
    "cli": SignIn(_cli, True, "run 'az login' (with --tenant when the workspace is in another tenant)"),
    "device-code": SignIn(_device_code, True, "open the address shown and enter the code before it expires"),
    "managed-identity": SignIn(
        _managed_identity, False, "run on an Azure host with a managed identity that has access"
    ),
    "environment": SignIn(_environment, False, "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"),
}
DEFAULT_AUTH = "default"


def check_auth(auth: str, tenant: str | None = None) -> str:
    """A known ``--auth`` choice that takes ``--tenant`` when one is given; anything else is a ``KitError``."""
    if auth not in AUTH:
        raise KitError(f"unknown sign-in {auth!r} (use one of: {', '.join(AUTH)})")
    if tenant and not AUTH[auth].takes_tenant:
        raise KitError(f"--tenant applies to --auth cli or device-code; --auth {auth} takes the tenant from Azure")
    return auth


def make_credential(auth: str = DEFAULT_AUTH, tenant: str | None = None) -> TokenCredential:
    """The azure-identity credential for ``--auth``; nothing is contacted until the first token."""
    sign_in = AUTH[check_auth(auth, tenant)]
    try:
        return sign_in.make(tenant)
    except ValueError as err:  # azure-identity checks a tenant id's characters
        raise KitError(f"--tenant {tenant!r}: {err}") from None


def sign_in_hint(auth: str) -> str:
    """What to do when the credential of ``--auth`` gave no token."""
    return AUTH.get(auth, AUTH[DEFAULT_AUTH]).hint


def quiet_sdk_logging(verbose: bool = False) -> None:
    """Azure SDK log lines (azure-identity prints several per failed sign-in) only with ``--verbose``.

    The kit says what failed in one line of its own; the SDK's lines repeat it at length.
    """
    logging.getLogger("azure").setLevel(logging.NOTSET if verbose else logging.CRITICAL)
