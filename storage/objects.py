"""The object store's contract: key layout, errors, `ObjectInfo` and the `ObjectStore`
interface every backend offers, with the helpers the backends share.

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

The backends: `objects_local.LocalObjectStore` (the default) and `objects_s3.S3ObjectStore`;
`store_url.open_store(settings)` picks one from `PLICO_STORAGE_URL`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipeline.errors import ConfigError, PlicoError

_CHUNK = 1 << 20
_COMPONENT = r"[A-Za-z0-9_=@+-][A-Za-z0-9._=@#+-]*"
_KEY = re.compile(rf"{_COMPONENT}(/{_COMPONENT})*")
_RESERVED = ("sha256", "size", "content_type")  # sidecar / metadata keys the store owns


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
