"""Files handed to the kit: opened only as regular files within their bound, never blocking, never unbounded."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analysis.errors import excerpt, one_line
from analysis.safety.untrusted import (
    MAX_DEPTH,
    Bound,
    Refused,
    loads_json,
    read_bytes,
    read_json,
    read_object,
    read_text,
)

GIB = 1 << 30


def finishes(call: Callable[[], Any], seconds: float = 20) -> Any:
    """``call()``'s result or exception; a call still blocked after ``seconds`` fails the test (a FIFO would)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as err:  # handed back to the test
            outcome.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, "blocked"
    return outcome[0]


def sparse(path: Path, size: int) -> Path:
    """A file that says it holds ``size`` bytes and takes no disk."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_a_regular_file_within_its_bound_is_read_whole(tmp_path):
    path = tmp_path / "parameters.json"
    path.write_text('{"start": "2025-02-25T09:00"}', encoding="utf-8")
    assert read_object(path, Bound.PARAMETERS, "parameters.json") == {"start": "2025-02-25T09:00"}
    assert read_bytes(path, 29, "p") == path.read_bytes()


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "cache.json")
    refused = finishes(lambda: read_json(tmp_path / "cache.json", Bound.MANIFEST, "results/cache.json"))
    assert isinstance(refused, Refused)
    assert str(refused) == "results/cache.json is a FIFO, not a regular file"


def test_a_device_is_refused_even_through_a_link_the_user_named(tmp_path):
    (tmp_path / "result.parquet").symlink_to("/dev/zero")
    with pytest.raises(Refused, match="result.parquet is a symbolic link; the kit reads only the file itself"):
        read_bytes(tmp_path / "result.parquet", Bound.RESULT, "result.parquet")
    refused = finishes(lambda: read_bytes(tmp_path / "result.parquet", Bound.RESULT, "result.parquet", follow=True))
    assert isinstance(refused, Refused) and str(refused) == "result.parquet is a device, not a regular file"


def test_a_link_inside_a_folder_is_not_followed_out_of_it(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("host,ip\nsecret,10.0.0.1\n", encoding="utf-8")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "ip-map.csv").symlink_to(outside)
    with pytest.raises(Refused, match="is a symbolic link"):
        read_text(tmp_path / "report" / "ip-map.csv", Bound.IP_MAP, "report/ip-map.csv")
    assert read_text(tmp_path / "report" / "ip-map.csv", Bound.IP_MAP, "--ip-map", follow=True).startswith("host")


@pytest.mark.parametrize("bound", [Bound.PARAMETERS, Bound.MANIFEST, Bound.IP_MAP, Bound.RESULT])
def test_a_sparse_file_over_its_bound_is_refused_before_a_byte_is_read(tmp_path, bound):
    path = sparse(tmp_path / "big", 2 * GIB)
    with pytest.raises(Refused) as refused:
        read_bytes(path, bound, "big")
    assert str(refused.value).startswith("big is 2.0 GiB, more than such a file can be (")


def test_the_bounds_fit_each_kind_of_file():
    assert Bound.PARAMETERS <= Bound.RECORD < Bound.IP_MAP < Bound.RESULT < Bound.RESULT_UNPACKED
    assert Bound.RESULT >= 16 * 64 * 10**6  # 16 parts of a result the service cut at 64 MB


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
        ('{"a": ', "not JSON"),
    ],
)
def test_json_nested_too_deep_or_broken_is_one_refusal(text, said):
    with pytest.raises(Refused, match=said):
        loads_json(text, "record.json")
    assert loads_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None


def test_text_that_is_not_utf8_or_json_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "a").write_bytes(b"\xff\xfe")
    (tmp_path / "b").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(Refused, match="not UTF-8 text"):
        read_text(tmp_path / "a", 10, "a")
    with pytest.raises(Refused, match="expected a JSON object, found a list"):
        read_object(tmp_path / "b", 10, "b")


def test_a_message_quotes_a_short_escaped_excerpt_and_is_one_bounded_line():
    assert excerpt("x" * 1_000_000) == repr("x" * 40) + "... (1000000 characters)"
    assert excerpt("a\u202eb\nc") == "'a\\u202eb\\nc'"
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    assert excerpt(nested) == "a list"
    line = one_line("one\ntwo\x1b[2J" + "y" * 5000)
    assert "\n" not in line and "\x1b" not in line and len(line) == 1000
