"""Reading a file someone handed to the kit: a replay folder, a cache, a report folder, a fleet file, an IP map.

Any of them may be a colleague's, an attacker's or a mistake, so a file is opened as what it claims
to be or not at all: a regular file (a FIFO would block the run, a device read for ever), not a
symbolic link when it lies inside a folder (a link could lead anywhere outside it), and no larger
than a file of its kind can be, checked on the opened descriptor before anything is read (so a swap
between a check and the open is no hole, and a 2 GB sparse file costs nothing). JSON is nested at most
``MAX_DEPTH`` deep. Every refusal is a ``KitError`` naming the file by the name the caller gives
(never a local path) and, at most, a short escaped excerpt of what was in it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any

from analysis.errors import KitError, excerpt

#: Deepest nesting any JSON file of the kit has (a cache record: 3) with room to spare.
MAX_DEPTH = 16
_KIB, _MIB, _GIB = 1 << 10, 1 << 20, 1 << 30


class Bound(IntEnum):
    """The most bytes a file of each kind can hold; the README lists them."""

    MARKER = 1 * _MIB
    """``.apim-snat``: the names the kit wrote in a folder (a batch of 10,000 entries is under 1 MiB)."""
    PARAMETERS = 1 * _MIB
    """``parameters.json``: a window, assumptions and the notes (kilobytes)."""
    FLEET = 1 * _MIB
    """A fleet file: some lines per entry; also the most its YAML aliases may expand to."""
    MANIFEST = 1 * _MIB
    """A cache folder's ``cache.json``: the source, the mode, the data-quality record."""
    RECORD = 4 * _MIB
    """A result's JSON record: the KQL text, its parameters and versions (kilobytes)."""
    IP_MAP = 16 * _MIB
    """An ``--ip-map``: one line per host and IP (200,000 lines)."""
    RESULT = 1 * _GIB
    """A result's Parquet: the services cut a result at 64 MB, split results join up to 16 parts."""
    RESULT_UNPACKED = 4 * _GIB
    """What a result's Parquet may say it unpacks to."""


class Refused(KitError):
    """A file the kit will not read, said in one line."""


def size_text(size: int) -> str:
    """``size`` bytes for a person.

    >>> size_text(512), size_text(3 * 1024 * 1024), size_text(2 * 1024**3)
    ('512 bytes', '3.0 MiB', '2.0 GiB')
    """
    if size < _KIB:
        return f"{size} bytes"
    unit, scale = ("GiB", _GIB) if size >= _GIB else ("MiB", _MIB) if size >= _MIB else ("KiB", _KIB)
    return f"{size / scale:.1f} {unit}"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@contextmanager
def opened(path: Path, what: str, follow: bool = False) -> Iterator[tuple[int, os.stat_result]]:
    """The regular file ``path``, open for reading: its descriptor and what ``fstat`` says of it.

    ``what`` names the file in messages. ``follow`` opens through a symbolic link: only for a path
    the user typed, never for a file inside a folder handed to the kit. Opened without blocking,
    so a FIFO is seen for what it is instead of waiting for a writer.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise Refused(f"{what}: no such file") from None
    except OSError as err:
        if err.errno == errno.ELOOP and not follow:
            raise Refused(f"{what} is a symbolic link; the kit reads only the file itself") from None
        raise Refused(f"{what}: cannot read ({err.strerror or err})") from None
    try:
        found = os.fstat(descriptor)
        if not stat.S_ISREG(found.st_mode):
            raise Refused(f"{what} is {_kind(found.st_mode)}, not a regular file")
        os.set_blocking(descriptor, True)
        yield descriptor, found
    except OSError as err:
        raise Refused(f"{what}: cannot read ({err.strerror or err})") from None
    finally:
        os.close(descriptor)


def read_bytes(path: Path, bound: int, what: str, follow: bool = False) -> bytes:
    """The bytes of the regular file ``path`` (see ``opened``), at most ``bound`` of them, else ``Refused``."""
    with opened(path, what, follow) as (descriptor, found):
        if found.st_size > bound:
            raise Refused(f"{what} is {size_text(found.st_size)}, more than such a file can be ({size_text(bound)})")
        chunks, left = [], bound + 1
        while left > 0:
            chunk = os.read(descriptor, min(left, 16 * _MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > bound:
        raise Refused(f"{what} grew past {size_text(bound)} while it was read")
    return data


def read_text(path: Path, bound: int, what: str, follow: bool = False) -> str:
    """The UTF-8 text of ``path`` (see ``read_bytes``)."""
    data = read_bytes(path, bound, what, follow)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refused(f"{what}: not UTF-8 text (byte {err.start})") from None


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep lists and mappings nest in ``value``, counted up to ``limit + 1`` (no recursion).

    >>> depth(1), depth([]), depth({"a": [1, {"b": []}]}), depth([[[[[]]]]], 2)
    (0, 1, 4, 3)
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            deepest = max(deepest, level)
            if level > limit:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def loads_json(text: str, what: str) -> Any:
    """JSON text nested at most ``MAX_DEPTH`` deep; anything else is ``Refused``.

    >>> loads_json('{"a": [1]}', "x.json")
    {'a': [1]}
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise Refused(f"{what}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise Refused(f"{what}: not JSON ({getattr(err, 'msg', err)})") from None
    if depth(value) > MAX_DEPTH:
        raise Refused(f"{what}: nested deeper than {MAX_DEPTH} levels")
    return value


def read_json(path: Path, bound: int, what: str, follow: bool = False) -> Any:
    """The JSON value in ``path`` (see ``read_bytes`` and ``loads_json``)."""
    return loads_json(read_text(path, bound, what, follow), what)


def read_object(path: Path, bound: int, what: str, follow: bool = False) -> dict[str, Any]:
    """A JSON object read from ``path``; any other value is ``Refused``."""
    value = read_json(path, bound, what, follow)
    if not isinstance(value, dict):
        raise Refused(f"{what}: expected a JSON object, found {excerpt(value)}")
    return value
