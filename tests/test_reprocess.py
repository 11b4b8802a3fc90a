"""`plico reprocess` end to end through the real CLI: dry run first, then by anomaly code and by
pipeline version; old versions stay readable; reviewers' decisions are re-applied where the
new reading agrees and flagged where it does not; a second delivery stores nothing twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.process import account_pages, open_runtime, process_kit
from pipeline.settings import Settings
from sample_scans.synth.batch import SynthOptions, write_batch
from storage import db
from storage.index import record_of, versions_of

pytestmark = pytest.mark.slow

PLICO = str(Path(sys.executable).with_name("plico"))


def _plico(data: Path, version: str | None, *args: str):
    """The `plico` command in this process (typer's runner): no interpreter start per call."""
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.settings import get_settings

    env = {"PLICO_DATA_DIR": str(data), "PLICO_PIPELINE_VERSION": version,
           "PLICO_BROKER_URL": None, "PLICO_DATABASE_URL": None, "PLICO_STORAGE_URL": None}
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def test_reprocess_by_anomaly_and_version(tmp_path):
    batch = write_batch(SynthOptions(seed=5202, kits=1, dpi=200, filled_by="typed", mode="bitonal",
                                     anomaly_rate=1.0), tmp_path / "batch").files[0]
    data = tmp_path / "data"
    res = subprocess.run([PLICO, "process", str(batch), "--out", str(tmp_path / "out")],
                         env={**os.environ, "PLICO_DATA_DIR": str(data)}, capture_output=True,
                         text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    rt = open_runtime(Settings(data_dir=data))
    with rt.session() as s:
        kit = s.scalars(select(db.Kit)).one()
        first = record_of(s, kit.id)
        batch_id = kit.batch_id
    assert first["pipeline_version"] == "0.1.0"
    code = first["anomalies"][0]["code"]
    # two reviewer decisions: one the new reading will agree with, one it will not
    agreed, other = [k for k, f in first["fields"].items() if isinstance(f["value"], str)
                     and f["value"]][:2]
    with rt.session() as s:
        s.add(db.FieldDecision(kit_id=kit.id, field_key=agreed, action="confirm",
                               value_before=first["fields"][agreed]["value"],
                               value_after=first["fields"][agreed]["value"], user_name="rev1"))
        s.add(db.FieldDecision(kit_id=kit.id, field_key=other, action="correct",
                               value_before="QQQQ", value_after="WWWW", user_name="rev1"))
        s.get(db.Kit, kit.id).status = "verificata"

    dry = _plico(data, "0.2.0", "reprocess", "--anomaly", code, "--dry-run")
    assert f"would read {kit.id}" in dry.stdout
    assert "1 kits to read under version 0.2.0" in dry.stdout
    with rt.session() as s:
        assert versions_of(s, kit.id) == ["0.1.0"]  # a dry run touches nothing

    res = _plico(data, "0.2.0", "reprocess", "--anomaly", code)
    assert f"[1/1] {kit.id}: done" in res.stdout
    with rt.session() as s:
        assert versions_of(s, kit.id) == ["0.1.0", "0.2.0"]
        assert record_of(s, kit.id, "0.1.0") == first  # the old version is still readable
        new = record_of(s, kit.id)
        row = s.get(db.RecordVersion, s.get(db.Kit, kit.id).current_version_id)
        assert row.pipeline_version == "0.2.0"
        assert row.decisions == {"applied": [agreed], "flagged": [other]}
        # a contradicted decision needs a person again: back in the queue (storage/status.py)
        assert s.get(db.Kit, kit.id).status == "in_lavorazione"
    assert new["fields"][agreed]["status"] == "accepted"
    assert new["fields"][agreed]["confidence"] == 1.0
    assert new["fields"][other]["status"] == "review"
    crop = new["fields"][agreed]["crop"]
    assert crop.startswith(f"crops/{kit.id}/0.2.0/") and rt.store.exists(crop)
    assert rt.store.exists(first["fields"][agreed]["crop"])  # the old version's crops stay

    again = _plico(data, "0.2.0", "reprocess", "--anomaly", code)
    assert "0 kits to read under version 0.2.0; 1 already have a record of it" in again.stdout
    gone = _plico(data, "0.3.0", "reprocess", "--pipeline-version", "0.1.0", "--dry-run")
    assert "0 kits to read" in gone.stdout  # its current record is 0.2.0 now
    by_version = _plico(data, "0.3.0", "reprocess", "--pipeline-version", "0.2.0")
    assert f"[1/1] {kit.id}: done" in by_version.stdout
    with rt.session() as s:
        assert versions_of(s, kit.id) == ["0.1.0", "0.2.0", "0.3.0"]

    # a second delivery of the same kit message: nothing more is stored
    rt3 = open_runtime(Settings(data_dir=data, pipeline_version="0.3.0"))
    record, created = process_kit(rt3, kit.id)
    assert not created and record.pipeline_version == "0.3.0"
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(db.RecordVersion)) == 3
    assert account_pages(rt, batch_id) == []
    status = _plico(data, None, "status", "--batch", batch_id)
    assert batch_id in status.stdout and "kit" in status.stdout
