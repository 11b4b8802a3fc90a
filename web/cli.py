"""`plico serve` and `plico users ...`, registered on the main CLI by `register(app)`."""

from __future__ import annotations

import logging
import re
import sys
from typing import Annotated

import typer

users_app = typer.Typer(help="Accounts of the review web app.", no_args_is_help=True)


class _RedactStatusCodes(logging.Filter):
    """uvicorn's access log line carries the request path: the codes typed into the public
    status lookup are cut from it (a Codice Assicurata points at one person's application)."""

    _CODE = re.compile(r"(/api/status/|/stato\?codice=)[^ &\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._CODE.sub(r"\1…", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Run the reviewers' web app (pages and /api) under uvicorn."""
    import uvicorn

    from pipeline.settings import get_settings
    from web.app import create_app

    settings = get_settings()
    app = create_app(settings)
    logging.getLogger("uvicorn.access").addFilter(_RedactStatusCodes())
    uvicorn.run(app, host=host, port=port, proxy_headers=settings.web_trusted_proxy,
                forwarded_allow_ips="*" if settings.web_trusted_proxy else None,
                log_level=settings.log_level.lower(), server_header=False)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="reviewer, ops or admin.")],
    questura: Annotated[list[str], typer.Option(
        "--questura", help="Province code of a Questura the reviewer works for (repeatable).")] = [],  # noqa: B006 - typer reads the default
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (first line).")] = False,
) -> None:
    """Create an account; the password is asked for (or read from standard input)."""
    from pipeline.settings import get_settings
    from storage.db import database_url, engine_for, session_scope, upgrade
    from web.accounts import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    url = database_url(get_settings())
    upgrade(url)
    try:
        with session_scope(engine_for(url)) as db:
            user = create_user(db, name, password, role, questura)
            from storage.index import add_audit

            add_audit(db, None, "user_created", name=user.name, role=user.role,
                      questure=user.questure, via="cli")
            summary = f"{user.name} ({user.role}{', ' + ' '.join(user.questure) if user.questure else ''})"
    except AccountError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"created {summary}")


@users_app.command("list")
def users_list() -> None:
    """The accounts: name, role, Questure, whether locked or deactivated."""
    from sqlalchemy import select

    from pipeline.settings import get_settings
    from storage.db import User, database_url, engine_for, session_scope, upgrade

    url = database_url(get_settings())
    upgrade(url)
    with session_scope(engine_for(url)) as db:
        for u in db.scalars(select(User).order_by(User.name)):
            state = "inactive" if not u.active else (
                f"locked until {u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until else "active")
            typer.echo(f"{u.name}\t{u.role}\t{' '.join(u.questure) or '-'}\t{state}")


def register(app: typer.Typer) -> None:
    """Add `serve` and `users` to the main `plico` command."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
