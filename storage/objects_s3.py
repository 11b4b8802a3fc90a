"""The S3 object store (MinIO, SeaweedFS or any S3) through the `minio` client: each
object's SHA-256 in its metadata (`x-amz-meta-sha256`), checked on every read. The
contract is storage/objects.py's.

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
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote, unquote

from storage.objects import (
    _CHUNK,
    _RESERVED,
    ObjectConflictError,
    ObjectDamagedError,
    ObjectInfo,
    ObjectNotFoundError,
    StorageConfigError,
    StorageError,
    StorageUnavailableError,
    _hash_file,
    _same_or_conflict,
    _write_once,
    check_key,
)

log = logging.getLogger("storage.objects")  # the name it logged under before the split

_PART = 16 << 20  # S3 multipart part size for uploads larger than one part
T = TypeVar("T")

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
