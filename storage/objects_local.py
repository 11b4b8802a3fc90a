"""The local-directory object store (the default): objects as files under a root folder,
each with a JSON sidecar holding its SHA-256, size, content type and user metadata, and the
owner-only folders it keeps them in (`private_dirs`, also the database's and the web
secret's). The contract is storage/objects.py's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from storage.objects import (
    _CHUNK,
    _RESERVED,
    ObjectConflictError,
    ObjectDamagedError,
    ObjectInfo,
    ObjectNotFoundError,
    _hash_file,
    _same_or_conflict,
    _write_once,
    check_key,
)

log = logging.getLogger("storage.objects")  # the name it logged under before the split


#: Objects of the local store: readable by their owner only, and never written again.
_READ_ONLY = 0o400


def private_dirs(folder: Path) -> None:
    """`folder` and its missing parents, created 0700: the store holds personal data (a
    plain `mkdir(parents=True, mode=...)` gives the parents the default mode)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)


class LocalObjectStore:
    """Objects as files under `root/<key>`, each with a JSON sidecar `root/<key>.json`
    (sha256, size, content_type and the user metadata, flat). Files are read-only, their
    owner's only (0400; folders 0700), and replaced atomically; raw/ objects and their sidecars are written once and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._staging = self.root / ".staging"

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def ensure_bucket(self) -> None:
        """Create the root folder (the local store's "bucket")."""
        private_dirs(self.root)

    def bucket_exists(self) -> bool:
        return self.root.is_dir()

    def path_of(self, key: str) -> Path:
        """The file of `key` (it may not exist)."""
        return self.root / check_key(key)

    def _sidecar(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def staging_dir(self) -> Path:
        """A folder on the store's file system for files that `put_file(move=True)` renames in."""
        private_dirs(self._staging)
        return self._staging

    def _tmp(self, suffix: str = "") -> tuple[int, Path]:
        """A new temporary file for an object on its way in. All of them are in the staging
        folder (the same file system as their keys, for the atomic rename), never beside
        their key: what a killed process leaves is found there and nowhere else
        (`pipeline.runtime.sweep_stale_copies`)."""
        fd, name = tempfile.mkstemp(dir=self.staging_dir(), prefix=".incoming-", suffix=suffix)
        return fd, Path(name)

    def _check_not_sidecar(self, key: str) -> None:
        # `x.json` is x's sidecar when x is an object: such a key cannot be an object too
        if key.endswith(".json") and (self.root / key[:-5]).is_file():
            raise ObjectConflictError(f"{key} is the metadata of {key[:-5]}, not an object")

    def _place(self, key: str, tmp: Path, sha256: str, size: int, content_type: str,
               metadata: Mapping[str, str] | None) -> str:
        """Move the finished file `tmp` to `key` with its sidecar (always consumes `tmp`)."""
        try:
            target = self.path_of(key)
            self._check_not_sidecar(key)
            private_dirs(target.parent)
            meta = {k: str(v) for k, v in (metadata or {}).items() if k not in _RESERVED}
            sidecar = {"sha256": sha256, "size": size, "content_type": content_type, **meta}
            if _write_once(key) and target.exists():
                if self._sidecar(key).exists():
                    _same_or_conflict(key, self.info(key).sha256, sha256)
                else:  # a crash came between the file and its sidecar: finish the put
                    _same_or_conflict(key, _hash_file(target)[0], sha256)
                    self._write_sidecar(key, sidecar, once=True)
                log.debug("object %s already stored", key[:20])
                return sha256
            tmp.chmod(_READ_ONLY)
            if _write_once(key):
                # two puts of the same bytes race to identical content; the first sidecar
                # (the first receipt) stays
                os.replace(tmp, target)
                self._write_sidecar(key, sidecar, once=True)
            else:
                self._write_sidecar(key, sidecar, once=False)
                os.replace(tmp, target)
            return sha256
        finally:
            tmp.unlink(missing_ok=True)

    def _write_sidecar(self, key: str, sidecar: dict, *, once: bool) -> None:
        fd, side_tmp = self._tmp(".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fp:
                json.dump(sidecar, fp, ensure_ascii=False, indent=2, sort_keys=True)
                fp.write("\n")
                if once:
                    fp.flush()
                    os.fsync(fp.fileno())
            side_tmp.chmod(_READ_ONLY)
            if once:
                try:
                    os.link(side_tmp, self._sidecar(key))  # link() never replaces
                except FileExistsError:
                    pass
            else:
                os.replace(side_tmp, self._sidecar(key))
        finally:
            side_tmp.unlink(missing_ok=True)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream",
            metadata: Mapping[str, str] | None = None) -> str:
        """Store `data` under `key`; returns its SHA-256."""
        self.path_of(key)  # a bad key fails before anything is written
        fd, tmp = self._tmp()
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if _write_once(key) or key.startswith("records/"):
                out.flush()
                os.fsync(out.fileno())
        sha256 = hashlib.sha256(data).hexdigest()
        return self._place(key, tmp, sha256, len(data), content_type, metadata)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream",
                 metadata: Mapping[str, str] | None = None, *, sha256: str | None = None,
                 move: bool = False) -> str:
        """Store the file at `path` under `key`; returns its SHA-256.

        `move=True` renames `path` in (it must be in `staging_dir()`) instead of copying it;
        `sha256`, when the caller has just hashed these very bytes, saves reading them again.
        """
        self.path_of(key)  # a bad key fails before anything is written
        if move:
            size = path.stat().st_size
            if sha256 is None:
                sha256, size = _hash_file(path)
            return self._place(key, Path(path), sha256, size, content_type, metadata)
        fd, tmp = self._tmp()
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, Path(path).open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if sha256 is not None and sha256 != digest.hexdigest():
            tmp.unlink(missing_ok=True)
            raise ObjectDamagedError(f"{path.name} changed while it was being stored")
        return self._place(key, tmp, digest.hexdigest(), size, content_type, metadata)

    def info(self, key: str) -> ObjectInfo:
        """The sidecar of `key`."""
        path = self.path_of(key)
        try:
            data = json.loads(self._sidecar(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            if path.is_file():
                raise ObjectDamagedError(f"{key} has no metadata (its hash is unknown)") from None
            raise ObjectNotFoundError(f"no object {key}") from None
        meta = {k: v for k, v in data.items() if k not in _RESERVED}
        return ObjectInfo(key, int(data["size"]), data["sha256"],
                          data.get("content_type", "application/octet-stream"), meta)

    def _verify(self, key: str, actual: str, expected: str) -> None:
        if actual != expected:
            raise ObjectDamagedError(f"{key} is damaged: its content hashes to {actual}, "
                                     f"not {expected}")

    def get(self, key: str) -> bytes:
        """The bytes of `key`, checked against its SHA-256."""
        expected = self.info(key).sha256
        try:
            data = self.path_of(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no object {key} (only its metadata)") from None
        self._verify(key, hashlib.sha256(data).hexdigest(), expected)
        return data

    def verified_path(self, key: str) -> Path:
        """The file of `key` itself (no copy), its content checked against its SHA-256."""
        expected = self.info(key).sha256
        path = self.path_of(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"no object {key} (only its metadata)")
        self._verify(key, _hash_file(path)[0], expected)
        return path

    def get_file(self, key: str, dest: Path) -> Path:
        """Copy `key` to `dest` (checked) and return `dest`."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.get(key))
        return dest

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix`, sorted."""
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            names = set(filenames)
            for name in filenames:
                if name.startswith("."):
                    continue
                if name.endswith(".json") and name[:-5] in names:
                    continue  # a sidecar
                key = (Path(dirpath) / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def delete(self, key: str) -> None:
        """Remove an object (not a raw input: those are never deleted)."""
        if _write_once(key):
            raise ObjectConflictError(f"{key} is a raw input: raw inputs are never deleted")
        self.path_of(key).unlink(missing_ok=True)
        self._sidecar(key).unlink(missing_ok=True)
