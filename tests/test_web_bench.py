"""`plico bench web` for a few seconds: a real server process on loopback, two simulated
reviewers, SQLite (through the command) and PostgreSQL; no request may fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import PG_ADMIN_URL, _unavailable

ROOT = Path(__file__).resolve().parent.parent


def test_bench_web_on_sqlite_through_the_command_with_two_server_processes(tmp_path) -> None:
    """`plico serve --workers 2` under the bench: two uvicorn worker processes on one port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLICO_")}
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "bench", "web", "--reviewers", "2",
                        "--seconds", "6", "--think", "0.2", "--kits", "4", "--workers", "2"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "bench web: sqlite, 2 server process(es), 2 reviewers" in r.stdout
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


def test_each_server_process_takes_its_share_of_the_rate_limits(tmp_path) -> None:
    from pipeline.settings import Settings
    from web.app import create_app

    one = create_app(Settings(data_dir=tmp_path / "a", status_burst=6,
                              status_rate_per_minute=12, login_rate_per_minute=10))
    two = create_app(Settings(data_dir=tmp_path / "b", status_burst=6, status_rate_per_minute=12,
                              login_rate_per_minute=10, web_workers=2))
    assert (one.state.limiter.burst, one.state.limiter.rate * 60) == (6, 12)
    assert (two.state.limiter.burst, two.state.limiter.rate * 60) == (3, 6)
    assert (two.state.login_limiter.burst, two.state.login_limiter.rate * 60) == (5, 5)
