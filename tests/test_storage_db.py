"""Index database: migrations from empty on SQLite and PostgreSQL, engine settings."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from pipeline.settings import Settings
from storage.db import (
    Base,
    Batch,
    Kit,
    current_revision,
    database_url,
    engine_for,
    head_revision,
    session_scope,
    upgrade,
)


def test_upgrade_from_empty_reaches_head_with_every_table(db_url):
    assert head_revision() == "0004"
    assert current_revision(db_url) == head_revision()
    tables = set(inspect(engine_for(db_url)).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert upgrade(db_url) == head_revision()  # again: nothing to do


def test_fresh_sqlite_file_is_migrated_in_wal_mode_with_foreign_keys(tmp_path):
    url = database_url(Settings(data_dir=tmp_path / "data"))
    assert url == f"sqlite:///{(tmp_path / 'data' / 'plico.db').resolve()}"
    assert current_revision(url) is None
    assert upgrade(url) == "0004"
    with engine_for(url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    # a kit of no batch is refused
    with pytest.raises(IntegrityError), session_scope(engine_for(url)) as session:
        session.add(Kit(id="nope-0001", batch_id="nope", number=1))


def test_postgresql_url_means_psycopg3(pg_url):
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    assert database_url(Settings(database_url=plain)) == pg_url
    upgrade(plain)
    with session_scope(engine_for(plain)) as session:
        session.add(Batch(id="b-psycopg", name="b"))
    with session_scope(engine_for(pg_url)) as session:
        assert session.get(Batch, "b-psycopg").status == "queued"
        session.delete(session.get(Batch, "b-psycopg"))


def test_workers_starting_together_migrate_once(pg_url):
    """Several processes call upgrade() on one empty PostgreSQL database at the same moment."""
    import secrets
    import threading

    from sqlalchemy.engine import make_url

    name = f"{make_url(pg_url).database}_race{secrets.token_hex(2)}"
    admin = engine_for(pg_url.rsplit("/", 1)[0] + "/postgres").execution_options(
        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        barrier, errors = threading.Barrier(3), []

        def start() -> None:
            try:
                barrier.wait()
                upgrade(url)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and current_revision(url) == head_revision()
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_migrations_match_the_models(db_url):
    """The schema the migrations build is the one the models describe (nothing to autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine_for(db_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_workers_starting_together_on_one_sqlite_file_migrate_once(tmp_path):
    import threading

    url = f"sqlite:///{tmp_path / 'index.db'}"
    barrier, results = threading.Barrier(3), []

    def start() -> None:
        barrier.wait()
        try:
            results.append(upgrade(url))
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["0004"] * 3
