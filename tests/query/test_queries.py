"""Packaged queries: found, described, rendered with typed parameters for either logging mode."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import duckdb_kql
import pandas as pd
import pytest

from analysis.assets import kql_dir
from analysis.errors import KitError
from analysis.query import pack

WINDOW = {"start": pd.Timestamp("2025-02-25 08:30"), "end": pd.Timestamp("2025-02-25 10:30")}


def test_every_packaged_query_has_a_description_and_a_typed_window():
    found = pack.packaged()
    assert "destination_health" in [q.name for q in found]
    for query in found:
        assert query.description
        types = {p.name: p.kql_type for p in query.parameters}
        assert types["start"] == "datetime" and types["end"] == "datetime"


def test_render_replaces_the_declaration_with_typed_lets():
    text = pack.load("destination_health").render(WINDOW)
    assert "declare query_parameters" not in text
    assert "let start = datetime(2025-02-25T08:30:00.000000Z);" in text
    assert "let bin_size = 60s;" in text
    assert "let GatewayRows = ApiManagementGatewayLogs" in text
    assert text.index("let GatewayRows") < text.index("let GatewayRequests = GatewayRows")


def test_mode_chooses_the_table():
    text = pack.load("destination_health").render(WINDOW, mode="azurediagnostics")
    assert "AzureDiagnostics" in text and "backendUrl_s" in text
    with pytest.raises(KitError, match="unknown logging mode 'legacy'"):
        pack.load("destination_health").render(WINDOW, mode="legacy")


def test_parameter_mistakes_name_the_parameter():
    query = pack.load("destination_health")
    with pytest.raises(KitError, match="needs parameter 'end'"):
        query.render({"start": WINDOW["start"]})
    with pytest.raises(KitError, match="no parameter 'top'"):
        query.render({**WINDOW, "top": 5})
    with pytest.raises(KitError, match="'start' \\(datetime\\)"):
        query.render({**WINDOW, "start": 5})
    with pytest.raises(KitError, match="'bin_size' \\(timespan\\)"):
        query.parse_params({"bin_size": "often"})
    assert query.parse_params({"bin_size": "5m"}) == {"bin_size": pd.Timedelta(minutes=5)}


def test_unknown_query_lists_the_known_ones():
    with pytest.raises(KitError, match="no packaged query named 'nope'.*destination_health"):
        pack.load("nope")
    with pytest.raises(KitError):
        pack.load("../kql/destination_health")


def test_a_file_without_declaration_is_refused():
    with pytest.raises(KitError, match="no 'declare query_parameters"):
        pack.from_text("bare", "// nothing declared\nGatewayRequests | count")


def test_rendering_for_azure_does_not_load_the_local_engine():
    script = (
        "import sys, pandas as pd\n"
        "from analysis.query import pack\n"
        "window = {'start': pd.Timestamp('2025-02-25 08:30'), 'end': pd.Timestamp('2025-02-25 10:30')}\n"
        "for query in pack.packaged():\n"
        "    query.render(window, 'azurediagnostics')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('duckdb_kql', 'duckdb')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_declaration_reads_as_the_local_engine_reads_it():
    for path in sorted(kql_dir().glob("*.kql")):
        text = path.read_text(encoding="utf-8")
        ours = [(p.name, p.kql_type, p.default) for p in pack.from_text(path.stem, text).parameters]
        assert ours == [(p.name, p.type, p.default) for p in duckdb_kql.query_parameters(text)], path.name


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ('a: string = \'x\\\'y\', b: string = @"p""q"', [("a", "string", "x'y"), ("b", "string", 'p"q')]),
        (
            "t: timespan = 1.5h, u: timespan = time(2d), v: timespan = 10tick",
            [
                ("t", "timespan", dt.timedelta(minutes=90)),
                ("u", "timespan", dt.timedelta(days=2)),
                ("v", "timespan", dt.timedelta(microseconds=1)),
            ],
        ),
        (
            "n: long = long(5), r: real = 0.25, f: bool = false, d: datetime = datetime(2025-02-25 09:00)",
            [
                ("n", "long", 5),
                ("r", "real", 0.25),
                ("f", "bool", False),
                ("d", "datetime", pd.Timestamp("2025-02-25 09:00")),
            ],
        ),
        (
            's: string = "a,b)" // a comma and a parenthesis inside the string\n, k: int',
            [("s", "string", "a,b)"), ("k", "int", None)],
        ),
    ],
)
def test_declared_defaults_become_values_of_their_type(declared, expected):
    text = f"// about\ndeclare query_parameters({declared});\nGatewayRequests | take 1"
    query = pack.from_text("q", text)
    assert [(p.name, p.kql_type, p.default) for p in query.parameters] == expected
    assert query.body == "GatewayRequests | take 1"


def test_a_declaration_inside_a_string_or_comment_is_not_one():
    text = '// declare query_parameters(x: long);\nprint s = "declare query_parameters(y: long)"'
    with pytest.raises(KitError, match="no 'declare query_parameters"):
        pack.from_text("q", text)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("declare query_parameters(start datetime);", "expected 'name: type'"),
        ("declare query_parameters(n: long = 1.5);", "expected a whole number, got '1.5'"),
        ("declare query_parameters(r: real = many);", "expected a number, got 'many'"),
        ("declare query_parameters(t: timespan = 3 fortnights);", "expected a timespan"),
        ("declare query_parameters(a: string = 'open", "not closed"),
        ("declare query_parameters(a: long b: long);", "expected ',' or ')'"),
    ],
)
def test_a_broken_declaration_is_one_clear_error(declared, message):
    with pytest.raises(KitError, match=re.escape(message)):
        pack.from_text("broken", f"{declared}\nGatewayRequests")
