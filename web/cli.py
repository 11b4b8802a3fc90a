"""`plico serve` and `plico users ...`, registered on the main CLI by `register(app)`;
`plico bench web` by `register_bench(bench_app)`."""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from typing import Annotated, Optional

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
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, max=64,
        help="Server processes (default PLICO_WEB_WORKERS, 1). One process serves on one "
        "core; more share the port.")] = None,
) -> None:
    """Run the reviewers' web app (pages and /api) under uvicorn."""
    import os

    import uvicorn

    from pipeline.settings import get_settings
    from storage.db import database_url, upgrade
    from web.app import create_app

    settings = get_settings()
    workers = workers or settings.web_workers
    options = dict(host=host, port=port, proxy_headers=settings.web_trusted_proxy,
                   forwarded_allow_ips="*" if settings.web_trusted_proxy else None,
                   log_level=settings.log_level.lower(), server_header=False,
                   log_config=_access_log_config())
    if workers == 1:  # the whole of the rate limits in this one process
        uvicorn.run(create_app(settings.model_copy(update={"web_workers": 1})), **options)
        return
    upgrade(database_url(settings))  # once, before the workers start
    os.environ["PLICO_WEB_WORKERS"] = str(workers)  # each worker's share of the rate limits
    # uvicorn starts the workers with spawn: each builds the app from the environment
    uvicorn.run("web.app:app_from_environment", factory=True, workers=workers, **options)


def _access_log_config() -> dict:
    """uvicorn's logging configuration, with the access log's status-code redaction (a
    configuration, not a filter added here: `--workers` processes are new ones)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "web.cli._RedactStatusCodes"}
    config["handlers"]["access"]["filters"] = ["redact"]
    return config


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _session():
    from pipeline.settings import get_settings
    from storage.db import database_url, engine_for, session_scope, upgrade

    url = database_url(get_settings())
    upgrade(url)
    return session_scope(engine_for(url))


@contextmanager
def _account_change():
    """A session for one account change; the account's refusal (unknown name, weak
    password, bad role) is a usage error, exit code 2."""
    from web.accounts import AccountError

    try:
        with _session() as db:
            yield db
    except AccountError as exc:
        raise typer.BadParameter(str(exc)) from exc


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="reviewer, ops or admin.")],
    questura: Annotated[list[str] | None, typer.Option(
        "--questura", help="Province code of a Questura the reviewer serves (repeatable).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (first line).")] = False,
) -> None:
    """Create an account; the password is asked for (or read from standard input)."""
    from storage.index import add_audit
    from web.accounts import create_user

    password = _password(password_stdin)
    with _account_change() as db:
        user = create_user(db, name, password, role, questura or [])
        add_audit(db, None, "user_created", name=user.name, role=user.role,
                  questure=user.questure, via="cli")
        where = f", {' '.join(user.questure)}" if user.questure else ""
        summary = f"{user.name} ({user.role}{where})"
    typer.echo(f"created {summary}")


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (first line).")] = False,
) -> None:
    """Set a new password (ends the account's sessions, lifts a lockout)."""
    from storage.index import add_audit
    from web.accounts import set_password

    password = _password(password_stdin)
    with _account_change() as db:
        set_password(db, name, password)
        add_audit(db, None, "password_set", name=name, via="cli")
    typer.echo(f"password of {name} changed")


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="Login name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Reactivate instead.")] = False,
) -> None:
    """Deactivate an account (or reactivate it with --enable); accounts are never deleted."""
    from storage.index import add_audit
    from web.accounts import set_active

    with _account_change() as db:
        set_active(db, name, enable)
        add_audit(db, None, "user_enabled" if enable else "user_disabled", name=name,
                  via="cli")
    typer.echo(f"{name} {'enabled' if enable else 'disabled'}")


@users_app.command("list")
def users_list() -> None:
    """The accounts: name, role, Questure, whether locked or deactivated."""
    from sqlalchemy import select

    from storage.db import User
    from web.auth import rome_time

    with _session() as db:
        for u in db.scalars(select(User).order_by(User.name)):
            state = "inactive" if not u.active else (
                f"locked until {rome_time(u.locked_until, '%Y-%m-%d %H:%M')}"
                if u.locked_until else "active")
            typer.echo(f"{u.name}\t{u.role}\t{' '.join(u.questure) or '-'}\t{state}")


def bench_web(
    reviewers: Annotated[int, typer.Option("--reviewers", min=1, max=200,
                                           help="Simulated reviewers.")] = 20,
    seconds: Annotated[float, typer.Option("--seconds", min=1, help="How long they work.")] = 60,
    think: Annotated[float, typer.Option(
        "--think", min=0, help="Mean seconds a reviewer thinks between steps (0.5-1.5x).")] = 5.0,
    kits: Annotated[int, typer.Option("--kits", min=4, help="Istanze seeded.")] = 24,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="A PostgreSQL server (postgresql://user@host/db): the bench "
        "creates a throwaway database there and drops it. Default: SQLite.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Server processes (plico serve --workers).")] = 1,
) -> None:
    """Load-test the review app on loopback: seeded istanze, the app under uvicorn in its own
    process, N reviewers logging in, opening istanze with all their images and recording
    decisions for D seconds; requests/s, p50/p95/p99 latency, errors. Exit 1 on any error."""
    from web.bench import format_result, run_bench

    if database_url and not database_url.startswith(("postgresql", "postgres:")):
        raise typer.BadParameter("a postgresql:// URL (SQLite is the default)",
                                 param_hint="--database-url")
    result = run_bench(database_url=database_url, reviewers=reviewers, seconds=seconds,
                       kits=kits, think=think, seed=seed, workers=workers, echo=typer.echo)
    typer.echo(format_result(result, database="postgresql" if database_url else "sqlite",
                             reviewers=reviewers, seconds=seconds, think=think, workers=workers))
    if result.error_count:
        raise typer.Exit(1)


def register_bench(bench_app: typer.Typer) -> None:
    """Add `web` to `plico bench`."""
    bench_app.command("web")(bench_web)


def register(app: typer.Typer) -> None:
    """Add `serve` and `users` to the main `plico` command."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
