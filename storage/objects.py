"""The object store: one interface, a local-directory backend (the default) and S3/MinIO.

Key layout (the contract between the pipeline, the workers and the review app):

* `raw/<sha[:2]>/<sha>` raw inputs, write-once: putting the same bytes again is a no-op,
  putting other bytes under an existing raw key is refused; `delete` refuses raw keys.
* `pages/<sha>/<index>.png` upright, deskewed page images (greyscale PNG).
* `crops/<kit_id>/<pipeline_version>/<field_key>.png` field crops (`FieldValue.crop`).
* `records/<kit_id>/<pipeline_version>.json` the record JSON.

Every object carries its SHA-256 (S3: object metadata `x-amz-meta-sha256`; local: a JSON
sidecar `<key>.json` beside the file) and every read checks it: a damaged object raises
`ObjectDamagedError`, never returns wrong bytes. User metadata (a raw input's original name,
size, first receipt) travels the same way; on S3 its values are percent-encoded because HTTP
headers are ASCII.

`open_store(settings)` picks the backend from `PLICO_STORAGE_URL`:

* unset: `LocalObjectStore(<data_dir>/objects)`; `file:///abs/path` a local store elsewhere;
* `s3://ACCESS_KEY:SECRET_KEY@host:port/bucket?secure=false&region=us-east-1&retries=8&backoff=0.25`
  (MinIO, SeaweedFS or any S3; key and secret percent-encoded if they hold `@ : /`;
  `secure=true` for HTTPS, the default).

Transient S3 faults (connection refused or reset, timeouts, HTTP 5xx, SlowDown) are retried
`retries` times (default 8) with exponential backoff from `backoff` seconds (default 0.25),
doubling to at most 4 s: 0.25+0.5+1+2+4+4+4+4 = 19.75 s of waiting in all, enough for a MinIO
or `weed mini` restart (measured here, load ~5 on 2 cores: `weed mini` answers 1.2 s after it
is started again; a read issued while it was down succeeded 0.8 s after the restart began).
After the budget, `StorageUnavailableError` (the workers treat it as transient and retry the
message later); each request also has a 5 s connect and 30 s read timeout.
Bad credentials and a missing bucket are not retried: `StorageConfigError` with what to fix.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pipeline.errors import ConfigError, PlicoError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PART = 16 << 20  # S3 multipart part size for uploads larger than one part
_COMPONENT = r"[A-Za-z0-9_=@+-][A-Za-z0-9._=@#+-]*"
_KEY = re.compile(rf"{_COMPONENT}(/{_COMPONENT})*")
_RESERVED = ("sha256", "size", "content_type")  # sidecar / metadata keys the store owns
T = TypeVar("T")


class StorageError(PlicoError):
    """The object store could not do what was asked."""


class ObjectNotFoundError(StorageError):
    """No object under that key."""


class ObjectDamagedError(StorageError):
    """An object's bytes do not hash to the SHA-256 kept with it (or that hash is missing)."""


class ObjectConflictError(StorageError):
    """A write-once (raw/) key already holds other bytes."""


class StorageUnavailableError(StorageError):
    """The store did not answer within the retry budget: a transient fault, try again later."""


