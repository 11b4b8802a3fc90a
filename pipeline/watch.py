"""`plico watch DIR...`: a scanner's hot folder.

Each entry at the top of a watched folder is one batch: a file, or a folder written in one
go (its files, in path order, as `plico process` reads a folder). An entry is taken only when
it is complete:

* no part of it is hidden or ends in .tmp, .part, .partial, .crdownload, .filepart or ~
  (a scanner or a copy still writing it under a temporary name);
* every file's size and modification time, and a folder's list of files, have not changed
  for `--settle` seconds;
* every file can be opened and read to the end (its SHA-256 is computed doing so).

A complete entry is handed over: with PLICO_BROKER_URL set, to the workers as `plico submit`
does (inputs stored, batch registered and enqueued); otherwise read in this process as
`plico process` does (records in `--out`). Then it is moved to `DIR/done/`, or to
`DIR/failed/` with `NAME.reason.txt` when it could not be handed over (not stored, a fault of
Plico) or, read here, gave no kit and has inputs or pages in quarantine (the reasons).

Idempotent by content: an entry whose files are all already inputs in the index (same
SHA-256) is not read again; it goes to done/ with `already stored`. Restarts: the state is the
folders and the index, nothing in memory: an entry handed over whose move a crash cut short is
found stored on the next start and only moved. inotify (watchdog) wakes the loop when
something changes; a scan every `--poll` seconds catches what inotify misses (network
shares) and is all there is where watchdog cannot watch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

log = logging.getLogger(__name__)

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", "~")
DONE, FAILED = "done", "failed"


def _temporary(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES)


def _files(entry: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if not p.is_dir())
    return [entry]


def _signature(entry: Path) -> tuple | None:
    """What must stay unchanged for the entry to be complete; None when it is not ready
    (a temporary name in it, a file gone while looking)."""
    sig = []
    try:
        for f in _files(entry):
            if any(_temporary(part) for part in f.relative_to(entry.parent).parts):
                return None
            st = f.stat()
            sig.append((str(f.relative_to(entry)), st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return tuple(sig) or None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _free_name(folder: Path, name: str) -> Path:
    target, n = folder / name, 1
    while target.exists() or target.with_name(target.name + ".reason.txt").exists():
        target, n = folder / f"{name}.{n}", n + 1
    return target


@dataclass
class Watcher:
    folders: list[Path]
    settle_s: float = 5.0
    out: Path = Path("plico-out")
    seen: dict[Path, tuple[tuple, float]] = field(default_factory=dict)
    handed: int = 0

    def __post_init__(self) -> None:
        from pipeline.runtime import open_runtime
        from pipeline.settings import get_settings

        self.settings = get_settings()
        self.rt = open_runtime(self.settings)
        if self.settings.broker_url:
            from pipeline.workers import setup

            setup(self.settings)
        for folder in self.folders:
            for sub in (DONE, FAILED):
                (folder / sub).mkdir(parents=True, exist_ok=True)

    def entries(self) -> Iterable[Path]:
        for folder in self.folders:
            for entry in sorted(folder.iterdir()):
                if entry.name in (DONE, FAILED) or _temporary(entry.name):
                    continue
                yield entry

    def ready(self, entry: Path, now: float) -> bool:
        sig = _signature(entry)
        if sig is None:
            self.seen.pop(entry, None)
            return False
        before = self.seen.get(entry)
        if before is None or before[0] != sig:
            self.seen[entry] = (sig, now)
            return False
        return now - before[1] >= self.settle_s

    def scan(self) -> int:
        """One pass: hand over every complete entry; the number handed over."""
        now, n = time.monotonic(), 0
        present = set()
        for entry in self.entries():
            present.add(entry)
            if self.ready(entry, now):
                self.take(entry)
                self.seen.pop(entry, None)
                n += 1
        for gone in set(self.seen) - present:
            del self.seen[gone]
        return n

    def _stored(self, shas: list[str]) -> bool:
        from sqlalchemy import select

        from storage.db import Input

        with self.rt.session() as s:
            known = set(s.scalars(select(Input.sha256).where(Input.sha256.in_(shas))))
        return set(shas) <= known

    def take(self, entry: Path) -> None:
        try:
            files = _files(entry)
            shas = [_sha256(f) for f in files]  # opens and reads every file to the end
            if _signature(entry) != self.seen.get(entry, (None,))[0]:
                return  # changed while being read: wait for it to settle again
            if self._stored(shas):
                log.info("watch: an entry already stored: not read again")
                self._move(entry, DONE)
                return
            reason = self.hand_over(entry)
        except Exception as exc:  # noqa: BLE001 - the entry fails, the watch goes on
            from pipeline.faults import is_transient

            if is_transient(exc):
                log.warning("watch: service unavailable (%s): retried later", type(exc).__name__)
                return
            log.error("watch: an entry failed: %s", type(exc).__name__)
            reason = f"{type(exc).__name__}: Plico could not hand this batch over"
        self._move(entry, FAILED if reason else DONE, reason)

    def hand_over(self, entry: Path) -> str | None:
        """Submit or process the entry as one batch; the reason it failed, or None."""
        name = entry.stem if entry.is_file() else entry.name
        if self.settings.broker_url:
            from pipeline.intake import submit_batch
            from pipeline.workers import enqueue_batch

            submitted = submit_batch(self.rt, entry, name=name)
            if not submitted.inputs:
                return "; ".join(submitted.errors) or "no input could be stored"
            if getattr(submitted, "earlier", None) is None:
                enqueue_batch(self.rt, submitted.batch_id)
            log.info("watch: batch %s submitted", submitted.batch_id)
        else:
            from pipeline.process import process_batch
            from pipeline.runtime import build_recogniser, private_temp

            private_temp(self.settings)
            summary, _ = process_batch(entry, self.out, self.settings, build_recogniser())
            if not summary.kits and (summary.quarantined or summary.not_stored):
                return "; ".join(summary.not_stored + summary.quarantined)
            log.info("watch: batch %s read: %d pages, %d kits", summary.batch_id, summary.pages,
                     summary.kits)
        self.handed += 1
        return None

    def _move(self, entry: Path, where: str, reason: str | None = None) -> None:
        target = _free_name(entry.parent / where, entry.name)
        entry.rename(target)
        if reason:
            target.with_name(target.name + ".reason.txt").write_text(reason + "\n",
                                                                    encoding="utf-8")


def _wake_on_change(folders: list[Path], wake: threading.Event):
    """A watchdog observer (inotify on Linux) that sets `wake`; None without watchdog."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            wake.set()

    observer = Observer()
    for folder in folders:
        observer.schedule(Handler(), str(folder), recursive=True)
    try:
        observer.start()
    except OSError as exc:  # e.g. inotify watches exhausted: polling alone
        log.warning("watch: no inotify (%s): polling", type(exc).__name__)
        return None
    return observer


