"""Alembic environment of the index: run from `storage.db.upgrade`, which passes a connection.

`alembic` on the command line also works, for autogenerating a new revision against a
database at the previous head: with an ini file holding only
`[alembic]` / `script_location=storage/migrations`, run
`alembic -c that.ini -x url=sqlite:////tmp/x.db revision --autogenerate --rev-id 0002 -m ...`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.db import Base, normalise_url

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them: batch mode does it for us
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database with -x url=...")
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
