"""Receive input files: keep each one unchanged, rasterise it, quarantine what cannot be read.

The embedded default keeps everything under the data folder:

* `ObjectRawStore` over the object store of `PLICO_STORAGE_URL` (storage.objects; default the
  local `<data_dir>/objects`, where `LocalRawStore` is the same thing): every input
  byte-identical under its SHA-256, `raw/<sha[:2]>/<sha>`, write-once, with its original
  name, size and first receipt time (a JSON sidecar locally, object metadata on S3). Putting
  the same bytes twice stores them once; reading checks the hash.
* `Quarantine` (`<data_dir>/quarantine/<sha>.json`): why a raw file, or some of its pages,
  could not be read: the reason, the error class and its exit code, the pages (None = the
  whole file).

`ingest` runs both over a list of inputs and yields events: the pages of every readable
input, one quarantine event per unreadable input or page, and an error event for an input
that cannot even be stored (a missing path). One bad input never stops the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from extractors.raster import PageFailure, PageImage, open_input, read_pages
from pipeline import errors
from pipeline.errors import InputError, InputNotFoundError
from pipeline.settings import Settings
from storage.objects import (
    LocalObjectStore,
    ObjectDamagedError,
    ObjectNotFoundError,
    open_store,
    raw_key,
)

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's content as lowercase hex, read in chunks."""
    with path.open("rb") as fp:
        return hashlib.file_digest(fp, "sha256").hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_sha(sha256: str) -> None:
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            json.dump(data, fp, ensure_ascii=False, indent=2, sort_keys=True)
            fp.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class RawObject:
    """An input file as kept in the raw store (its first receipt)."""

    sha256: str
    size: int
    original_name: str
    received: str  # ISO 8601, UTC


class RawStore(Protocol):
    """Where raw inputs are kept: content-addressed, write-once."""

    def put(self, path: Path) -> RawObject: ...

    def get(self, sha256: str) -> Path: ...


