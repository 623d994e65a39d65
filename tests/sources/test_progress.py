"""Queries show progress: a clock while one runs on a terminal, then one line with its rows and seconds."""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest

from analysis.cli import main
from analysis.investigation.run import query_window
from analysis.sources import open_source, progress
from analysis.sources.base import Source
from analysis.sources.cache import CachedSource


class Terminal(io.StringIO):
    """stderr as a terminal would receive it."""

    def isatty(self) -> bool:
        return True


class Slow(Source):
    """A source whose every query takes ``seconds``."""

    mode, description = "resource", "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, kql: str) -> pd.DataFrame:
        time.sleep(self.seconds)
        return pd.DataFrame({"n": [1, 2, 3]})

    def time_range(self):
        return None

    def close(self) -> None:
        pass


def test_a_query_that_keeps_the_terminal_waiting_shows_a_clock_that_is_gone_after(monkeypatch):
    monkeypatch.setattr(progress, "CLOCK_DELAY_S", 0.05)
    monkeypatch.setattr(progress, "CLOCK_TICK_S", 0.05)
    screen, said = Terminal(), []
    monkeypatch.setattr("sys.stderr", screen)
    source = progress.watched(Slow(0.4), said.append, quiet=False)
    assert source.run("Slow | count")["n"].tolist() == [1, 2, 3]
    shown = screen.getvalue()
    assert "apim-snat: ad-hoc query: waiting 00:00" in shown
    assert shown.count("\r") >= 3, "rewritten in place while it waits"
    assert shown.split("\r")[-2:] == [" " * len("apim-snat: ad-hoc query: waiting 00:00"), ""], "cleared after"
    assert len(said) == 1 and said[0].startswith("ad-hoc query: 3 rows in 0.")


def test_a_quick_query_shows_no_clock_and_a_pipe_or_quiet_never_does(monkeypatch):
    said: list[str] = []
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    progress.watched(Slow(0), said.append, quiet=False).run("x")
    assert "waiting" not in screen.getvalue()
    monkeypatch.setattr(progress, "CLOCK_DELAY_S", 0.0)
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    progress.watched(Slow(0.1), said.append, quiet=False).run("x")
    assert pipe.getvalue() == "" and len(said) == 2, "a pipe gets the line, never the clock"
    quiet: list[str] = []
    monkeypatch.setattr("sys.stderr", screen)
    progress.watched(Slow(0.1), quiet.append, quiet=True).run("x")
    assert quiet == [] and "waiting" not in screen.getvalue()


def test_each_packaged_query_of_a_window_says_its_rows_and_seconds(tmp_path):
    said: list[str] = []
    source = progress.watched(CachedSource.wrap(open_source("sample"), ["sample"], tmp_path), said.append, quiet=False)
    try:
        data = query_window(source)
        first = list(said)
        said.clear()
        query_window(source)
    finally:
        source.close()
    names = [run.name for run in data.queried]
    assert [line.split(":")[0] for line in first] == names
    for line, run in zip(first, data.queried, strict=True):
        assert f": {len(run.result):,} rows in " in line and line.endswith(" s")
    assert all(", kept from 20" in line for line in said), "the second time, the kept results say so"


def test_the_commands_print_their_window_and_a_line_per_query(capsys, tmp_path):
    assert main(["query", "--kql", "GatewayRequests | count", "--cache", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "apim-snat: window 2025-02-25T08:30:00Z to 2025-02-25T10:30:00Z (2 h), mode resource"
    assert err[1].startswith("apim-snat: ad-hoc: 1 rows in ")
    assert main(["queries", "show", "load_drivers", "--param", "start=-2h", "--param", "end=now"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("apim-snat: window ") and captured.err.endswith("(2 h), mode resource\n")
    assert "apim-snat" not in captured.out, "the KQL on stdout stays pasteable"
    assert main(["query", "-q", "--kql", "GatewayRequests | count", "--cache", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["report", "export"])
def test_report_and_export_print_the_window_they_used(capsys, tmp_path, command):
    out = tmp_path / ("out" if command == "report" else "rows.parquet")
    window = ["--start", "2025-02-25T09:00Z", "--end", "2025-02-25T09:10Z"]
    extra = ["--cache", str(tmp_path / "cache")] if command == "report" else []
    assert main([command, "--source", "sample", *window, "--out", str(out), *extra]) == 0
    err = capsys.readouterr().err
    assert "window 2025-02-25T09:00:00Z to 2025-02-25T09:10:00Z (10 min)" in err
    if command == "report":
        assert "apim-snat: destination_health: " in err and " rows in " in err
