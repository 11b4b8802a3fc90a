"""Submitting a batch (step 1 of pipeline/process.py): each input kept byte for byte in the
object store under its SHA-256 (`raw/<sha[:2]>/<sha>`), the batch and its inputs registered
in the index, the input order in `batches/<id>/inputs.json`. Inputs a finished batch already
read are found by their hashes (`find_batch`) instead of being registered again."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from pipeline.errors import InputError, InputNotFoundError, UnsupportedInputError
from pipeline.runtime import Runtime
from storage import db
from storage.objects import raw_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawInput:
    sha256: str
    name: str
    size: int


def expand_inputs(paths: Sequence[Path]) -> Iterator[Path]:
    """The input files in order: a folder becomes its files (recursively, sorted by path,
    hidden ones skipped; a pipe, socket or dangling link in it too, to be reported by
    `store_raw`); anything else, existing or not, stays as given."""
    for path in paths:
        if path.is_dir():
            files = sorted(
                f
                for f in path.rglob("*")
                if not f.is_dir() and not any(p.startswith(".")
                                              for p in f.relative_to(path).parts)
            )
            if not files:
                log.warning("an input folder holds no files")
            yield from files
        else:
            yield path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's content as lowercase hex, read in chunks."""
    with path.open("rb") as fp:
        return hashlib.file_digest(fp, "sha256").hexdigest()


def inputs_key(batch_id: str) -> str:
    return f"batches/{batch_id}/inputs.json"


def kits_key(batch_id: str) -> str:
    """The batch's kits in scan order, its own and those of envelopes recorded before."""
    return f"batches/{batch_id}/kits.json"


def store_raw(store, path: Path) -> RawInput:
    """Keep an input byte for byte under its SHA-256 (once per content: write-once keys)."""
    if path.is_symlink() and not path.exists():
        raise InputNotFoundError(f"{path.name}: a link to a file that does not exist")
    if not path.exists():
        raise InputNotFoundError(f"{path.name}: no such input file")
    if not path.is_file():  # a FIFO, socket or device (a folder is expanded before)
        raise UnsupportedInputError(f"{path.name}: not a regular file (a pipe, socket or "
                                    "device), not read")
    try:
        sha = sha256_file(path)
    except OSError as err:  # unreadable (permissions, I/O error): this input only, not the batch
        raise InputError(f"{path.name}: cannot be read ({err.strerror})") from None
    key = raw_key(sha)
    if not store.exists(key):
        store.put_file(key, path, metadata={"original_name": path.name})
    return RawInput(sha, path.name, path.stat().st_size)


def raw_bytes(store, sha256: str) -> bytes:
    """The stored raw input's bytes (the store checks its hash on reading). Pillow and pdfium
    read them in memory: no copy of an applicant's document goes to a temp folder, where a
    killed process would leave it."""
    return store.get(raw_key(sha256))


def batch_inputs(rt: Runtime, batch_id: str) -> list[RawInput]:
    """The inputs of a batch in submission order."""
    return [RawInput(**i) for i in json.loads(rt.store.get(inputs_key(batch_id)))]


def new_batch_id() -> str:
    """Sortable by submission time, unique without coordination."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class Submitted:
    batch_id: str
    name: str
    inputs: list[RawInput]
    errors: list[str] = field(default_factory=list)  # inputs that could not even be stored
    # the status of the batch that had already read these inputs (None: a new batch)
    earlier: str | None = None


def submit_batch(rt: Runtime, source: Path, *, name: str | None = None,
                 batch_id: str | None = None, owner: str | None = None,
                 reuse: bool = True) -> Submitted:
    """Store a batch's raw inputs and register the batch (status queued, `owner` the
    in-process run reading it, None for the workers).

    One batch per content: when a batch has already read the same inputs (the same SHA-256,
    in the same order: `batches.source_sha256`), that batch is returned with `earlier` set to
    its status and nothing new is registered; the caller skips it or resumes it. reuse=False
    registers a new batch all the same (benches reading one file again on purpose); such a
    batch is not found by a later submit."""
    from sqlalchemy.exc import IntegrityError

    from storage.index import source_key

    name = name or (source.stem if source.is_file() else source.name)
    kept: list[RawInput] = []
    errors: list[str] = []
    for path in expand_inputs([source]):
        try:
            raw = store_raw(rt.store, path)
        except InputError as err:
            log.warning("input not stored: %s", type(err).__name__)
            errors.append(f"{err} ({type(err).__name__})")  # the message names the file
            continue
        if any(k.sha256 == raw.sha256 for k in kept):
            log.info("input %s given twice in one batch: read once", raw.sha256[:12])
            continue
        kept.append(raw)
    key = source_key(r.sha256 for r in kept) if reuse else None
    earlier = find_batch(rt, key)
    if earlier is not None:
        return Submitted(earlier[0], name, kept, errors, earlier=earlier[1])
    batch_id = batch_id or new_batch_id()
    rt.store.put(inputs_key(batch_id),
                 json.dumps([{"sha256": r.sha256, "name": r.name, "size": r.size}
                             for r in kept]).encode(), content_type="application/json")
    try:
        with rt.session() as s:
            s.add(db.Batch(id=batch_id, name=name, status="queued", source_sha256=key,
                           owner=owner, heartbeat_at=db.utcnow() if owner else None,
                           error="; ".join(errors) or None))
            s.flush()
            for r in kept:
                s.add(db.Input(sha256=r.sha256, batch_id=batch_id, original_name=r.name,
                               size=r.size))
    except IntegrityError:  # another run registered the same inputs a moment ago
        earlier = find_batch(rt, key)
        if earlier is None:
            raise
        return Submitted(earlier[0], name, kept, errors, earlier=earlier[1])
    return Submitted(batch_id, name, kept, errors)


def find_batch(rt: Runtime, key: str | None) -> tuple[str, str] | None:
    """(id, status) of the batch that read the inputs of `key` (`storage.index.source_key`)."""
    if key is None:
        return None
    with rt.session() as s:
        row = s.execute(select(db.Batch.id, db.Batch.status)
                        .where(db.Batch.source_sha256 == key)).first()
    return (row[0], row[1]) if row is not None else None


def count_pages(inputs: Sequence[Path]) -> int | None:
    """A cheap page count for the progress bar (None when unknown)."""
    import pypdfium2 as pdfium
    from PIL import Image

    total = 0
    for src in inputs:
        files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
        for f in files:
            if not f.is_file():  # missing, or a pipe: opening one would wait for a writer
                continue
            try:
                if f.suffix.lower() == ".pdf":
                    total += len(pdfium.PdfDocument(f))
                else:
                    with Image.open(f) as im:
                        total += getattr(im, "n_frames", 1)
            except Exception:  # noqa: BLE001 - the pipeline reports bad inputs; the bar guesses
                total += 1
    return total
