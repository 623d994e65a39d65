"""The local engine reads only its export, says every bad query in one line, and never uses a value
no request can have: bad values are counted, outliers kept out of the default window."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.errors import KitError
from analysis.investigation.run import window_for
from analysis.query import pack
from analysis.sources import open_source
from analysis.sources.base import Source
from analysis.sources.local import open_local
from analysis.synthetic.exports import write_parquet
from tests.paths import SAMPLE_DIR

SAMPLE_ROWS = pq.read_metadata(SAMPLE_DIR / "gateway_logs.parquet").num_rows


@pytest.fixture(scope="module")
def sample():
    source = open_source("sample")
    yield source
    source.close()


@pytest.mark.parametrize(
    "kql",
    [
        "['/etc/hostname']",
        "['/etc/passwd'] | take 1",
        "['http://127.0.0.1:9/x.csv']",
        "['https://example.com/logs.parquet'] | count",
        "union ApiManagementGatewayLogs, ['/etc/hostname'] | count",
    ],
)
def test_a_query_reaches_no_other_file_and_no_url(sample, kql):
    with pytest.raises(KitError, match="reads only the export's table ApiManagementGatewayLogs"):
        sample.run(kql)


def test_the_connection_is_locked(sample):
    settings = dict(
        sample.inner.connection.execute(  # the local source behind the credential scrubbing
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'autoinstall_known_extensions', 'autoload_known_extensions', 'lock_configuration')"
        ).fetchall()
    )
    assert settings == {
        "enable_external_access": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "lock_configuration": "true",
    }
    with pytest.raises(Exception, match="locked"):
        sample.inner.connection.execute("SET enable_external_access = true")


@pytest.mark.parametrize(
    ("kql", "said"),
    [
        (".show tables", "KQL syntax error"),
        ("GatewayRequests | take 1 | .show tables", "KQL syntax error"),
        ("T | where", "KQL syntax error"),
        ('print column_ifexists("x", )', "KQL syntax error"),
        (".set-or-replace ApiManagementGatewayLogs <| print x = 1", "KQL syntax error"),
        ("NoSuchTable | count", "reads only the export's table.*NoSuchTable"),
        ("GatewayRequests | summarize percentiles(BackendTime, 50, 95)", "percentiles\\(\\): write one"),
    ],
)
def test_every_query_the_engine_refuses_is_one_line(sample, kql, said):
    with pytest.raises(KitError, match=said) as caught:
        sample.run(pack.adhoc(kql).render({"start": pd.Timestamp("2025-02-25"), "end": pd.Timestamp("2025-02-26")}))
    assert "\n" not in str(caught.value) and "expecting {" not in str(caught.value)
    assert sample.run("ApiManagementGatewayLogs | count")["Count"].item() == SAMPLE_ROWS  # the table is untouched


@pytest.mark.parametrize(
    "kql", [".set-or-replace ApiManagementGatewayLogs <| print x = 1", ".drop table ApiManagementGatewayLogs"]
)
def test_a_command_that_writes_is_refused(sample, kql):
    with pytest.raises(KitError) as caught:
        sample.run(kql)
    assert "\n" not in str(caught.value)
    assert sample.run("ApiManagementGatewayLogs | count")["Count"].item() == SAMPLE_ROWS


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["query", "--source", "sample", "--kql", "['/etc/hostname']"], "reads only the export's table"),
        (["query", "--source", "sample", "--kql", "['http://127.0.0.1:9/x.csv']"], "reads only the export's table"),
        (["query", "--source", "sample", "--kql", ".show tables"], "KQL syntax error"),
        (
            ["report", "--source", "sample", "--start", "2024-01-01", "--end", "2026-01-01", "--out", "{out}"],
            "731 days long, over the limit of 31 days",
        ),
    ],
)
def test_the_cli_says_each_refusal_in_one_line(tmp_path, arguments, said):
    out = tmp_path / "report"
    command = [sys.executable, "-m", "analysis.cli", *(a.replace("{out}", str(out)) for a in arguments)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == "" and not out.exists()


# ---------------------------------------------------------------------------------------------
# Bad values and outliers
# ---------------------------------------------------------------------------------------------


def _rows(n: int, start: str = "2025-02-25 09:00") -> pd.DataFrame:
    """``n`` plain requests to one destination, one a second."""
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "TimeGenerated": pd.date_range(start, periods=n, freq="s"),
            "BackendUrl": "https://api.contoso.com/orders",
            "ResponseCode": 200.0,
            "BackendResponseCode": 200.0,
            "BackendTime": rng.integers(100, 200, n).astype(float),
            "TotalTime": rng.integers(200, 300, n).astype(float),
        }
    )


@pytest.fixture(scope="module")
def bad_values(tmp_path_factory):
    frame = _rows(600)
    frame.loc[0:9, "TimeGenerated"] = pd.NaT
    frame.loc[10:29, "BackendTime"] = -5000.0
    frame.loc[30:34, "BackendTime"] = 1e18
    frame.loc[35:36, "TotalTime"] = float("inf")
    frame.loc[40:46, "ResponseCode"] = 200.7
    frame.loc[47, "ResponseCode"] = 503.2
    path = tmp_path_factory.mktemp("bad") / "bad.parquet"
    write_parquet(frame, path)
    source = open_local(path)
    yield source
    source.close()


def test_bad_values_are_counted_per_column(bad_values):
    found = {(p.column, p.problem.split(" (")[0]): p.rows for p in bad_values.data_quality.problems}
    assert found == {
        ("TimeGenerated", "with no time"): 10,
        ("BackendTime", "a negative duration"): 20,
        ("BackendTime", "a duration over a day"): 5,
        ("TotalTime", "not a finite number"): 2,
        ("ResponseCode", "not a whole number"): 8,
    }
    assert bad_values.data_quality.rows == 600
    lines = bad_values.data_quality.lines()
    assert "BackendTime: 20 of 600 rows a negative duration (read as empty)" in lines


def test_bad_values_are_read_as_empty_not_as_numbers(bad_values):
    table = bad_values.run(
        "ApiManagementGatewayLogs | summarize rows = count(), timed = countif(isnotnull(TimeGenerated)), "
        "min_backend = min(BackendTime), max_backend = max(BackendTime), codes = make_set(ResponseCode), "
        "backend_times = countif(isnotnull(BackendTime)), total_times = countif(isnotnull(TotalTime))"
    ).iloc[0]
    assert table["rows"] == 600 and table["timed"] == 590
    assert table["min_backend"] >= 100 and table["max_backend"] < 200  # no -5000, no 1e18
    assert table["backend_times"] == 575 and table["total_times"] == 598
    assert json.loads(table["codes"]) == [200]  # 200.7 is not read as 201, 503.2 not as 503


def test_a_negative_backend_time_cannot_lower_the_p95(bad_values):
    first, last = bad_values.time_range()
    health = bad_values.run(
        pack.load("destination_health").render({"start": first.floor("min"), "end": last.ceil("min")})
    )
    assert (health["backend_p50_ms"] >= 100).all()
    assert int(health["requests"].sum()) == 590  # the rows without a time are in no window, and counted


def test_one_row_dated_2225_does_not_make_a_200_year_window(tmp_path):
    frame = _rows(7200)
    frame.loc[7199, "TimeGenerated"] = pd.Timestamp("2225-01-01")
    frame.loc[7198, "TimeGenerated"] = pd.Timestamp("1999-01-01")
    path = tmp_path / "outlier.parquet"
    write_parquet(frame, path)
    source = open_local(path)
    try:
        assert source.time_range() == (pd.Timestamp("2025-02-25 09:00:00"), pd.Timestamp("2025-02-25 10:59:57"))
        outlying = source.data_quality.outlying
        assert outlying.rows == 2
        assert (outlying.first, outlying.last) == (pd.Timestamp("1999-01-01"), pd.Timestamp("2225-01-01"))
        assert "2 rows dated 1999-01-01T00:00:00Z to 2225-01-01T00:00:00Z" in source.data_quality.lines()[0]
        assert window_for(source, None, None) == (pd.Timestamp("2025-02-25 09:00"), pd.Timestamp("2025-02-25 11:00"))
    finally:
        source.close()


def test_a_window_over_the_limit_is_refused_before_any_query(sample):
    class NoQueries(Source):
        mode, description = sample.mode, sample.description

        def time_range(self):
            return sample.time_range()

        def run(self, kql):
            raise AssertionError("a query ran")

        def close(self):
            pass

    with pytest.raises(KitError, match="is 731 days long, over the limit of 31 days.*max_window_days"):
        window_for(NoQueries(), pd.Timestamp("2024-01-01"), pd.Timestamp("2026-01-01"))
    assert window_for(NoQueries(), pd.Timestamp("2024-01-01"), pd.Timestamp("2026-01-01"), max_days=800)[0].year == 2024
