"""`plico db upgrade` / `plico db status` against a fresh SQLite index and a real S3 server."""

from __future__ import annotations

import uuid

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.settings import get_settings


def test_db_upgrade_migrates_and_creates_the_bucket(s3_server, tmp_path, monkeypatch):
    bucket = f"cli-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("PLICO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PLICO_STORAGE_URL", s3_server.url(bucket))
    monkeypatch.delenv("PLICO_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        before = runner.invoke(app, ["db", "status"])
        assert before.exit_code == 1, before.output
        assert "revision none" in before.output and "bucket missing" in before.output
        assert not (tmp_path / "data" / "plico.db").exists()  # asking created nothing

        done = runner.invoke(app, ["db", "upgrade"])
        assert done.exit_code == 0, done.output
        assert "at revision 0004" in done.output
        assert s3_server.secret_key not in done.output  # credentials never printed

        after = runner.invoke(app, ["db", "status"])
        assert after.exit_code == 0, after.output
        assert "(up to date)" in after.output and "ready" in after.output
    finally:
        get_settings.cache_clear()
