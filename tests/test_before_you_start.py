"""The README's first screen: what a newcomer needs, an export query that is valid KQL and keeps every column the
kit reads, and the two Quick start commands as they were."""

from __future__ import annotations

import re

import pytest

from analysis.query.pack import mode_prelude
from tests import kusto_language as kl
from tests.paths import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    return README[start : README.index("\n## ", start + 1)]


def export_query() -> str:
    (block,) = re.findall(r"```kusto\n(.*?)```", section("Before you start"), re.DOTALL)
    return "\n".join(line.removeprefix("  ") for line in block.splitlines())


def test_before_you_start_comes_before_the_quick_start_and_names_what_to_have_ready():
    assert README.index("## Before you start") < README.index("## Quick start")
    text = section("Before you start")
    for needed in ("GatewayLogs", "Resource specific", "AzureDiagnostics", "Log Analytics Reader", "Sampling",
                   "az monitor log-analytics query", "Export", "insights-logs-gatewaylogs", "-2h"):  # fmt: skip
        assert needed in text, needed


def test_the_quick_start_commands_are_unchanged():
    assert "```\nmake report\nmake test\n```" in section("Quick start")


def test_the_export_query_binds_and_keeps_every_column_the_kit_reads():
    result = kl.validate({"export": export_query()}, kl.kit_tables())["export"]
    assert result.errors == (), result.errors
    exported = {name for name, _ in result.columns}
    prelude = mode_prelude("resource")
    projected = re.search(r"\| project (.*?);", prelude, re.DOTALL)
    assert projected is not None
    read = {name.strip() for name in projected.group(1).split(",") if "=" not in name}  # not made up by the prelude
    assert read <= exported, read - exported


@pytest.mark.parametrize("command", ["report", "query", "export"])
def test_each_command_says_its_times_take_both_forms(command, capsys):
    from analysis.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "ISO 8601" in help_text and "-2h" in help_text
    if command == "export":
        assert (
            "--source is required (no default)" in help_text and "(the embedded incident, the default)" not in help_text
        )