def watch(
    folders: Annotated[list[Path], typer.Argument(help="Hot folders the scanner writes into.")],
    out: Annotated[Path, typer.Option("--out", help="Records of batches read in this process "
                                                    "(no broker).")] = Path("plico-out"),
    settle: Annotated[float, typer.Option("--settle", min=0.1, help="Seconds an entry must "
                                          "stay unchanged before it is taken.")] = 5.0,
    poll: Annotated[float, typer.Option("--poll", min=0.1, help="Seconds between scans "
                                        "(inotify wakes it sooner).")] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="Scan until nothing is pending, then "
                                       "exit.")] = False,
) -> None:
    """Watch scanner hot folders: each complete file or folder becomes one batch, handed to
    the workers (PLICO_BROKER_URL) or read here, then moved to done/ or failed/."""
    import signal

    from pipeline.errors import ConfigError

    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{folder} is not a folder")
    watcher = Watcher([f.resolve() for f in folders], settle_s=settle, out=out)
    stop, wake = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (stop.set(), wake.set()))
    observer = None if once else _wake_on_change(watcher.folders, wake)
    log.info("watch: %d folders, settle %.1f s, %s", len(folders), settle,
             "inotify and polling" if observer else "polling")
    try:
        while not stop.is_set():
            wake.clear()
            watcher.scan()
            if once and not watcher.seen and not any(True for _ in watcher.entries()):
                break
            # something pending is looked at again once it may have settled
            wake.wait(min(poll, settle / 2) if watcher.seen else poll)
    finally:
        if observer is not None:
            observer.stop()
            observer.join()
    typer.echo(f"{watcher.handed} batches handed over", err=True)


def register(app: typer.Typer) -> None:
    """Add `plico watch` to the main command."""
    app.command("watch")(watch)
