"""Credentials the logs quote are masked wherever a result comes back, before anything keeps or shows it."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.investigation.run import run_query
from analysis.safety.credentials import MASK, scrub, scrub_frame
from analysis.sources import SourceOptions, open_source
from analysis.sources.cache import CacheFolder, CacheReplay
from tests.hostile import SECRETS, plant_credentials

WINDOW = {"start": pd.Timestamp("2025-02-25 08:30"), "end": pd.Timestamp("2025-02-25 10:30")}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("https://fn.azurewebsites.net/api/x?code=K3y==&name=a", "https://fn.azurewebsites.net/api/x?code=***&name=a"),
        ("?sv=2022-11-02&sig=AbC%2Fd%3D&se=2025", "?sv=2022-11-02&sig=***&se=2025"),
        (
            "?subscription-key=0123abcd&api-key=k&x-functions-key=f",
            "?subscription-key=***&api-key=***&x-functions-key=***",
        ),
        ("password=hunter2 pwd='a b' client_secret=s", "password=*** pwd=*** client_secret=***"),
        (
            "#access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig&token_type=Bearer",
            "#access_token=***&token_type=Bearer",
        ),
        ("refresh_token=r1&id_token=i1&token=t1", "refresh_token=***&id_token=***&token=***"),
        (
            "AccountName=x;AccountKey=abc+/==;SharedAccessSignature=sv=1&sig=s",
            "AccountName=x;AccountKey=***;SharedAccessSignature=***&sig=***",
        ),
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer ***"),
        ("authorization=Basic dXNlcjpwYXNz", "authorization=Basic ***"),
        ("Ocp-Apim-Subscription-Key: 0123abcd", "Ocp-Apim-Subscription-Key: ***"),
        ('{"password": "x", "user": "y"}', '{"password": ***, "user": "y"}'),
        ("failed with eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln in it", f"failed with {MASK} in it"),
    ],
)
def test_each_kind_of_credential_is_masked_and_its_name_kept(text, masked):
    assert scrub(text) == masked
    assert scrub(masked) == masked


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://TOKEN@orders.contoso.com/api", "https://orders.contoso.com/api"),
        ("https://user:p@ss@w0rd@orders.contoso.com:8443/api?x=1", "https://orders.contoso.com:8443/api?x=1"),
        ("see wss://u:pw@10.0.0.5/socket and http://a@b/c", "see wss://10.0.0.5/socket and http://b/c"),
    ],
)
def test_user_information_goes_from_every_url(url, kept):
    assert scrub(url) == kept


@pytest.mark.parametrize(
    "text",
    [
        "A connection attempt failed because the connected party did not properly respond after a period of time",
        "orders.contoso.com:443",
        "vault-key.contoso.com:8443",
        "2025-02-25T09:19:25.391Z",
        "[fe80::1%eth0]:443 and 2001:db8::1",
        "WWW-Authenticate: Bearer realm",
        "alice@contoso.com",
    ],
)
def test_what_holds_no_credential_is_left_as_it_is(text):
    assert scrub(text) == text


def test_a_frame_is_masked_in_its_text_columns_and_warnings_and_left_alone_without_credentials():
    frame = pd.DataFrame({"destination": ["a:443"] * 3, "sample_message": ["x?sig=s1", None, "ok"], "n": [1, 2, 3]})
    frame.attrs = {"warnings": ["cut at https://u:p@host/"], "complete": False}
    masked = scrub_frame(frame)
    assert masked["sample_message"].fillna("(none)").tolist() == ["x?sig=***", "(none)", "ok"]
    assert masked["n"].tolist() == [1, 2, 3]
    assert masked.attrs == {"warnings": ["cut at https://host/"], "complete": False}
    assert frame["sample_message"][0] == "x?sig=s1"  # the frame handed in is not changed
    clean = frame.iloc[[2]].assign(sample_message=["ok"])
    clean.attrs = {"warnings": []}
    assert scrub_frame(clean) is clean


@pytest.fixture(scope="module")
def planted_export(incident, tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "logs.parquet"
    plant_credentials(incident("sample").logs).to_parquet(path, index=False)
    return path


def secrets_in(frame: pd.DataFrame) -> list[str]:
    cells = " ".join(str(v) for column in frame for v in frame[column].tolist())
    return [what for what, secret in SECRETS.items() if secret in cells]


def test_results_are_masked_where_they_come_back_from_a_source_or_a_cache(planted_export, tmp_path):
    """From the export, into the cache, and back out of a cache an earlier kit (or anyone) wrote unmasked."""
    options = SourceOptions(cache=tmp_path / "cache")
    source = open_source(f"file:{planted_export}", options=options)
    try:
        errors = run_query(source, "error_breakdown", WINDOW)
        raw = source.run("ApiManagementGatewayLogs | project BackendUrl, LastErrorMessage | take 5000")
    finally:
        source.close()
    assert "sig=***" in " ".join(errors.result["sample_message"]) and not secrets_in(errors.result)
    assert not secrets_in(raw) and not [u for u in raw["BackendUrl"] if "@" in u]
    kept = next(source.folder.path.glob("error_breakdown-*.parquet"))
    assert not secrets_in(pd.read_parquet(kept))
    # A folder whose results were kept unmasked is masked as it is read back.
    unmasked = errors.result.assign(sample_message=f"GET /x?sig={SECRETS['SAS signature']}")
    folder = CacheFolder.create(tmp_path / "old", "old", "resource")
    folder.store("error_breakdown", errors.kql, errors.parameters, unmasked)
    assert secrets_in(pd.read_parquet(next(folder.path.glob("*.parquet")))) == ["SAS signature"]
    replayed = CacheReplay.open(folder.path).folder.load("error_breakdown", errors.kql)
    assert replayed is not None and not secrets_in(replayed) and set(replayed["sample_message"]) == {"GET /x?sig=***"}
