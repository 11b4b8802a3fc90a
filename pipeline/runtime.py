"""What a pipeline step runs with: the settings, the object store, the index and the cell
recogniser (`Runtime`, `open_runtime`), built once per process by the CLI, the workers and
the hot folder alike; and the process's private temp folder with the sweep of what killed
processes left (`private_temp`, `sweep_stale_copies`)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline import __version__
from pipeline.settings import Settings
from storage import db

log = logging.getLogger(__name__)


def build_recogniser(kind: str = "auto", naive: bool = False):
    """The comb-cell recogniser `kind` (extractors.auto.RECOGNISERS: auto, cellnet,
    tesseract); `naive`: Tesseract with one call per field (`plico bench speed`).
    Raises ValueError for an unknown kind."""
    from extractors.auto import RECOGNISERS, make_recogniser
    from extractors.recognise import NaiveTesseractRecogniser

    if naive:
        return NaiveTesseractRecogniser()
    if kind not in RECOGNISERS:
        raise ValueError(f"must be one of {', '.join(RECOGNISERS)}, not {kind!r}")
    return make_recogniser(kind)


@dataclass
class Runtime:
    """Settings, object store, index and recogniser: opened once per process (a worker keeps
    its runtime for every message it handles)."""

    settings: Settings
    store: object  # storage.objects.ObjectStore
    db_url: str
    version: str
    recogniser_factory: Callable[[], object]
    _recogniser: object | None = None
    #: pipeline.pagestore.PageCache while `plico process` runs a batch in this process
    pages: object | None = None
    #: pipeline.jobs.JobPool: `plico process --jobs N` prepares pages and reads kits there
    pool: object | None = None

    @property
    def engine(self):
        return db.engine_for(self.db_url)

    def session(self):
        return db.session_scope(self.engine)

    @property
    def recogniser(self):
        if self._recogniser is None:
            self._recogniser = self.recogniser_factory()
        return self._recogniser


def limit_threads(n: int) -> None:
    """OpenCV's and OpenBLAS's own thread pools at `n` threads: a process per core is how
    Plico runs in parallel (workers, `plico process --jobs`), and the libraries' pools would
    otherwise spread each process over every core (pipeline.workers measured the cost)."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(n)
    threadpool_limits(limits=n)


def pipeline_version(settings: Settings) -> str:
    """The version records are read under: `PLICO_PIPELINE_VERSION`, else the package's."""
    return settings.pipeline_version or __version__


def default_recogniser():
    """The recogniser of `plico process` without `--recogniser`: auto."""
    return build_recogniser()


def open_runtime(settings: Settings, recogniser: object | None = None) -> Runtime:
    """Migrate the index to head and open the object store of `settings`; partial copies
    of inputs left by a killed process are removed first (`sweep_stale_copies`)."""
    from storage.store_url import open_store

    url = db.database_url(settings)
    db.upgrade(url)
    rt = Runtime(settings, open_store(settings), url, pipeline_version(settings),
                 default_recogniser)
    rt._recogniser = recogniser
    sweep_stale_copies(rt)
    return rt


# A temporary file older than this is no live process's: a put of the largest input finishes
# in seconds, and a process killed with SIGKILL has no chance to remove its own.
STALE_COPY_S = 15 * 60
# The system temp folder, as found before `private_temp` sends this process's elsewhere
_SYSTEM_TEMP = tempfile.gettempdir()
# Another host's private temp folder (a data folder shared over the network) older than this
# is left over: its process cannot be asked whether it is alive.
STALE_FOREIGN_TEMP_S = 24 * 3600


def _temp_root(settings: Settings) -> Path:
    return Path(settings.data_dir) / "tmp"


def private_temp(settings: Settings) -> Path:
    """Send this process's temporary files to `<data_dir>/tmp/<host>-<pid>/` (mode 0700)
    instead of the system temp folder: pytesseract (PLICO_TESSERACT_ENGINE=cli) writes every
    image it reads (MRZ strips, field crops: applicants' data) to a temp file that a killed
    process leaves behind, and so may any library that spills to a temp file. The
    next start of any `plico` command removes the folders of dead processes
    (`sweep_stale_copies`). Called by the commands that read pages (`process`, `worker`,
    `reprocess`), not by library code: the setting is the whole process's."""
    import socket

    from storage.objects_local import private_dirs

    folder = _temp_root(settings) / f"{socket.gethostname()}-{os.getpid()}"
    private_dirs(folder)  # the data folder and tmp/ too, when this creates them
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # a clean exit leaves nothing
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)  # and the programs it runs (tesseract)
    return folder


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_stale_copies(rt: Runtime, older_than_s: float = STALE_COPY_S) -> list[Path]:
    """Remove what a killed process left of applicants' documents: the private temp folders
    (`private_temp`) of processes of this host that are gone (another host's after a day),
    half-written objects of the local store (`.staging/.incoming-*`) and the system
    temp folders `plico-raw-*` of earlier versions, which copied every raw input there while
    preparing it (the raw input is now read in memory). Files without an owner to ask are
    removed once older than `older_than_s`, so that a put in progress in another process is
    left alone. Returns what was removed."""
    import socket

    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    temp_root = _temp_root(rt.settings)
    if temp_root.is_dir():
        host = socket.gethostname()
        for folder in temp_root.iterdir():
            owner, _, pid = folder.name.rpartition("-")
            try:
                if owner == host and pid.isdigit():
                    stale = int(pid) != os.getpid() and not pid_alive(int(pid))
                else:
                    stale = folder.lstat().st_mtime < time.time() - STALE_FOREIGN_TEMP_S
                if stale and folder.is_dir():
                    shutil.rmtree(folder)
                elif stale:
                    folder.unlink()
                if stale:
                    removed.append(folder)
            except OSError:
                continue
    staging = getattr(rt.store, "staging_dir", None)  # the local store's; S3 stages nothing
    for path in staging().glob(".incoming-*") if staging is not None else ():
        try:
            if path.is_file() and path.lstat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    for path in Path(_SYSTEM_TEMP).glob("plico-raw-*"):
        try:
            st = path.lstat()
            if path.is_dir() and st.st_uid == os.getuid() and st.st_mtime < cutoff:
                shutil.rmtree(path)
                removed.append(path)
        except OSError:
            continue
    if removed:
        log.warning("removed %d stale partial copies of inputs", len(removed))
    return removed
