"""The --out folder: replaced only when it holds nothing but the kit's files, one run at a time, never half-written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from analysis.errors import KitError
from analysis.report.outfolder import MARKER, Kind, claim, read_marker, staging, target, write_marker


def earlier_report(folder: Path) -> Path:
    """A report folder as the kit leaves it (marker listing its files)."""
    folder.mkdir()
    (folder / "findings.json").write_text('{"verdict": "earlier"}', encoding="utf-8")
    (folder / "results").mkdir()
    write_marker(folder, Kind.REPORT, ["findings.json", "results"])
    return folder


def render_into(out: Path, text: str = "new") -> None:
    with claim(out, Kind.REPORT), staging(out, Kind.REPORT) as folder:
        (folder / "findings.json").write_text(text, encoding="utf-8")


def test_a_new_folder_is_written_with_a_marker_listing_what_the_kit_wrote(tmp_path):
    out = tmp_path / "new" / "report"
    render_into(out)
    assert (out / "findings.json").read_text(encoding="utf-8") == "new"
    marker = read_marker(out)
    assert marker is not None and (marker["kind"], marker["files"]) == ("report", ["findings.json"])
    assert sorted(p.name for p in tmp_path.joinpath("new").iterdir()) == ["report"]  # no lock, no staging


def test_an_earlier_report_is_replaced_whole(tmp_path):
    out = earlier_report(tmp_path / "report")
    render_into(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "findings.json"]


def test_a_file_the_kit_did_not_write_keeps_the_folder(tmp_path):
    out = earlier_report(tmp_path / "report")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(KitError, match=r"holds files the kit did not write there \(notes.txt\)"):
        render_into(out)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'


def test_a_findings_json_alone_is_not_a_report_of_the_kit(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "findings.json").write_text("{}", encoding="utf-8")
    (out / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(KitError, match="holds files the kit did not write there"):
        render_into(out)
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "precious"


def test_a_batch_folder_is_not_a_report_folder(tmp_path):
    out = tmp_path / "fleet"
    out.mkdir()
    write_marker(out, Kind.BATCH, [])
    (out / "index.html").write_text("", encoding="utf-8")
    with pytest.raises(KitError, match="holds a batch of the kit, not a report"):
        render_into(out)


def test_a_symbolic_link_is_never_followed(tmp_path):
    target_folder = earlier_report(tmp_path / "elsewhere")
    (tmp_path / "link").symlink_to(target_folder)
    with pytest.raises(KitError, match="is a symbolic link"):
        target(str(tmp_path / "link"))
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(KitError, match="is a symbolic link"):
        target(str(tmp_path / "loop"))
    with pytest.raises(KitError, match="a symbolic link to nowhere"):
        target(str(tmp_path / "loop" / "sub"))
    assert (target_folder / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'


def test_a_failing_block_leaves_the_earlier_report_and_nothing_else(tmp_path):
    out = earlier_report(tmp_path / "report")
    for failure in (KitError("bad"), KeyboardInterrupt()):
        with pytest.raises(type(failure)), claim(out, Kind.REPORT), staging(out, Kind.REPORT) as folder:
            (folder / "findings.json").write_text("half", encoding="utf-8")
            raise failure
        assert (out / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'
        assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_second_run_into_the_same_folder_refuses_while_the_first_writes(tmp_path):
    out = tmp_path / "report"
    with claim(out, Kind.REPORT):
        with pytest.raises(KitError, match="another apim-snat run is writing this folder"):
            render_into(out)
    render_into(out)  # the lock went with the first run
    assert not (tmp_path / ".report.lock").exists()


def test_leftovers_of_a_killed_run_are_cleaned_by_the_next(tmp_path):
    out = earlier_report(tmp_path / "report")
    killed = tmp_path / ".report.new-0123abcd"
    killed.mkdir()
    write_marker(killed, Kind.REPORT, [])
    (killed / ".kernel").mkdir()
    (killed / ".kernel" / "kernel.json").write_text("{}", encoding="utf-8")
    (tmp_path / ".report.lock").write_text("", encoding="utf-8")  # a lock file nobody holds
    user_folder = tmp_path / ".report.new-notmine1"
    user_folder.mkdir()
    render_into(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".report.new-notmine1", "report"]


def test_a_swap_cut_in_half_gets_the_earlier_report_back(tmp_path):
    retired = earlier_report(tmp_path / ".report.old-0123abcd")  # the run died between its two renames
    out = tmp_path / "report"
    with claim(out, Kind.REPORT):
        assert (out / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'
    assert not retired.exists()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "--out is empty"),
        ("/", "not the root"),
        ("{afile}", "exists and is not a folder"),
        ("{afile}/sub", "is not a folder"),
        ("/proc/x", "cannot write in /proc"),
    ],
)
def test_out_mistakes_are_kit_errors(tmp_path, given, message):
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    given = given.format(afile=afile)
    with pytest.raises(KitError, match=message):
        with claim(target(given), Kind.REPORT, given):
            pass


def test_a_read_only_system_folder_is_one_kit_error():
    with pytest.raises(KitError, match="cannot write in /sys"):
        with claim(target("/sys/apim-snat"), Kind.REPORT):
            pass


@pytest.mark.parametrize("listed", ["/tmp/other-report", "../other-report", "..", ".", ".hidden", "a/b", "", 3])
@pytest.mark.parametrize("kind", list(Kind))
def test_a_marker_listing_anything_but_a_plain_name_inside_the_folder_is_refused_and_nothing_removed(
    tmp_path, listed, kind
):
    other = earlier_report(tmp_path / "other-report")
    out = tmp_path / "out"
    out.mkdir()
    (out / "findings.json").write_text("mine", encoding="utf-8")
    write_marker(out, kind, ["findings.json", listed])
    with pytest.raises(KitError) as refused:
        with claim(out, kind, "out"):
            pass
    assert str(refused.value).startswith("--out out: its .apim-snat file lists ")
    assert "not a name directly inside the folder" in str(refused.value)
    assert (out / "findings.json").read_text(encoding="utf-8") == "mine"
    assert (other / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'


def test_a_marker_that_is_a_fifo_or_lists_no_files_makes_no_folder_the_kits(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / MARKER)
    assert read_marker(out) is None  # at once: a FIFO is never opened for a writer to come
    with pytest.raises(KitError, match=r"holds files the kit did not write there \(.apim-snat\)"):
        render_into(out)
    (out / MARKER).unlink()
    (out / MARKER).write_text('{"written_by": "apim-snat", "kind": "report", "files": "*"}', encoding="utf-8")
    with pytest.raises(KitError, match="its .apim-snat file lists no files"):
        render_into(out)


def test_what_the_kit_writes_is_its_users_alone(tmp_path):
    out = tmp_path / "report"
    with claim(out, Kind.REPORT), staging(out, Kind.REPORT) as folder:
        (folder / "findings.json").write_text("new", encoding="utf-8")
        (folder / "results").mkdir()
        (folder / "results" / "x.parquet").write_bytes(b"")
    modes = {str(p.relative_to(out)): stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*")]}
    assert modes == {".": 0o700, MARKER: 0o600, "findings.json": 0o600, "results": 0o700, "results/x.parquet": 0o600}


def test_a_leftover_that_is_a_link_is_never_followed(tmp_path):
    elsewhere = earlier_report(tmp_path / "elsewhere")
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / ".report.old-0123abcd").symlink_to(elsewhere)
    render_into(tmp_path / "parent" / "report")
    assert (elsewhere / "findings.json").read_text(encoding="utf-8") == '{"verdict": "earlier"}'
    assert (tmp_path / "parent" / "report" / "findings.json").read_text(encoding="utf-8") == "new"


def test_nothing_hidden_but_the_marker_stays_in_a_folder_of_the_kit(tmp_path):
    out = tmp_path / "report"
    with claim(out, Kind.REPORT), staging(out, Kind.REPORT) as folder:
        (folder / "findings.json").write_text("new", encoding="utf-8")
        (folder / ".kernel").mkdir()
        (folder / ".kernel" / "kernel.json").write_text("{}", encoding="utf-8")
        (folder / ".cache").write_text("", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "findings.json"]
    render_into(out)  # and the next run may replace it
