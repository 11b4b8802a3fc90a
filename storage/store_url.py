"""The object store a `PLICO_STORAGE_URL` names.

`open_store(settings)` picks the backend from `PLICO_STORAGE_URL`:

* unset: `LocalObjectStore(<data_dir>/objects)`; `file:///abs/path` a local store elsewhere;
* `s3://ACCESS_KEY:SECRET_KEY@host:port/bucket?secure=false&region=us-east-1&retries=8&backoff=0.25`
  (MinIO, SeaweedFS or any S3; key and secret percent-encoded if they hold `@ : /`;
  `secure=true` for HTTPS, the default).

What `retries` and `backoff` mean: storage/objects_s3.py.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from storage.objects import StorageConfigError
from storage.objects_local import LocalObjectStore
from storage.objects_s3 import S3ObjectStore


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