class ObjectRawStore:
    """Raw inputs in an object store (storage.objects): key `raw/<sha[:2]>/<sha>`, metadata
    `original_name` and `received` (the first receipt), size and SHA-256 kept by the store.

    `get` returns a local file, its hash checked: the object's own file for the local store,
    a downloaded copy under `cache_dir` for S3 (`release(sha)` removes that copy).
    """

    def __init__(self, store, *, cache_dir: Path | None = None) -> None:
        self.store = store
        self._cache_dir = cache_dir

    def _staging(self) -> Path:
        staging = getattr(self.store, "staging_dir", None)
        return staging() if staging is not None else self._cache()

    def _cache(self) -> Path:
        if self._cache_dir is None:
            self._cache_dir = Path(tempfile.mkdtemp(prefix="plico-raw-"))
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        return self._cache_dir

    def put(self, path: Path) -> RawObject:
        """Keep `path` unchanged (once per content) and return its record (the first receipt)."""
        fd, tmp_name = tempfile.mkstemp(dir=self._staging(), prefix=".incoming-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                with open_input(path) as src:
                    # hash while copying: one read, and the hash is of the bytes kept
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                out.flush()
                os.fsync(out.fileno())  # the raw file is the evidence: on disk before it counts
            sha256 = digest.hexdigest()
            key = raw_key(sha256)
            if self.store.exists(key):
                log.debug("raw %s already stored", sha256[:12])
            else:
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.store.put_file(key, tmp, content_type,
                                    {"original_name": path.name, "received": _now()},
                                    sha256=sha256, move=True)
                log.info("stored raw %s (%d bytes)", sha256[:12], size)
        finally:
            tmp.unlink(missing_ok=True)
        return self.info(sha256)  # racing puts of the same bytes: the first receipt wins

    def info(self, sha256: str) -> RawObject:
        """The stored record of a raw object."""
        _check_sha(sha256)
        try:
            info = self.store.info(raw_key(sha256))
        except ObjectNotFoundError:
            raise InputNotFoundError(f"raw object {sha256} is not in the store") from None
        return RawObject(sha256, info.size, info.metadata.get("original_name", ""),
                         info.metadata.get("received", ""))

    def get(self, sha256: str) -> Path:
        """A local file of `sha256`'s bytes, checked against the hash first."""
        _check_sha(sha256)
        key = raw_key(sha256)
        try:
            verified_path = getattr(self.store, "verified_path", None)
            if verified_path is not None:
                return verified_path(key)
            cached = self._cache() / sha256
            if cached.is_file() and sha256_file(cached) == sha256:
                return cached
            return self.store.get_file(key, cached)
        except ObjectNotFoundError:
            raise InputNotFoundError(f"raw object {sha256} is not in the store") from None
        except ObjectDamagedError as err:
            raise InputError(f"raw object {sha256} is damaged: {err}") from None

    def release(self, sha256: str) -> None:
        """Drop the downloaded copy of `sha256` (no-op for the local store)."""
        if getattr(self.store, "verified_path", None) is None and self._cache_dir is not None:
            (self._cache_dir / sha256).unlink(missing_ok=True)


class LocalRawStore(ObjectRawStore):
    """Raw inputs on the local disk: `root/raw/<sha[:2]>/<sha>` and `<sha>.json` beside it."""

    def __init__(self, root: Path) -> None:
        super().__init__(LocalObjectStore(root))
        self.root = root


def open_raw_store(settings: Settings) -> ObjectRawStore:
    """The raw store of `settings`: in the object store of `PLICO_STORAGE_URL`."""
    return ObjectRawStore(open_store(settings), cache_dir=settings.data_dir / "cache" / "raw")


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """Why a raw input, or some of its pages, could not be read."""

    sha256: str
    original_name: str
    reason: str
    code: str  # the exception class, e.g. "EncryptedInputError"
    exit_code: int
    pages: tuple[int, ...] | None  # 0-based page indices; None = the whole file
    at: str  # ISO 8601, UTC


class Quarantine:
    """Quarantine records under `root/quarantine/<sha256>.json`, one file per raw input."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dir = root / "quarantine"

    def add(self, raw: RawObject, reason: str, code: str, pages: list[int] | None = None) -> Path:
        """Record that `raw` (or its `pages`) could not be read; `code` names an error class.

        Recording the same reason, code and pages again (a re-ingest) adds nothing.
        """
        error = getattr(errors, code, None)
        if not (isinstance(error, type) and issubclass(error, errors.PlicoError)):
            raise ValueError(f"{code!r} is not an error class of pipeline.errors")
        entry = {
            "reason": reason,
            "code": code,
            "exit_code": int(error.exit_code),
            "pages": sorted(pages) if pages is not None else None,
            "at": _now(),
        }
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{raw.sha256}.json"
        # read-modify-write under a lock file: workers of one data folder share it
        with (self._dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                record = json.loads(path.read_text(encoding="utf-8"))
            else:
                record = {"sha256": raw.sha256, "original_name": raw.original_name, "entries": []}
            same = [
                e
                for e in record["entries"]
                if (e["reason"], e["code"], e["pages"]) == (reason, code, entry["pages"])
            ]
            if not same:
                record["entries"].append(entry)
                _write_json_atomic(path, record)
        log.warning("quarantined raw %s: %s, pages %s", raw.sha256[:12], code, entry["pages"])
        return path

    def list(self) -> list[QuarantineEntry]:
        """Every recorded entry, oldest first."""
        found = []
        for path in sorted(self._dir.glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            for e in record["entries"]:
                found.append(
                    QuarantineEntry(
                        sha256=record["sha256"],
                        original_name=record["original_name"],
                        reason=e["reason"],
                        code=e["code"],
                        exit_code=e["exit_code"],
                        pages=tuple(e["pages"]) if e["pages"] is not None else None,
                        at=e["at"],
                    )
                )
        return sorted(found, key=lambda q: (q.at, q.sha256))


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageEvent:
    """A page read from a stored raw input."""

    raw: RawObject
    page: PageImage


@dataclass(frozen=True, slots=True)
class QuarantineEvent:
    """A stored raw input, or some of its pages, went to quarantine."""

    raw: RawObject
    reason: str
    code: str
    exit_code: int
    pages: tuple[int, ...] | None  # None = the whole file
    record: Path


@dataclass(frozen=True, slots=True)
class InputErrorEvent:
    """An input that could not even be stored (missing, unreadable): nothing is kept."""

    path: Path
    reason: str
    code: str
    exit_code: int


@dataclass(frozen=True, slots=True)
class DuplicateInputEvent:
    """An input whose bytes were already ingested earlier in the same run: not read again."""

    path: Path
    raw: RawObject


IngestEvent = PageEvent | QuarantineEvent | InputErrorEvent | DuplicateInputEvent


def expand_inputs(paths: Sequence[Path]) -> Iterator[Path]:
    """The input files in order: a folder becomes its files (recursively, sorted by path,
    hidden ones skipped); anything else, existing or not, stays as given."""
    for path in paths:
        if path.is_dir():
            files = sorted(
                f
                for f in path.rglob("*")
                if f.is_file() and not any(p.startswith(".") for p in f.relative_to(path).parts)
            )
            if not files:
                log.warning("an input folder holds no files")
            yield from files
        else:
            yield path


def ingest(
    paths: Sequence[Path],
    settings: Settings,
    *,
    store: RawStore | None = None,
    quarantine: Quarantine | None = None,
) -> Iterator[IngestEvent]:
    """Store every input raw, then yield its pages; a bad input is quarantined, not fatal.

    Defaults: the raw store of `open_raw_store(settings)` (`<data_dir>/objects` unless
    `PLICO_STORAGE_URL` names another), the `Quarantine` of `<data_dir>`.
    """
    store = store if store is not None else open_raw_store(settings)
    quarantine = quarantine if quarantine is not None else Quarantine(settings.data_dir)
    seen: set[str] = set()
    for path in expand_inputs(paths):
        try:
            raw = store.put(path)
        except InputError as err:
            log.warning("input not stored: %s", type(err).__name__)
            yield InputErrorEvent(path, str(err), type(err).__name__, int(err.exit_code))
            continue
        if raw.sha256 in seen:
            yield DuplicateInputEvent(path, raw)
            continue
        seen.add(raw.sha256)
        yield from _read(raw, path.name, store, quarantine, settings)


def _read(
    raw: RawObject, name: str, store: RawStore, quarantine: Quarantine, settings: Settings
) -> Iterator[IngestEvent]:
    # Pages come from the stored copy (hash-checked), never from the input path, which a
    # scanner may still be writing: what was read is exactly what was kept.
    pages = 0
    try:
        local = store.get(raw.sha256)
        for item in read_pages(local, settings=settings, name=name, sha256=raw.sha256):
            if isinstance(item, PageFailure):
                yield _quarantined(quarantine, raw, item.error, item.pages)
            else:
                pages += 1
                yield PageEvent(raw, item)
    except InputError as err:
        # read_pages raises only before its first page: the whole file is unread
        yield _quarantined(quarantine, raw, err, None)
    finally:
        release = getattr(store, "release", None)
        if release is not None:
            release(raw.sha256)
    log.info("raw %s: %d pages read", raw.sha256[:12], pages)


def _quarantined(
    quarantine: Quarantine, raw: RawObject, err: InputError, pages: tuple[int, ...] | None
) -> QuarantineEvent:
    code = type(err).__name__
    record = quarantine.add(raw, str(err), code, list(pages) if pages is not None else None)
    return QuarantineEvent(raw, str(err), code, int(err.exit_code), pages, record)
