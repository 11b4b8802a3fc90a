"""`plico db upgrade` and `plico db status`: the deployment steps of the index and the store."""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(help="The index database and the object store.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `plico db ...` to the main command."""
    app.add_typer(db_app, name="db")


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Migration to reach.")] = "head",
) -> None:
    """Migrate the index database to head and create the object store's bucket if missing
    (run once per deployment, before workers and the web app start; safe to repeat)."""
    from pipeline.settings import get_settings
    from storage.db import database_url, upgrade
    from storage.store_url import open_store

    settings = get_settings()
    url = database_url(settings)
    reached = upgrade(url, revision)
    typer.echo(f"index {_where(url)}: at revision {reached}")
    store = open_store(settings)
    store.ensure_bucket()
    typer.echo(f"object store {store!r}: ready")


@db_app.command("status")
def db_status() -> None:
    """The index database's migration revision beside this code's, and the object store.
    Exits 1 when the database is behind (run `plico db upgrade`) or the bucket is missing."""
    from pipeline.settings import get_settings
    from storage.db import current_revision, database_url, head_revision
    from storage.store_url import open_store

    settings = get_settings()
    url = database_url(settings)
    current, head = current_revision(url), head_revision()
    state = "up to date" if current == head else "behind: run `plico db upgrade`"
    typer.echo(f"index {_where(url)}: revision {current or 'none'}, code {head} ({state})")
    store = open_store(settings)
    bucket = store.bucket_exists()
    typer.echo(f"object store {store!r}: "
               f"{'ready' if bucket else 'bucket missing: run `plico db upgrade`'}")
    if current != head or not bucket:
        raise typer.Exit(1)
