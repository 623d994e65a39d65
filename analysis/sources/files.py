"""Which files make up a local export: one file, a folder of them (searched recursively) or a glob.

Every file of an export has one format (Parquet, CSV or JSON lines); any of them may be gzipped
(``.csv.gz``, ``PT1H.json.gz``). A storage-account archive is a folder tree of ``PT1H.json``
blobs, so ``file:`` pointed at the archive's root reads all of it.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import KitError
from analysis.safety.untrusted import opened

#: File suffix (before any ``.gz``) -> format.
FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".json": "json"}
FORMAT_NAMES = {"parquet": "Parquet", "csv": "CSV", "json": "JSON lines"}
_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Export:
    """The files of one export, in path order, and their common format."""

    spec: str
    files: tuple[Path, ...]
    kind: str

    @property
    def name(self) -> str:
        """How messages name the export: the file's name, or the folder or pattern given."""
        return self.files[0].name if len(self.files) == 1 and self.spec == str(self.files[0]) else self.spec

    @property
    def gzipped(self) -> bool:
        return any(f.suffix.lower() == ".gz" for f in self.files)


def file_format(path: Path) -> str | None:
    """The format a file name says, looking through ``.gz``; None for other files.

    >>> file_format(Path("PT1H.json.gz")), file_format(Path("x.PARQUET")), file_format(Path("notes.txt"))
    ('json', 'parquet', None)
    """
    name = path.name.lower().removesuffix(".gz")
    return FORMATS.get(Path(name).suffix)


def _readable(path: Path) -> None:
    """A ``KitError`` unless ``path`` opens as a regular file (checked on the open file: a FIFO never blocks)."""
    with opened(path, str(path), follow=True) as (descriptor, _):
        os.read(descriptor, 1)


def find_export(spec: str | Path) -> Export:
    """The files ``spec`` names; every problem (nothing there, unknown or mixed formats) is a ``KitError``."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and file_format(p) is not None)
        if not found:
            raise KitError(f"{text}: no .parquet, .csv or .json files in this folder or below it")
    elif path.exists():
        if not path.is_file():
            raise KitError(f"{text}: not a regular file")
        if file_format(path) is None:
            suffix = path.suffix or "(none)"
            raise KitError(f"{path.name}: unknown file type {suffix}; use .parquet, .csv, .jsonl or .json (or .gz)")
        found = [path]
    elif _GLOB_CHARACTERS & set(text):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if file_format(Path(p)) is not None)
        if not found:
            raise KitError(f"{text}: no .parquet, .csv or .json files match")
    else:
        raise KitError(f"{text}: no such file")
    kinds = {file_format(p) for p in found}
    if len(kinds) > 1:
        names = sorted(FORMAT_NAMES[k] for k in kinds if k is not None)
        raise KitError(f"{text}: holds files of several formats ({', '.join(names)}); point at one kind")
    for file in found:
        _readable(file)
    kind = kinds.pop()
    assert kind is not None
    return Export(spec=text, files=tuple(found), kind=kind)
