"""Idempotent intake: `plico process` of files already read reads nothing again and makes no
second istanza; an envelope recorded by one batch is the same kit within another batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from pipeline.process import account_pages, open_runtime
from pipeline.settings import Settings
from storage import db

ROOT = Path(__file__).resolve().parent.parent
PLICO = str(Path(sys.executable).with_name("plico"))
SAMPLE = ROOT / "sample_scans" / "typed-300dpi-bitonal.pdf"  # the smallest: 13 pages, 1 kit


def _plico(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([PLICO, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_processing_the_same_scan_again_reads_nothing_and_duplicates_no_istanza(tmp_path):
    env = {**os.environ, "PLICO_DATA_DIR": str(tmp_path / "data")}
    env.pop("PLICO_DATABASE_URL", None)
    env.pop("PLICO_STORAGE_URL", None)
    first = _plico(env, "process", SAMPLE, "--out", tmp_path / "out1")
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith(f"{SAMPLE.stem}: 13 pages, 1 kits")

    second = _plico(env, "process", SAMPLE, "--out", tmp_path / "out2")
    assert second.returncode == 0, second.stderr[-2000:]
    rt = open_runtime(Settings(data_dir=tmp_path / "data"))
    with rt.session() as s:
        (batch_id,) = s.scalars(select(db.Batch.id)).all()  # no second batch
    assert second.stdout == f"{SAMPLE.stem}: already read in batch {batch_id}: 1 kits\n"
    assert sorted(p.name for p in (tmp_path / "out2").glob("*.json")) == ["846644948328.json"]

    # the same envelope within another batch (a stray blank page before it): no new kit
    folder = tmp_path / "folder"
    folder.mkdir()
    Image.new("L", (850, 1100), 255).save(folder / "0-blank.png", dpi=(100, 100))
    (folder / "scan.pdf").write_bytes(SAMPLE.read_bytes())
    third = _plico(env, "process", folder, "--out", tmp_path / "out3")
    assert third.returncode == 10, third.stderr[-2000:]  # the blank page: quarantined
    assert third.stdout.startswith("folder: 14 pages, 1 kits, 1 anomalies, 1 quarantined")
    with rt.session() as s:
        kits = s.scalars(select(db.Kit)).all()
        assert [(k.assicurata, k.batch_id) for k in kits] == [("846644948328", batch_id)]
        assert s.scalar(select(func.count()).select_from(db.RecordVersion)) == 1
        folder_batch = s.scalar(select(db.Batch.id).where(db.Batch.name == "folder"))
    assert account_pages(rt, folder_batch) == []  # its kit pages are in the earlier kit

    show = _plico(env, "show", "846644948328")
    assert show.returncode == 0 and "match" not in show.stderr, show.stderr
