"""Resuming after a crash: a `plico process` run killed with SIGKILL leaves its batch running
with a dead owner; the next `plico process` of the same file, or `plico status --repair`,
finishes it: no batch stays running, no kit twice, every kit with its record."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.process import account_pages, open_runtime
from pipeline.settings import Settings
from sample_scans.synth.batch import SynthOptions, write_batch
from storage import db

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PLICO = str(Path(sys.executable).with_name("plico"))
SAMPLE = ROOT / "sample_scans" / "typed-300dpi-bitonal.pdf"


def _kill_when(env, args, query: str, db_file: Path, timeout: float = 300) -> int:
    """Start `plico ARGS`, SIGKILL it as soon as `query` (SQLite) counts something; its pid."""
    proc = subprocess.Popen([PLICO, *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "nothing to kill it after"
            if db_file.exists():
                with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30) as conn:
                    try:
                        if conn.execute(query).fetchone()[0]:
                            break
                    except sqlite3.OperationalError:  # not migrated yet
                        pass
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.pid


def test_a_killed_run_is_finished_by_the_next_run_or_by_status_repair(tmp_path):
    batch = write_batch(SynthOptions(seed=5102, kits=2, dpi=200, filled_by="typed",
                                     mode="bitonal"), tmp_path / "in").files[0]
    data = tmp_path / "data"
    env = {**os.environ, "PLICO_DATA_DIR": str(data)}
    for name in ("PLICO_DATABASE_URL", "PLICO_STORAGE_URL", "PLICO_BROKER_URL"):
        env.pop(name, None)
    db_file = data / "plico.db"

    # killed after its first kit is recorded, while reading the second
    pid = _kill_when(env, ["process", batch, "--out", tmp_path / "out"],
                     "SELECT count(*) FROM record_versions", db_file)
    rt = open_runtime(Settings(data_dir=data))
    with rt.session() as s:
        (left,) = s.scalars(select(db.Batch)).all()
        assert (left.status, left.owner) == ("running", f"{socket.gethostname()}:{pid}")
        assert s.scalar(select(func.count()).select_from(db.RecordVersion)) == 1
    again = subprocess.run([PLICO, "process", batch, "--out", tmp_path / "out"], env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.startswith(f"{batch.stem}: ") and again.stdout.count("\n") == 1
    assert "2 kits, " in again.stdout and f"batch {left.id} resumed (was running)" in again.stdout

    # killed after planning, before its split: `plico status --repair` plans it again
    _kill_when(env, ["process", SAMPLE, "--out", tmp_path / "out"],
               "SELECT count(*) FROM inputs WHERE pages IS NOT NULL AND batch_id NOT IN "
               f"('{left.id}')", db_file)
    repair = subprocess.run([PLICO, "status", "--repair"], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert repair.returncode == 0, repair.stderr[-2000:]
    assert repair.stdout.startswith("1 batches left unfinished by a run that died\n"
                                    f"{SAMPLE.stem}: 13 pages, 1 kits, ")

    with rt.session() as s:
        batches = s.scalars(select(db.Batch)).all()
        assert sorted((b.status, b.kits) for b in batches) == [("done", 1), ("done", 2)]
        kits = s.scalars(select(db.Kit)).all()
        assert len(kits) == 3 and len({k.assicurata for k in kits}) == 3
        for kit in kits:
            versions = s.scalar(select(func.count()).select_from(db.RecordVersion)
                                .where(db.RecordVersion.kit_id == kit.id))
            assert versions == 1 and kit.current_version_id is not None, kit.id
    for b in batches:
        assert account_pages(rt, b.id) == []
