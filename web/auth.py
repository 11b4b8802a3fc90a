"""Passwords, signed session cookies, CSRF tokens and login lockout.

Sessions are signed, not stored: the cookie carries {user, csrf token, expiry} and an
HMAC-SHA256 over them with the key from `PLICO_WEB_SECRET` (or one generated once under the
data directory). The user row is read on every request, so a deactivated account or a changed
password (the cookie carries a fingerprint of the hash) ends its sessions at once. Logging out
ends every session of the account opened before it, on any device: the logout is an audit
event, and a cookie issued earlier is refused (a signed cookie cannot be recalled otherwise).
Every visitor, logged in or not, gets a session with a CSRF token, so the login form is
protected too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

COOKIE = "plico_session"
ROLES = ("reviewer", "ops", "admin")

_hasher = PasswordHasher()
# verified against when the account does not exist, so that a wrong name costs as long as a
# wrong password (no account enumeration by timing)
_DUMMY_HASH = _hasher.hash("plico-no-such-user")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def load_or_create_secret(configured: str | None, data_dir: Path) -> bytes:
    """The signing key: the configured one, else <data_dir>/web-secret, created on first use."""
    if configured:
        return configured.encode()
    path = data_dir / "web-secret"
    if not path.exists():
        if not data_dir.exists():
            from storage.objects_local import private_dirs

            private_dirs(data_dir)
        # written whole under a temporary name, then linked into place: a second process
        # starting at the same moment either wins or reads the winner's key, never half a key
        tmp = data_dir / f".web-secret.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()


@dataclass
class Session:
    """What the session cookie says. `dirty` asks the middleware to write it back."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user: str | None = None
    fingerprint: str | None = None
    expires: float = 0.0
    issued: float = 0.0  # when the login happened (a later logout ends this session too)
    lang: str | None = None
    dirty: bool = False

    def login(self, user: str, fingerprint: str, hours: float) -> None:
        # a fresh CSRF token at login: a token seen before authentication is not reused
        self.csrf = secrets.token_urlsafe(24)
        self.user, self.fingerprint = user, fingerprint
        self.issued = time.time()
        self.expires = self.issued + hours * 3600
        self.dirty = True

    def logout(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.user = self.fingerprint = None
        self.expires = self.issued = 0.0
        self.dirty = True


class SessionCodec:
    """Signs and checks session cookies with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(
            hmac.new(self._key, payload, hashlib.sha256).digest()).decode().rstrip("=")

    def dumps(self, s: Session) -> str:
        body = json.dumps({"c": s.csrf, "u": s.user, "f": s.fingerprint, "e": s.expires,
                           "i": s.issued, "l": s.lang}, separators=(",", ":")).encode()
        b64 = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{b64}.{self._sign(b64.encode())}"

    def loads(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when it is absent, forged or malformed. An expired
        login keeps its CSRF token and language but loses the user."""
        if not cookie or "." not in cookie:
            return None
        b64, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sign(b64.encode())):
            return None
        try:
            d = json.loads(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
            s = Session(csrf=str(d["c"]), user=d.get("u"), fingerprint=d.get("f"),
                        expires=float(d.get("e") or 0), issued=float(d.get("i") or 0),
                        lang=d.get("l"))
        except (ValueError, KeyError, TypeError):
            return None
        if s.user and s.expires < time.time():
            s.user = s.fingerprint = None
            s.dirty = True
        return s

    def token(self, *parts: str) -> str:
        """A short MAC binding some values together (image links of one audited view)."""
        return self._sign("|".join(parts).encode())[:22]

    def check_token(self, token: str, *parts: str) -> bool:
        return hmac.compare_digest(token, self.token(*parts))


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they were written in UTC."""
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t


ROME = ZoneInfo("Europe/Rome")


def as_rome(t: dt.datetime) -> dt.datetime:
    """A stored time (UTC) as the Questure read it: Italian time, CET or CEST."""
    return as_utc(t).astimezone(ROME)


def rome_time(t: dt.datetime | None, fmt: str = "%d/%m/%Y %H:%M:%S") -> str:
    """A stored time in Italian time with its zone (CET or CEST) named; '' for none."""
    return as_rome(t).strftime(f"{fmt} %Z") if t is not None else ""
