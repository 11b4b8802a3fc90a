"""`plico watch`: a scanner simulation writes 5 batches slowly (in place in pieces, under a
.part name then renamed, a folder file by file) and one copy of a batch already taken into a
hot folder, and the watch is killed and restarted halfway. Exactly 5 batches, no input read
twice, none read before it was complete. With a broker the watch only submits (no worker
runs here), so the test is quick."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import require_port
from ops_testdata import ROOT, plico, plico_env
from sqlalchemy import func, select

from pipeline.settings import Settings
from storage.db import Batch, Input, database_url, engine_for, session_scope

REDIS = "redis://127.0.0.1:6379/13"


def _write_slowly(path: Path, data: bytes, pieces: int = 4, pause: float = 0.3) -> None:
    step = -(-len(data) // pieces)
    with path.open("wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i:i + step])
            fh.flush()
            time.sleep(pause)


def _start(inbox: Path, data: Path, extra: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "watch", str(inbox),
                             "--settle", "1", "--poll", "0.5"], cwd=ROOT,
                            env=plico_env(data, **extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def test_watch_takes_each_complete_batch_once_across_a_restart(tmp_path) -> None:
    require_port("Redis", 6379)
    data, inbox = tmp_path / "data", tmp_path / "inbox"
    inbox.mkdir()
    extra = {"PLICO_BROKER_URL": REDIS, "PLICO_QUEUE_NAME": f"watch-{secrets.token_hex(4)}"}
    assert plico(data, "db", "upgrade", **extra).returncode == 0
    blobs = [secrets.token_bytes(40_000 + 1000 * i) for i in range(6)]
    watcher = _start(inbox, data, extra)
    try:
        _write_slowly(inbox / "b1.pdf", blobs[0])  # in place, in pieces
        part = inbox / "b2.pdf.part"  # under a temporary name, then renamed
        _write_slowly(part, blobs[1])
        part.rename(inbox / "b2.pdf")
        folder = inbox / "b3"  # a folder written file by file
        folder.mkdir()
        _write_slowly(folder / "p1.tif", blobs[2])
        time.sleep(0.4)
        _write_slowly(folder / "p2.tif", blobs[3])
        time.sleep(2.5)
        os.killpg(watcher.pid, signal.SIGKILL)  # a crash: nothing saved on the way out
        watcher.wait(timeout=30)
        _write_slowly(inbox / "b4.pdf", blobs[4])  # written while the watch is down
        watcher = _start(inbox, data, extra)
        _write_slowly(inbox / "again-b1.pdf", blobs[0])  # the same scan a second time
        _write_slowly(inbox / "b5.tiff", blobs[5], pieces=2)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and [p for p in inbox.iterdir()
                                               if p.name not in ("done", "failed")]:
            time.sleep(0.5)
    finally:
        os.killpg(watcher.pid, signal.SIGTERM)
        watcher.wait(timeout=30)
        from pipeline.workers import purge_queues

        purge_queues(Settings(data_dir=data, broker_url=REDIS,
                              queue_name=extra["PLICO_QUEUE_NAME"]))
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "again-b1.pdf", "b1.pdf", "b2.pdf", "b3", "b4.pdf", "b5.tiff"]
    assert list((inbox / "failed").iterdir()) == []
    with session_scope(engine_for(database_url(Settings(data_dir=data)))) as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 5
        rows = s.execute(select(Input.sha256, func.count()).group_by(Input.sha256)).all()
    complete = {hashlib.sha256(b).hexdigest() for b in blobs}
    assert {sha for sha, _ in rows} == complete  # 0 partial reads: only whole files stored
    assert all(n == 1 for _, n in rows)  # 0 duplicates


def test_watch_without_broker_reads_in_process(tmp_path) -> None:
    data, inbox = tmp_path / "data", tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "scan.pdf").write_bytes(b"not a scan at all")
    args = ("watch", str(inbox), "--once", "--settle", "0.3", "--out", str(tmp_path / "out"))
    done = plico(data, *args)
    assert done.returncode == 0, done.stderr
    failed = sorted(p.name for p in (inbox / "failed").iterdir())
    assert failed == ["scan.pdf", "scan.pdf.reason.txt"]
    reason = (inbox / "failed" / "scan.pdf.reason.txt").read_text()
    assert "UnsupportedInputError" in reason
    (inbox / "scan.pdf").write_bytes(b"not a scan at all")  # dropped again: not read twice
    done = plico(data, *args)
    assert done.returncode == 0 and [p.name for p in (inbox / "done").iterdir()] == ["scan.pdf"]
    with session_scope(engine_for(database_url(Settings(data_dir=data)))) as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
