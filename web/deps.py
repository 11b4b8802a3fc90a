"""What the pages (web/pages.py) and the API (web/api.py) share: the request's database
session (read-only `Db`, writing `WriteDb`), the logged-in user (`PageUser`, `ApiUser`), the
access rule by Questura (`kit_for`), audit events, the login check and page rendering.

Concurrency: pages and images read in a read-only session (`Db`: no lock on SQLite); the
handlers that record a decision take a write session (`WriteDb`, `BEGIN IMMEDIATE` on SQLite,
the kit's row locked on PostgreSQL) for the decision alone; a page that only audits a view
writes its event in a short transaction of its own (`audit_now`). SQLite waits at most
WEB_BUSY_TIMEOUT seconds for the write lock, then the request answers 503.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from pipeline.settings import Settings
from storage.db import AuditEvent, Kit, User, session_scope
from storage.index import add_audit
from web.auth import Session, as_utc, hash_fingerprint, utcnow, verify_password
from web.i18n import DEFAULT, translator

log = logging.getLogger(__name__)
STAFF = ("ops", "admin")
WEB_BUSY_TIMEOUT = 5.0  # seconds a SQLite write waits for the lock before the request gives up
WEB_CONNECTIONS = 48  # pooled: the thread pool's 40 threads and the sessions closing after them


class LoginRequired(Exception):
    """A page needs a logged-in user: the handler redirects to the login page."""


# --- request helpers ----------------------------------------------------------------------


def is_https(request: Request) -> bool:
    if request.app.state.settings.web_trusted_proxy:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        if proto:
            return proto == "https"
    return request.url.scheme == "https"


def client_address(request: Request) -> str:
    if request.app.state.settings.web_trusted_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.client.host if request.client else "unknown"


def session_of(request: Request) -> Session:
    return request.state.session


def lang_of(request: Request) -> str:
    return session_of(request).lang or DEFAULT


def get_db(request: Request) -> Iterator[DbSession]:
    """A read-only session for the request's handler (a write in it fails)."""
    with session_scope(request.app.state.engine, write=False) as db:
        yield db


def get_write_db(request: Request) -> Iterator[DbSession]:
    """A session that writes: `BEGIN IMMEDIATE` on SQLite, as short as the handler."""
    with session_scope(request.app.state.engine) as db:
        yield db


def current_user(request: Request, db: DbSession) -> User | None:
    s = session_of(request)
    if not s.user:
        return None
    last_logout = (select(func.max(AuditEvent.at))
                   .where(AuditEvent.user_name == User.name, AuditEvent.action == "logout")
                   .correlate(User).scalar_subquery())
    row = db.execute(select(User, last_logout).where(User.name == s.user)).first()
    user, last_logout = row if row is not None else (None, None)
    if user is None or not user.active or hash_fingerprint(user.password_hash) != s.fingerprint:
        s.logout()
        return None
    if last_logout is not None and as_utc(last_logout).timestamp() > s.issued:
        s.logout()
        return None
    return user


# closed as soon as the handler returns (scope "function"), not after the response is sent
Db = Annotated[DbSession, Depends(get_db, scope="function")]
WriteDb = Annotated[DbSession, Depends(get_write_db, scope="function")]


def _checked_user(request: Request, db: DbSession) -> User | None:
    """The request's user, read in a read-only session whose transaction then ends: the
    dependency and the handler are two calls into the thread pool, and a request waiting for
    its handler's thread must hold no pooled connection. (A handler that writes takes its own
    write session, `WriteDb`, after this one is done.)"""
    user = current_user(request, db)
    db.commit()
    return user


def page_user(request: Request, db: Db) -> User:
    user = _checked_user(request, db)
    if user is None:
        raise LoginRequired()
    return user


def api_user(request: Request, db: Db) -> User:
    user = _checked_user(request, db)
    if user is None:
        raise HTTPException(401, "login required")
    return user


PageUser = Annotated[User, Depends(page_user)]
ApiUser = Annotated[User, Depends(api_user)]


def require_staff(user: User) -> None:
    if user.role not in STAFF:
        raise HTTPException(403, "ops or admin only")


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise HTTPException(403, "admin only")


def questure_of(user: User) -> list[str] | None:
    """The Questure whose istanze `user` sees; None: all of them (ops, admin)."""
    return None if user.role in STAFF else [q.upper() for q in (user.questure or [])]


