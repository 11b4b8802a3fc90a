"""Creating accounts, shared by `plico users add` and the admin page."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import User
from validators.coded_tables import is_valid
from web.auth import ROLES, hash_password

_NAME = re.compile(r"[A-Za-z0-9._@-]{2,120}")
_PROVINCE = re.compile(r"[A-Z]{2}")


class AccountError(ValueError):
    """An account that cannot be created as asked."""


def create_user(db: Session, name: str, password: str, role: str, questure: list[str]) -> User:
    name = name.strip()
    questure = sorted({q.strip().upper() for q in questure if q.strip()})
    if not _NAME.fullmatch(name):
        raise AccountError("name: 2-120 letters, digits or . _ @ -")
    if role not in ROLES:
        raise AccountError(f"role: one of {', '.join(ROLES)}")
    bad = [q for q in questure if not _PROVINCE.fullmatch(q) or not is_valid("province", q)]
    if bad:
        raise AccountError(f"questura: province codes of the province table "
                           f"(not {', '.join(bad)})")
    if role == "reviewer" and not questure:
        raise AccountError("a reviewer needs at least one --questura")
    if len(password) < 8:
        raise AccountError("password: at least 8 characters")
    if db.scalar(select(User).where(User.name == name)) is not None:
        raise AccountError(f"user {name} exists")
    user = User(name=name, password_hash=hash_password(password), role=role, questure=questure,
                failed_logins=0, active=True)
    db.add(user)
    db.flush()
    return user


def _user(db: Session, name: str) -> User:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user {name}")
    return user


def set_password(db: Session, name: str, password: str) -> User:
    """A new password; the account's sessions end (their cookies carry the old hash's
    fingerprint) and a lockout is lifted."""
    if len(password) < 8:
        raise AccountError("password: at least 8 characters")
    user = _user(db, name)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    db.flush()
    return user


def set_active(db: Session, name: str, active: bool) -> User:
    """Deactivate (or reactivate) an account: a deactivated one cannot log in and its
    sessions end at their next request. Accounts are never deleted: the audit trail names them."""
    user = _user(db, name)
    user.active = active
    db.flush()
    return user
