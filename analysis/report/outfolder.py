"""The folder a report goes to (``--out``): what may be replaced, one writer at a time, never half-written.

The user's files are sacred. A folder is replaced only when it is empty or holds nothing but what
the kit wrote there, as listed by the marker file the kit puts in every folder it writes
(``MARKER``); never through a symbolic link. A marker is data like any file handed to the kit: it
may list only plain names directly inside its folder (``written``), and one listing anything else
(``/abs/path``, ``../other-report``) is refused in one line, so nothing outside the folder is ever
removed. The new content is built in a hidden sibling staging folder and swapped in only when
complete. A lock file beside the folder lets one run at a time write it (a second run refuses in
one line), and the run holding the lock first cleans what a killed run left: staging folders (with
the kernel connection file inside) and a half-done swap. What the kit writes is private to its
user (files 0600, folders 0700), like the cached results a report quotes.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path

from analysis import __version__
from analysis.errors import KitError, excerpt
from analysis.safety.untrusted import Bound, Refused, read_object

MARKER = ".apim-snat"
KERNEL_DIR = ".kernel"
#: The permissions of what the kit writes: its user's alone.
PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700


class Kind(StrEnum):
    """What a kit folder holds."""

    REPORT = "report"
    BATCH = "batch"


def _leftover_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(new|old)-[0-9a-f]{{8}}")


def target(given: str) -> Path:
    """The absolute folder ``--out`` names, checked before anything runs; every mistake a ``KitError``.

    Symbolic links are not followed: ``--out`` must name the folder itself, so a link can never
    lead the kit to replace another folder.
    """
    if not given.strip():
        raise KitError("--out is empty; give a folder")
    path = Path(os.path.abspath(os.path.expanduser(given)))
    if path.parent == path:
        raise KitError(f"--out {given}: give a folder below {path}, not the root")
    try:
        if path.is_symlink():
            raise KitError(f"--out {given} is a symbolic link; give the folder itself or a new one")
        if path.exists() and not path.is_dir():
            raise KitError(f"--out {given} exists and is not a folder")
        for parent in reversed(path.parents):
            if parent.is_symlink() and not parent.exists():
                raise KitError(f"--out {given}: {parent} is a symbolic link to nowhere (broken, or a loop)")
            if parent.exists() and not parent.is_dir():
                raise KitError(f"--out {given}: {parent} is not a folder")
    except OSError as err:
        raise KitError(f"--out {given}: {err.strerror or err}") from None
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its user alone."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), PRIVATE_FILE)
        handle.write(text)


def make_private(folder: Path) -> None:
    """``folder`` and everything in it readable by its user alone (links are left as they are)."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(PRIVATE_FOLDER if path.is_dir() else PRIVATE_FILE)


def write_marker(folder: Path, kind: Kind, files: list[str]) -> None:
    """Mark ``folder`` as the kit's, listing the ``files`` (top-level names) the kit wrote there."""
    record = {"written_by": "apim-snat", "version": __version__, "kind": str(kind), "files": files}
    write_private(folder / MARKER, json.dumps(record, indent=1) + "\n")


def plain_name(name: object) -> bool:
    """Whether ``name`` is one entry directly inside a folder: no path, no parent, nothing hidden.

    >>> [plain_name(n) for n in ("report.html", "results", "../x", "/abs/x", ".", "..", "", ".kernel", 3)]
    [True, True, False, False, False, False, False, False, False]
    """
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def read_marker(folder: Path) -> dict[str, object] | None:
    """The marker of a folder the kit wrote, or None when there is none (or not one of the kit's)."""
    try:
        record = read_object(folder / MARKER, Bound.MARKER, MARKER)
    except Refused:
        return None
    return record if record.get("written_by") == "apim-snat" else None


def written(record: dict[str, object], given: str) -> set[str]:
    """The names a folder's marker ``record`` says the kit wrote there (``given``: the folder as the user
    named it); a ``KitError`` when it lists anything but plain names directly inside the folder."""
    files = record.get("files")
    if not isinstance(files, list):
        raise KitError(f"--out {given}: its {MARKER} file lists no files; remove it or choose another folder")
    for name in files:
        if not plain_name(name):
            raise KitError(
                f"--out {given}: its {MARKER} file lists {excerpt(name)}, not a name directly inside the "
                "folder; the kit removes only what it wrote there: remove the file or choose another folder"
            )
    return set(files)