def kit_for(db: DbSession, user: User, kit_id: str, *, lock: bool = False) -> Kit:
    """The kit if `user` may see it; 404 otherwise, the same answer as for a kit that does not
    exist (a reviewer learns nothing about other Questure's istanze).

    lock: hold the kit's row until the transaction ends (a decision: two reviewers deciding
    on one istanza at once take turns instead of both adding the anomalies they re-raise)."""
    kit = db.get(Kit, kit_id, with_for_update=lock)
    allowed = questure_of(user)
    if (kit is None or kit.current_version_id is None
            or (allowed is not None and (kit.questura or "") not in allowed)):
        raise HTTPException(404, "not found")
    return kit


def audit(db: DbSession, request: Request, user: str | None, action: str,
          kit_id: str | None = None, **detail: Any) -> AuditEvent:
    """An audit event from this request (the client address goes with it)."""
    return add_audit(db, user, action, kit_id, remote=client_address(request), **detail)


def audit_now(request: Request, db: DbSession, user: str | None, action: str,
              kit_id: str | None = None, **detail: Any) -> int:
    """An audit event of a handler that only reads, written and committed at once in a short
    write transaction of its own; returns its id. `db`'s read transaction ends first (its
    objects stay usable), so the request never holds two pooled connections at once."""
    db.commit()
    with session_scope(request.app.state.engine) as w:
        return audit(w, request, user, action, kit_id, **detail).id


class TooManyLogins(Exception):
    """This client address tried to log in too often; wait `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many login attempts")
        self.retry_after = retry_after


def attempt_login(request: Request, name: str, password: str) -> User | None:
    """Check a login; counts failures and locks the account after too many in a row.

    The password is checked outside any transaction (argon2 takes tens of milliseconds: no
    write lock is held meanwhile); the outcome is then written in a short write transaction
    on the account's row as it is then (concurrent failures all count).

    Raises TooManyLogins when the client address is over its login rate (checked first: a
    guesser spreading attempts over many accounts locks none of them but meets this)."""
    settings: Settings = request.app.state.settings
    engine = request.app.state.engine
    allowed, wait = request.app.state.login_limiter.allow(client_address(request))
    if not allowed:
        with session_scope(engine) as db:
            audit(db, request, None, "login_throttled")
        raise TooManyLogins(wait)
    with session_scope(engine, write=False) as db:
        seen = db.scalar(select(User).where(User.name == name)) if name else None
    now = utcnow()
    locked = seen is not None and seen.locked_until and as_utc(seen.locked_until) > now
    ok = verify_password(seen.password_hash if seen is not None and not locked else None,
                         password)  # the same cost whatever the answer
    with session_scope(engine) as db:
        user = db.get(User, seen.id, with_for_update=True) if seen is not None else None
        if user is None:
            # the typed name is not kept: it may be a password typed in the wrong box
            audit(db, request, None, "login_failed", reason="unknown_user")
            return None
        if user.locked_until and as_utc(user.locked_until) > now:
            audit(db, request, user.name, "login_failed", reason="locked")
            return None
        if ok and user.active and user.password_hash == seen.password_hash:
            user.failed_logins, user.locked_until = 0, None
            session_of(request).login(user.name, hash_fingerprint(user.password_hash),
                                      settings.session_hours)
            audit(db, request, user.name, "login")
            return user
        user.failed_logins = (user.failed_logins or 0) + 1
        audit(db, request, user.name, "login_failed",
              reason="inactive" if not user.active else "password", attempt=user.failed_logins)
        if user.failed_logins >= settings.web_lockout_attempts:
            user.locked_until = now + timedelta(minutes=settings.web_lockout_minutes)
            user.failed_logins = 0
            audit(db, request, user.name, "lockout", until=user.locked_until.isoformat(),
                  minutes=settings.web_lockout_minutes)
            log.warning("account locked after %d failed logins (user id %s)",
                        settings.web_lockout_attempts, user.id)
        return None


def lang_href(request: Request):
    """Links switching the language on the same page, filters kept (after a POST, the start
    page: the POST's address is no page to go back to)."""

    def href(code: str) -> str:
        if request.method != "GET":
            return f"/?lang={code}"
        url = request.url.include_query_params(lang=code)
        return f"{url.path}?{url.query}"

    return href


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200,
           user: User | None = None):
    lang = lang_of(request)
    ctx = {"t": translator(lang), "lang": lang, "user": user, "lang_href": lang_href(request),
           "csrf": session_of(request).csrf, "path": request.url.path, **context}
    return request.app.state.templates.TemplateResponse(request, name, ctx,
                                                        status_code=status_code)
