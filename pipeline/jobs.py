"""`plico process --jobs N`: the heavy steps of an in-process run on N forked processes.

The run itself stays in the calling process: it submits each batch, plans it, splits it and
writes its records, batches side by side in threads (`run_batches`). What costs CPU, preparing
a chunk of pages (`prepare_pages`) and reading a kit (`process_kit`), goes to a pool of N
processes forked when the pool opens, before the calling process starts any thread (a fork
copies no thread, so no lock can be left held in the child). Each child opens its own
runtime on the same settings: the same object store and index (SQLite in WAL mode takes the
writers in turn; PostgreSQL as it comes), and its own recogniser.

The steps are the ones the dramatiq workers run, idempotent and keyed by content, so the
records are those of `--jobs 1`; pages pass from preparation to the reader through the object
store, as between workers, not in memory (`pagestore.PageCache` is for one process).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from pipeline.record import Record
from pipeline.settings import Settings

_runtime = None  # the child's runtime (pipeline.runtime.Runtime), opened by `_open`


class ChildFault(Exception):
    """A kit that failed in a child process, as the parent sees it: the fault's type and
    message, and whether it was transient (`pipeline.faults.is_transient` honours this)."""

    def __init__(self, kind: str, message: str, transient: bool) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.transient = kind, transient


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the process that forked it dies. A run killed
    with SIGKILL (the resume tests do it) must not leave children working on a batch the
    next run takes over."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: children end when their queue breaks
        return
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _open(settings: Settings, recogniser_factory: Callable[[], object], parent: int) -> None:
    global _runtime
    _die_with_parent(parent)
    from pipeline.runtime import limit_threads

    limit_threads(1)  # N processes on N cores: the libraries' own threads would only contend
    from pipeline.runtime import Runtime, pipeline_version
    from storage import db
    from storage.store_url import open_store

    db.forget_engines()  # the parent's pooled connections are the parent's
    _runtime = Runtime(settings, open_store(settings), db.database_url(settings),
                       pipeline_version(settings), recogniser_factory)


def _started() -> bool:
    return _runtime is not None


def _prepare(batch_id: str, chunk) -> int:
    from pipeline.process import prepare_pages

    return prepare_pages(_runtime, batch_id, chunk)


def _read_kit(kit_id: str) -> dict:
    """The kit's record as JSON, or its fault as data (an exception may not pickle)."""
    from pipeline.faults import is_transient
    from pipeline.process import process_kit

    try:
        record, _ = process_kit(_runtime, kit_id)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        return {"fault": type(exc).__name__, "message": str(exc)[:1000],
                "transient": is_transient(exc)}
    return {"record": record.model_dump(mode="json")}


class JobPool:
    """N forked processes for `prepare_pages` and `process_kit`; open it before any thread."""

    def __init__(self, settings: Settings, recogniser_factory: Callable[[], object],
                 jobs: int) -> None:
        self._pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_open,
                                         initargs=(settings, recogniser_factory, os.getpid()))
        # with fork, the first task starts every process at once: now, while this process
        # has no other thread (a failing initializer breaks the pool: this raises)
        self._pool.submit(_started).result()

    def prepare(self, batch_id: str, chunks: Sequence) -> list:
        """Futures of `prepare_pages` for each chunk, in order."""
        return [self._pool.submit(_prepare, batch_id, chunk) for chunk in chunks]

    def read_kits(self, kit_ids: Sequence[str]) -> list:
        """Futures of each kit's outcome, in order: a Record or a `ChildFault` (not raised)."""
        return [self._pool.submit(_read_kit, k) for k in kit_ids]

    @staticmethod
    def outcome(result: dict) -> Record | ChildFault:
        if "record" in result:
            return Record.model_validate(result["record"])
        return ChildFault(result["fault"], result["message"], result["transient"])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