class StorageConfigError(ConfigError):
    """The store is misconfigured: bad URL, refused credentials, missing bucket."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store keeps about an object besides its bytes."""

    key: str
    size: int
    sha256: str
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def check_key(key: str) -> str:
    """`key` if it is a safe object key (no empty, hidden, `.` or `..` parts), else ValueError."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or key.endswith(".json.json"):
        raise ValueError(f"not a valid object key: {key!r}")
    return key


def raw_key(sha256: str) -> str:
    """The key of a raw input: `raw/<sha[:2]>/<sha>`."""
    return f"raw/{sha256[:2]}/{sha256}"


def _write_once(key: str) -> bool:
    return key.startswith("raw/")


class ObjectStore(Protocol):
    """What every backend offers. Keys are checked with `check_key`."""

    def ensure_bucket(self) -> None: ...

    def bucket_exists(self) -> bool: ...

    def put(self, key: str, data: bytes, content_type: str = ...,
            metadata: Mapping[str, str] | None = None) -> str: ...

    def put_file(self, key: str, path: Path, content_type: str = ...,
                 metadata: Mapping[str, str] | None = None, *, sha256: str | None = None,
                 move: bool = False) -> str: ...

    def get(self, key: str) -> bytes: ...

    def get_file(self, key: str, dest: Path) -> Path: ...

    def info(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...


def _hash_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as fp:
        digest = hashlib.file_digest(fp, "sha256")
    return digest.hexdigest(), path.stat().st_size


def _same_or_conflict(key: str, existing: str, new: str) -> None:
    if existing != new:
        raise ObjectConflictError(
            f"{key} is write-once and already holds other content ({existing[:12]}, not {new[:12]})"
        )


# --- local directory ----------------------------------------------------------------------


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


# --- S3 / MinIO ----------------------------------------------------------------------------

_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
                    "RequestTimeTooSkewed", "OperationAborted"}
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
               "InvalidToken", "ExpiredToken", "AllAccessDisabled"}


class S3ObjectStore:
    """Objects in an S3 bucket through the `minio` client. The bucket must exist: the store
    never creates it implicitly (`ensure_bucket()` does, once, at deployment)."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, *,
                 secure: bool = True, region: str = "us-east-1", retries: int = 8,
                 backoff: float = 0.25, max_backoff: float = 4.0, timeout: float = 30.0) -> None:
        import urllib3
        from minio import Minio
        from minio.helpers import check_bucket_name

        try:
            check_bucket_name(bucket, strict=True)
        except ValueError:
            raise StorageConfigError(f"{bucket!r} is not a valid S3 bucket name (3-63 "
                                     "lowercase letters, digits, dots and hyphens)") from None
        self.endpoint, self.bucket = endpoint, bucket
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        # the client's own urllib3 retries are off: _call retries, with a budget it documents
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
            retries=False, maxsize=16,
        )
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                             secure=secure, region=region, http_client=http)

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.endpoint!r}, bucket={self.bucket!r})"

    # errors and retries

    def _classify(self, exc: Exception) -> Exception | None:
        """None when `exc` is transient; else the error to raise."""
        import urllib3.exceptions as u3
        from minio.error import InvalidResponseError, S3Error, ServerError

        if isinstance(exc, S3Error):
            if exc.code in _TRANSIENT_CODES:
                return None
            if exc.code in _AUTH_CODES:
                return StorageConfigError(
                    f"the S3 server at {self.endpoint} refused the credentials ({exc.code}): "
                    "check the access and secret key of PLICO_STORAGE_URL")
            if exc.code == "NoSuchBucket":
                return StorageConfigError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint}: create it "
                    "(`plico db upgrade` does) or fix PLICO_STORAGE_URL")
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return ObjectNotFoundError(f"no object {exc.object_name or ''}")
            return StorageError(f"S3 error {exc.code} at {self.endpoint}: {exc.message}")
        if isinstance(exc, ServerError):
            return None if exc.status_code >= 500 else StorageError(str(exc))
        if isinstance(exc, InvalidResponseError):
            return None  # a proxy's HTML error page while the server restarts
        if isinstance(exc, (u3.HTTPError, ConnectionError, TimeoutError)):
            return None
        return exc

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except Exception as exc:
                final = self._classify(exc)
                if final is not None:
                    if final is exc:
                        raise
                    raise final from exc
                if attempt == self.retries:
                    raise StorageUnavailableError(
                        f"S3 server at {self.endpoint} unavailable for {what} after "
                        f"{self.retries + 1} attempts ({type(exc).__name__})") from exc
                log.warning("S3 %s failed (%s), retry %d/%d in %.2fs", what,
                            type(exc).__name__, attempt + 1, self.retries, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    # bucket

    def bucket_exists(self) -> bool:
        return self._call("bucket check", lambda: self._client.bucket_exists(self.bucket))

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (deployment step; puts never create it)."""
        if not self.bucket_exists():
            self._call("bucket creation", lambda: self._client.make_bucket(self.bucket))
            log.info("created bucket %s", self.bucket)

    # writes

    @staticmethod
    def _encode(metadata: Mapping[str, str] | None, sha256: str) -> dict[str, str]:
        meta = {k: quote(str(v), safe="") for k, v in (metadata or {}).items()
                if k not in _RESERVED}
        meta["sha256"] = sha256
        return meta

    def _existing_raw(self, key: str, sha256: str) -> bool:
        """True when write-once `key` already holds these bytes; conflict if other bytes."""
        if not _write_once(key):
            return False
        try:
            info = self.info(key)
        except ObjectNotFoundError:
            return False
        _same_or_conflict(key, info.sha256, sha256)
        return True

    def _upload(self, key: str, opener: Callable[[], BinaryIO], size: int, sha256: str,
                content_type: str, metadata: Mapping[str, str] | None) -> str:
        check_key(key)
        if self._existing_raw(key, sha256):
            return sha256
        meta = self._encode(metadata, sha256)

        def put() -> None:
            with opener() as stream:
                self._client.put_object(self.bucket, key, stream, size,
                                        content_type=content_type, metadata=meta,
                                        part_size=_PART if size > _PART else 0)

        self._call(f"put of {key[:24]}", put)
        return sha256

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream",
            metadata: Mapping[str, str] | None = None) -> str:
        """Store `data` under `key` with its SHA-256 as metadata; returns the SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        return self._upload(key, lambda: io.BytesIO(data), len(data), sha256, content_type,
                            metadata)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream",
                 metadata: Mapping[str, str] | None = None, *, sha256: str | None = None,
                 move: bool = False) -> str:
        """Upload the file at `path` (`move=True`: delete it once stored)."""
        path = Path(path)
        if sha256 is None:
            sha256, size = _hash_file(path)
        else:
            size = path.stat().st_size
        result = self._upload(key, lambda: path.open("rb"), size, sha256, content_type, metadata)
        if move:
            path.unlink(missing_ok=True)
        return result

    # reads

    def info(self, key: str) -> ObjectInfo:
        check_key(key)
        stat = self._call(f"stat of {key[:24]}",
                          lambda: self._client.stat_object(self.bucket, key))
        meta = {k.lower()[len("x-amz-meta-"):]: unquote(v) for k, v in stat.metadata.items()
                if k.lower().startswith("x-amz-meta-")}
        sha256 = meta.pop("sha256", "")
        if not sha256:
            raise ObjectDamagedError(f"{key} has no sha256 metadata (its hash is unknown)")
        return ObjectInfo(key, int(stat.size or 0), sha256,
                          stat.content_type or "application/octet-stream", meta)

    def _read_into(self, key: str, open_sink: Callable[[], BinaryIO]) -> str:
        """Read `key` into a fresh sink per attempt; raises if the bytes do not hash right."""
        check_key(key)

        def read() -> str:
            response = self._client.get_object(self.bucket, key)
            try:
                expected = response.headers.get("x-amz-meta-sha256", "")
                digest = hashlib.sha256()
                with open_sink() as sink:
                    for chunk in response.stream(_CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
            finally:
                response.close()
                response.release_conn()
            if not expected:
                raise ObjectDamagedError(f"{key} has no sha256 metadata (its hash is unknown)")
            if digest.hexdigest() != expected:
                raise ObjectDamagedError(f"{key} is damaged: its content hashes to "
                                         f"{digest.hexdigest()}, not {expected}")
            return expected

        return self._call(f"get of {key[:24]}", read)

    def get(self, key: str) -> bytes:
        """The bytes of `key`, checked against the SHA-256 kept with it."""
        buffers: list[io.BytesIO] = []

        class _Keep(io.BytesIO):
            def close(self) -> None:  # keep the bytes readable after the `with`
                pass

        def sink() -> io.BytesIO:
            buffers.append(_Keep())
            return buffers[-1]

        self._read_into(key, sink)
        return buffers[-1].getvalue()

    def get_file(self, key: str, dest: Path) -> Path:
        """Download `key` to `dest` (checked before `dest` appears) and return `dest`."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".incoming-")
        os.close(fd)
        tmp = Path(name)
        try:
            self._read_into(key, lambda: tmp.open("wb"))
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def exists(self, key: str) -> bool:
        try:
            self.info(key)
        except ObjectNotFoundError:
            return False
        except ObjectDamagedError:
            return True
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix`, sorted (SeaweedFS lists folder by folder, not in
        byte order as S3 says: sorted here so both backends list alike)."""
        names = self._call(
            f"list of {prefix[:24]}",
            lambda: [o.object_name for o in
                     self._client.list_objects(self.bucket, prefix=prefix, recursive=True)],
        )
        yield from sorted(names)

    def delete(self, key: str) -> None:
        """Remove an object (not a raw input: those are never deleted)."""
        check_key(key)
        if _write_once(key):
            raise ObjectConflictError(f"{key} is a raw input: raw inputs are never deleted")
        self._call(f"delete of {key[:24]}", lambda: self._client.remove_object(self.bucket, key))


# --- from settings ------------------------------------------------------------------------


def store_from_url(url: str | None, data_dir: Path) -> LocalObjectStore | S3ObjectStore:
    """The store a `PLICO_STORAGE_URL` names (see the module docstring for the formats)."""
    if not url:
        return LocalObjectStore(Path(data_dir) / "objects")
    parts = urlsplit(url)
    if parts.scheme == "file":
        if not parts.path:
            raise StorageConfigError("file:// storage URL without a path")
        return LocalObjectStore(Path(unquote(parts.path)))
    if parts.scheme != "s3":
        raise StorageConfigError(f"storage URL scheme {parts.scheme!r} is not file or s3")
    bucket = parts.path.strip("/")
    if not parts.hostname or not bucket or "/" in bucket:
        raise StorageConfigError("storage URL must be s3://ACCESS:SECRET@host:port/bucket")
    if parts.username is None or parts.password is None:
        raise StorageConfigError("storage URL has no credentials: s3://ACCESS:SECRET@host/bucket")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"secure", "region", "retries", "backoff"}
    if unknown:
        raise StorageConfigError(f"unknown storage URL options: {', '.join(sorted(unknown))}")
    try:
        secure = {"true": True, "1": True, "false": False, "0": False}[
            query.get("secure", "true").lower()]
        retries = int(query.get("retries", 8))
        backoff = float(query.get("backoff", 0.25))
    except (KeyError, ValueError):
        raise StorageConfigError("storage URL options: secure=true|false, retries=N, "
                                 "backoff=SECONDS") from None
    endpoint = parts.hostname + (f":{parts.port}" if parts.port else "")
    return S3ObjectStore(endpoint, unquote(parts.username), unquote(parts.password), bucket,
                         secure=secure, region=query.get("region", "us-east-1"),
                         retries=retries, backoff=backoff)


def open_store(settings) -> LocalObjectStore | S3ObjectStore:
    """The object store of `settings` (`PLICO_STORAGE_URL`; unset = `<data_dir>/objects`)."""
    return store_from_url(settings.storage_url, settings.data_dir)
