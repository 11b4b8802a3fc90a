"""Shared fixtures. Tests run the real thing: real tesseract, zbar, services, files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared (the project's reference material). Absent outside CI: skip; in CI: fail."""
    if not SHARED.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED} is missing in CI")
        pytest.skip(f"{SHARED} is not beside the checkout")
    return SHARED


# --- services of the storage tests: PostgreSQL and an S3 server (`weed mini`) ---------------

PG_ADMIN_URL = os.environ.get("PLICO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _unavailable(what: str) -> None:
    """A service a test needs is not there: fail in CI, skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is unavailable in CI")
    pytest.skip(f"{what} is unavailable")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A throwaway PostgreSQL database for this test session (dropped at the end)."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"plico_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection fault means "not reachable"
        admin.dispose()
        _unavailable(f"PostgreSQL at {make_url(PG_ADMIN_URL).host} ({type(exc).__name__})")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    from storage.db import dispose_engines

    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An index database at head: a fresh SQLite file, or a fresh schema in the session's
    PostgreSQL database (its tables emptied between tests)."""
    from storage.db import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'index.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    if request.param == "postgresql":
        from sqlalchemy import text

        from storage.db import Base, engine_for

        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine_for(url).begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url
