"""`plico bench web` for a few seconds: a real server process on loopback, two simulated
reviewers, SQLite (through the command) and PostgreSQL; no request may fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import PG_ADMIN_URL, _unavailable

ROOT = Path(__file__).resolve().parent.parent


def test_bench_web_on_sqlite_through_the_command(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLICO_")}
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "bench", "web", "--reviewers", "2",
                        "--seconds", "6", "--think", "0.2", "--kits", "4"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "bench web: sqlite, 2 reviewers" in r.stdout
    assert "errors 0" in r.stdout and "decisions 0" not in r.stdout, r.stdout


def test_bench_web_on_postgresql() -> None:
    from sqlalchemy import create_engine, text

    from web.bench import run_bench

    probe = create_engine(PG_ADMIN_URL)
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection fault means "not reachable"
        _unavailable(f"PostgreSQL ({type(exc).__name__})")
    finally:
        probe.dispose()
    lines: list[str] = []
    result = run_bench(database_url=PG_ADMIN_URL, reviewers=2, seconds=6, think=0.2, kits=4,
                       echo=lines.append)
    assert result.error_count == 0, (result.errors, lines)
    assert result.requests > 20 and result.decisions > 0 and result.istanze > 0
    with create_engine(PG_ADMIN_URL).connect() as conn:  # its throwaway database is gone
        left = conn.execute(text("SELECT count(*) FROM pg_database "
                                 "WHERE datname LIKE 'plico_bench_%'")).scalar()
    assert left == 0
