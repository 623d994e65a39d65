"""Query results kept on disk with their provenance, reused on the next run, replayed offline.

A cache folder holds the results of one source in one logging mode: ``cache.json``
(format, kit version, source, mode) and, per result, ``NAME-HASH.parquet`` beside
``NAME-HASH.json``, where HASH is the SHA-256 of the rendered KQL. The JSON record
says what ran and how: KQL text, parameters, source, time run, duration, row count,
completeness, warnings, kit and SDK versions, and the SHA-256 of the Parquet bytes.

Writes are atomic (a temporary file, then a rename), and the record is written last:
an interrupted run leaves at most a result without a record, which reads as a miss.
A record whose Parquet is missing, truncated or altered is a corrupt entry: it is
queried again with a warning (or, offline, refused in one line). The folders under
the cache root are named after the source, so one root serves every source; a
report folder's ``results/`` is a cache folder of its own (``--source cache:DIR``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeGuard

import pandas as pd

from analysis import __version__
from analysis.assets import SAMPLE_LOGS, sample_dir
from analysis.errors import KitError, excerpt
from analysis.query.modes import check_mode
from analysis.safety.credentials import scrub_frame
from analysis.safety.untrusted import Bound, Refused, read_bytes, read_object
from analysis.sources.base import Request, Source, Window, Wrapping
from analysis.sources.quality import DataQuality
from analysis.times import iso, parse_utc

FORMAT = 1
MANIFEST = "cache.json"
#: The longest description of a source a manifest may hold (a source's own is a line).
MAX_DESCRIPTION = 500
#: The libraries whose versions each record names: the ones that shape a result.
SDK_DISTRIBUTIONS = (
    "azure-core",
    "azure-identity",
    "azure-monitor-query",
    "azure-monitor-querymetrics",
    "azure-kusto-data",
    "duckdb",
    "duckdb-kql",
    "pandas",
    "pyarrow",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_log = logging.getLogger(__name__)


def default_cache_root() -> Path:
    """The user's cache folder for the kit (``~/.cache/apim-snat`` on Linux)."""
    import platformdirs

    return platformdirs.user_cache_path("apim-snat")


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def sdk_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a result."""
    versions = {}
    for name in SDK_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def source_key(spec: str) -> str:
    """What identifies a source's results: the place queried, and for a file also its size and time.

    A file written again (same name, other rows) gets a new key, so it is never answered
    from the results of the file it replaced.
    """
    kind, _, rest = spec.partition(":")
    if spec == "sample" or kind == "file":
        path = (sample_dir() / SAMPLE_LOGS) if spec == "sample" else Path(rest).expanduser().resolve()
        try:
            stat = path.stat()
        except OSError:
            return f"file:{path}"
        return f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}"
    if kind in ("loganalytics", "loganalytics-resource"):
        return f"{kind}:{rest.strip().lower()}"
    return spec.strip()


def cache_folder(root: Path, specs: Sequence[str], mode: str | None) -> Path:
    """The folder under ``root`` that holds the results of ``specs`` (unioned) in ``mode``.

    Named ``KIND-NAME-HASH-MODE``: readable, with no local path in it, one per source and mode.
    With ``mode`` None the one folder of the source is looked up.
    """
    key = "+".join(source_key(spec) for spec in specs)
    kind, _, rest = specs[0].partition(":")
    tail = Path(rest).name if kind == "file" else rest.rstrip("/").rsplit("/", 1)[-1][:40]
    stem = "-".join(part for part in (kind, _UNSAFE.sub("_", tail), _sha256(key)[:12]) if part)
    if mode:
        return Path(root) / f"{stem}-{check_mode(mode)}"
    found = sorted(Path(root).glob(f"{stem}-*"))
    if len(found) != 1:
        raise KitError(f"{stem}: {len(found)} cached modes of this source; give --mode")
    return found[0]


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one, never a part."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class CorruptEntry(Exception):
    """A cached result that cannot be trusted; the message says why."""


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _texts(values: list[object]) -> bool:
    return all(isinstance(value, str) for value in values)


def _attributes(record: dict, stem: str) -> dict[str, object]:
    """What a record says of its result, each field of its type; any other is a ``CorruptEntry``."""
    warnings, window, ran_at = record.get("warnings", []), record.get("window"), record.get("ran_at")
    duration, complete, rows = record.get("duration_s", 0.0), record.get("complete", True), record.get("rows")
    wrong = [
        name
        for name, fits in (
            ("rows", _is_int(rows) and rows >= 0),
            ("warnings", isinstance(warnings, list) and _texts(warnings)),
            ("window", window is None or (isinstance(window, list) and len(window) == 2 and _texts(window))),
            ("ran_at", ran_at is None or isinstance(ran_at, str)),
            ("duration_s", isinstance(duration, (int, float)) and not isinstance(duration, bool)),
            ("complete", isinstance(complete, bool)),
            ("result_sha256", isinstance(record.get("result_sha256"), str)),
        )
        if not fits
    ]
    if wrong:
        raise CorruptEntry(f"{stem}: the record's {wrong[0]} is {excerpt(record.get(wrong[0]))}")
    return {
        "warnings": warnings,
        "complete": complete,
        "duration_s": float(duration),
        "ran_at": ran_at,
        "window": window,
    }


def _read_result(data: bytes, rows: int, stem: str) -> pd.DataFrame:
    """The Parquet bytes of a result as a frame, once its metadata says it holds the ``rows`` its record
    says and unpacks to no more than a result can (a small file may claim a billion rows)."""
    import pyarrow.parquet as pq

    def damaged(err: Exception) -> CorruptEntry:  # pyarrow raises several types for damaged files
        return CorruptEntry(f"{stem}: {excerpt(str(err).splitlines()[0] if str(err) else repr(err), 200)}")

    try:
        metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception as err:
        raise damaged(err) from None
    unpacked = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if metadata.num_rows != rows:
        raise CorruptEntry(f"{stem}: {metadata.num_rows} rows, the record says {rows}")
    if unpacked > Bound.RESULT_UNPACKED:
        raise CorruptEntry(f"{stem}: the Parquet file unpacks to {unpacked} bytes, more than a result can")
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as err:
        raise damaged(err) from None


@dataclass(frozen=True)
class CacheFolder:
    """One cache folder: its manifest, and results in and out."""

    path: Path
    source: str
    mode: str
    absent_columns: tuple[str, ...] = ()
    """Documented columns the source's rows lack (a projected export): the diagnosis must know."""
    data_quality: DataQuality | None = None
    """What the source found wrong in its rows (a local export): the report must say it on a replay too."""
    self_hosted: bool = False
    """The rows were a self-hosted gateway's log lines: a replay must say so too."""

    @classmethod
    def create(
        cls,
        path: Path,
        source: str,
        mode: str,
        absent_columns: Sequence[str] = (),
        data_quality: DataQuality | None = None,
        self_hosted: bool = False,
    ) -> CacheFolder:
        """The folder for ``source`` in ``mode``, made if missing; one written by a newer kit is refused."""
        path = Path(path)
        if os.path.lexists(path / MANIFEST):
            found = cls.open(path, mode)
            if found.source == source:
                return found
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            manifest = {
                "format": FORMAT,
                "kit_version": __version__,
                "source": source,
                "mode": str(mode),
                "absent_columns": list(absent_columns),
                "data_quality": data_quality.as_dict() if data_quality is not None else None,
                "self_hosted": self_hosted,
            }
            _write_atomically(path / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
        except OSError as err:
            raise KitError(f"cannot write the cache folder {path}: {err.strerror or err}") from None
        return cls(path, source, str(mode), tuple(absent_columns), data_quality, self_hosted)

    @classmethod
    def open(cls, path: Path, mode: str | None = None) -> CacheFolder:
        """An existing cache folder; another mode's, a newer kit's or a damaged one is a ``KitError``."""
        path = Path(path)
        where = f"cache folder {path.name or path}"
        if not os.path.lexists(path / MANIFEST):
            inside = sorted(p.parent.name for p in path.glob(f"*/{MANIFEST}"))
            if inside:
                named = ", ".join(inside[:5])
                raise KitError(f"{path} is a cache root; give one of its cache folders: {named}")
            raise KitError(f"{path} is not a cache folder (no {MANIFEST}); give a folder the kit wrote")
        manifest = read_object(path / MANIFEST, Bound.MANIFEST, f"{where}: {MANIFEST}")
        try:
            fmt, written_by = manifest["format"], manifest["kit_version"]
            source, found_mode = manifest["source"], manifest["mode"]
            absent = manifest.get("absent_columns", [])
            if not (_is_int(fmt) and isinstance(absent, list) and _texts([written_by, source, found_mode, *absent])):
                raise TypeError("a field of the wrong type")
            if len(source) > MAX_DESCRIPTION:
                raise ValueError("a source description longer than any source's")
            quality = DataQuality.from_dict(manifest["data_quality"]) if manifest.get("data_quality") else None
            hosted = manifest.get("self_hosted", False)
            if not isinstance(hosted, bool):
                raise TypeError("a field of the wrong type")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KitError(f"{where}: {MANIFEST} is unreadable; query the source again with --refresh") from None
        if fmt > FORMAT or _version(written_by) > _version(__version__):
            raise KitError(f"{where} was written by a newer kit ({written_by}); this kit is {__version__}: update it")
        if mode and check_mode(mode) != found_mode:
            raise KitError(f"{where} holds results of mode '{found_mode}', not '{check_mode(mode).value}'")
        return cls(path, source, found_mode, tuple(absent), quality, hosted)

    def _stem(self, name: str, kql: str) -> str:
        return f"{_UNSAFE.sub('_', name)}-{_sha256(kql)[:16]}"

    def load(self, name: str, kql: str) -> pd.DataFrame | None:
        """The cached result of ``kql`` (None when there is none); ``CorruptEntry`` when it is damaged."""
        return self._load(self.path / f"{self._stem(name, kql)}.json", kql)

    def find(self, kql: str) -> pd.DataFrame | None:
        """The cached result of ``kql`` under any query name."""
        for record_path in sorted(self.path.glob(f"*-{_sha256(kql)[:16]}.json")):
            return self._load(record_path, kql)
        return None

    def _load(self, record_path: Path, kql: str) -> pd.DataFrame | None:
        """The result a record describes, checked against it, with its credentials masked (an entry
        may come from an earlier kit or from someone else's folder)."""
        if not os.path.lexists(record_path):
            return None
        parquet = record_path.with_suffix(".parquet")
        try:
            record = read_object(record_path, Bound.RECORD, record_path.name)
            if record.get("kql") != kql:
                raise CorruptEntry(f"{record_path.stem}: the record is not for this query")
            attrs = _attributes(record, record_path.stem)
            data = read_bytes(parquet, Bound.RESULT, parquet.name)
        except Refused as err:
            raise CorruptEntry(str(err)) from None
        if _sha256(data) != record.get("result_sha256"):
            raise CorruptEntry(f"{record_path.stem}: the Parquet file does not match its record")
        frame = _read_result(data, record["rows"], record_path.stem)
        frame.attrs = attrs
        return scrub_frame(frame)

    def store(self, name: str, kql: str, parameters: dict[str, str], frame: pd.DataFrame) -> None:
        """Keep ``frame`` and its record; the frame's ``attrs`` say its warnings, completeness and timing."""
        attrs = frame.attrs
        buffer = io.BytesIO()
        plain = frame.copy(deep=False)
        plain.attrs = {}
        plain.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        record = {
            "format": FORMAT,
            "query": name,
            "source": self.source,
            "mode": self.mode,
            "parameters": parameters,
            "window": attrs.get("window"),
            "kql": kql,
            "ran_at": attrs.get("ran_at") or iso(pd.Timestamp.now(tz="UTC")),
            "duration_s": round(float(attrs.get("duration_s", 0.0)), 3),
            "rows": len(frame),
            "complete": bool(attrs.get("complete", True)),
            "warnings": list(attrs.get("warnings", [])),
            "kit_version": __version__,
            "sdk_versions": sdk_versions(),
            "result_sha256": _sha256(data),
        }
        stem = self._stem(name, kql)
        try:
            _write_atomically(self.path / f"{stem}.parquet", data)
            _write_atomically(self.path / f"{stem}.json", (json.dumps(record, indent=1) + "\n").encode("utf-8"))
        except OSError as err:
            raise KitError(f"cannot write to the cache folder {self.path}: {err.strerror or err}") from None

    def records(self, name: str) -> list[dict]:
        """The records of the results kept under a query name, oldest first."""
        found = []
        for record_path in self.path.glob(f"{_UNSAFE.sub('_', name)}-*.json"):
            try:
                found.append(read_object(record_path, Bound.RECORD, record_path.name))
            except Refused:
                continue
        return sorted(found, key=lambda record: str(record.get("ran_at")))

    def windows(self) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The windows of the cached results that have one."""
        found = []
        for record_path in self.path.glob("*.json"):
            if record_path.name == MANIFEST:
                continue
            try:
                window = read_object(record_path, Bound.RECORD, record_path.name).get("window")
                if window:
                    found.append((parse_utc(window[0]), parse_utc(window[1])))
            except (Refused, ValueError, TypeError, KeyError, IndexError):
                continue
        return found


def _stamp(frame: pd.DataFrame, request_window: Window | None, duration: float) -> None:
    """Attributes a fresh result carries into its record: time run, duration, window, completeness."""
    frame.attrs.setdefault("warnings", [])
    frame.attrs.setdefault("complete", not frame.attrs["warnings"])
    frame.attrs["duration_s"] = duration
    frame.attrs["ran_at"] = iso(pd.Timestamp.now(tz="UTC"))
    frame.attrs["window"] = [iso(t) for t in request_window] if request_window else None


@dataclass
class CachedSource(Wrapping):
    """Another source whose every result is kept in a cache folder and reused on the next run.

    A result is reused unless ``refresh``; an incomplete one (the service cut it short
    even after splitting) is asked for again; a damaged one is asked for again with a warning.
    """

    inner: Source
    folder: CacheFolder
    refresh: bool = False

    @classmethod
    def wrap(cls, inner: Source, specs: Sequence[str], root: Path, refresh: bool = False) -> CachedSource:
        """``inner`` cached in its folder under ``root``."""
        folder = CacheFolder.create(
            cache_folder(root, specs, inner.mode),
            inner.description,
            inner.mode,
            inner.absent_columns,
            inner.data_quality,
            inner.self_hosted,
        )
        return cls(inner, folder, refresh)

    def run(self, kql: str) -> pd.DataFrame:
        return self.keep_beside("ad-hoc", kql, {}, None, lambda: self.inner.run(kql))

    def run_request(self, request: Request) -> pd.DataFrame:
        return self.keep_beside(
            request.name, request.kql, request.parameters, request.window, lambda: self.inner.run_request(request)
        )

    def keep_beside(
        self,
        name: str,
        key: str,
        parameters: dict[str, str],
        window: Window | None,
        fetch: Callable[[], pd.DataFrame],
    ) -> pd.DataFrame:
        """The kept result of ``key`` (a request's text), or ``fetch()``'s, kept for next time."""
        if not self.refresh:
            try:
                found = self.folder.load(name, key)
            except CorruptEntry as err:
                _log.warning("damaged cache entry %s; querying it again", err)
                found = None
            if found is not None and found.attrs["complete"]:
                return found
        began = time.perf_counter()
        frame = fetch()
        _stamp(frame, window, time.perf_counter() - began)
        self.folder.store(name, key, parameters, frame)
        return frame


@dataclass
class CacheReplay(Source):
    """``cache:DIR``: the results of an earlier run, answered with no network and no file of logs."""

    folder: CacheFolder

    @classmethod
    def open(cls, path: Path, mode: str | None = None) -> CacheReplay:
        return cls(CacheFolder.open(Path(path).expanduser(), mode))

    @property
    def mode(self) -> str:
        return self.folder.mode

    @property
    def description(self) -> str:
        """The source the results came from, as it described itself then."""
        return self.folder.source

    @property
    def absent_columns(self) -> tuple[str, ...]:
        return self.folder.absent_columns

    @property
    def data_quality(self) -> DataQuality | None:
        return self.folder.data_quality

    @property
    def self_hosted(self) -> bool:
        return self.folder.self_hosted

    def answer(self, found: Callable[[], pd.DataFrame | None], what: str) -> pd.DataFrame:
        """The result ``found`` gives; none or a damaged one is a ``KitError`` naming ``what``."""
        try:
            frame = found()
        except CorruptEntry as err:
            raise KitError(f"cache folder {self.folder.path.name}: entry {err}; query the source again") from None
        if frame is None:
            raise KitError(
                f"cache folder {self.folder.path.name} holds no result for {what}; "
                "run the same window against the live source first"
            )
        return frame

    def run(self, kql: str) -> pd.DataFrame:
        return self.answer(lambda: self.folder.find(kql), "this query text")

    def run_request(self, request: Request) -> pd.DataFrame:
        window = request.window
        what = request.name + (f" from {iso(window[0])} to {iso(window[1])}" if window else "")
        return self.answer(lambda: self.folder.load(request.name, request.kql), what)

    def keep_beside(
        self,
        name: str,
        key: str,
        parameters: dict[str, str],
        window: Window | None,
        fetch: Callable[[], pd.DataFrame],
    ) -> pd.DataFrame:
        """The result kept under ``key``, never fetched: a replay has no source to ask."""
        return self.answer(lambda: self.folder.load(name, key), name)

    def replayed_records(self, name: str) -> list[dict[str, Any]]:
        return self.folder.records(name)

    def time_range(self) -> Window | None:
        """First and last minute of the widest cached window (``window_for`` turns it back into that window)."""
        windows = self.folder.windows()
        if not windows:
            return None
        return min(w[0] for w in windows), max(w[1] for w in windows) - pd.Timedelta(minutes=1)

    def close(self) -> None:
        """Nothing is held open between queries."""