def _strangers(folder: Path, kind: Kind, given: str) -> list[str]:
    """Entries of ``folder`` the kit did not write there (empty: the folder may be replaced)."""
    entries = sorted(p.name for p in folder.iterdir())
    if not entries:
        return []
    record = read_marker(folder)
    if record is None or record.get("kind") != kind:
        return entries
    kept = {MARKER, *written(record, given)}
    return [name for name in entries if name not in kept and not _transient(folder, name)]


def _transient(folder: Path, name: str) -> bool:
    """A lock, a half-written file or a leftover of a run writing inside ``folder`` (a batch writes so)."""
    if name.startswith(".") and name.endswith((".lock", ".partial")):
        return True
    return re.fullmatch(r"\..+\.(new|old)-[0-9a-f]{8}", name) is not None and read_marker(folder / name) is not None


def _describe(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _lock(path: Path, given: str) -> int:
    """Take the lock file beside ``path`` (its descriptor); another run holding it is a ``KitError``."""
    lock = path.parent / f".{path.name}.lock"
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise KitError(
                f"--out {given}: another apim-snat run is writing this folder; wait for it or choose another"
            ) from None
        with suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        os.close(descriptor)  # its last holder removed the lock file between our open and lock: again


def _unlock(path: Path, descriptor: int) -> None:
    (path.parent / f".{path.name}.lock").unlink(missing_ok=True)
    os.close(descriptor)


def _clean_leftovers(path: Path) -> None:
    """Remove what a killed run left beside ``path``; finish its swap if it stopped half-way."""
    pattern = _leftover_pattern(path.name)
    leftovers = [
        p
        for p in path.parent.iterdir()
        if pattern.fullmatch(p.name) and not p.is_symlink() and p.is_dir() and read_marker(p) is not None
    ]
    for retired in (p for p in leftovers if ".old-" in p.name):
        if not path.exists():
            retired.rename(path)  # the run died between its two renames: the earlier folder comes back
        else:
            shutil.rmtree(retired)
    for staging in (p for p in leftovers if ".new-" in p.name):
        shutil.rmtree(staging)


@contextmanager
def claim(path: Path, kind: Kind, given: str | None = None) -> Iterator[Path]:
    """Own ``path`` for one run: locked, cleaned of leftovers, and checked to hold only the kit's files."""
    given = given or str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = _lock(path, given)
    except OSError as err:
        raise KitError(f"--out {given}: cannot write in {path.parent}: {err.strerror or err}") from None
    try:
        try:
            _clean_leftovers(path)
            strangers = _strangers(path, kind, given) if path.is_dir() else []
        except OSError as err:
            raise KitError(f"--out {given}: {err.strerror or err}") from None
        if strangers:
            record = read_marker(path)
            if record is not None and record.get("kind") != kind:
                raise KitError(f"--out {given} holds a {record.get('kind')} of the kit, not a {kind}")
            raise KitError(
                f"--out {given} holds files the kit did not write there ({_describe(strangers)}); "
                f"give an empty folder, a new one or an earlier {kind} folder of the kit"
            )
        yield path
    finally:
        _unlock(path, descriptor)


@contextmanager
def staging(path: Path, kind: Kind) -> Iterator[Path]:
    """A hidden sibling folder that replaces ``path`` in one step if the block succeeds.

    Call it inside ``claim``. Whatever the block raises (a signal included), the staging folder
    goes; the marker lists exactly the files the block wrote (anything hidden goes first), so the
    next run may replace them.
    """
    token = uuid.uuid4().hex[:8]
    new = path.parent / f".{path.name}.new-{token}"
    new.mkdir(mode=PRIVATE_FOLDER)
    try:
        write_marker(new, kind, [])
        yield new
        _remove_hidden(new)
        write_marker(new, kind, sorted(p.name for p in new.iterdir() if p.name != MARKER))
        make_private(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    retired = path.parent / f".{path.name}.old-{token}"
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:  # no signal between the two renames: the folder is the old one or the new one, never missing
        if path.exists():
            path.rename(retired)
        new.rename(path)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    shutil.rmtree(retired, ignore_errors=True)


def _remove_hidden(folder: Path) -> None:
    """What the run left hidden in its own staging ``folder`` (the kernel's connection file): a marker
    lists plain names only, so nothing hidden but the marker stays in a folder of the kit."""
    for path in folder.iterdir():
        if path.name.startswith(".") and path.name != MARKER:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def kernel_dir(staging_folder: Path) -> Path:
    """Where the report kernel's connection file goes: inside the staging folder, gone with it."""
    folder = staging_folder / KERNEL_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder
