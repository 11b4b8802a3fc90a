"""Claims ("prendi in carico") and optimistic versioning of reviewers' decisions.

A reviewer takes an istanza (`kits.claimed_by`, `kits.claimed_at`); the others see who has it
and since when, and their decisions on it are refused (HTTP 409) until the holder releases it
or the claim lapses (PLICO_CLAIM_MINUTES after it was taken or after the holder's last
decision). A decision by anyone takes the istanza when nobody holds it.

Every decision bumps `kits.review_version`; the pages send the version they were drawn with
(a hidden `version` field), the JSON API a `version` member (optional there), and a decision
on a stale version is refused with 409 and a message saying who changed the istanza: two
reviewers never overwrite each other's decisions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from starlette.concurrency import run_in_threadpool

from storage.db import Kit, User, session_scope
from web.auth import as_utc, csrf_ok, rome_time, utcnow
from web.deps import (
    STAFF,
    Db,
    LoginRequired,
    PageUser,
    audit,
    current_user,
    kit_for,
    questure_of,
    render,
    session_of,
)
from web.i18n import translator

router = APIRouter(include_in_schema=False)


@dataclass
class Claim:
    who: str
    since: dt.datetime
    until: dt.datetime


class ReviewConflict(Exception):
    """A decision refused: another reviewer holds the istanza (`claimed`) or the page it was
    taken on is stale (`stale`). Answered 409 with the message in the interface's language."""

    def __init__(self, kit_id: str, key: str, **params: str) -> None:
        super().__init__(key)
        self.kit_id, self.key, self.params = kit_id, key, params

    def text(self, lang: str) -> str:
        return translator(lang)(f"conflict_{self.key}", **self.params)


def claim_of(kit: Kit, minutes: float, now: dt.datetime | None = None) -> Claim | None:
    """The live claim on `kit`, or None (never taken, released, or lapsed)."""
    if not kit.claimed_by or kit.claimed_at is None:
        return None
    since = as_utc(kit.claimed_at)
    until = since + dt.timedelta(minutes=minutes)
    return Claim(kit.claimed_by, since, until) if until > (now or utcnow()) else None


def _minutes(request: Request) -> float:
    return request.app.state.settings.claim_minutes


def _version(raw: object) -> int | None:
    try:
        return int(str(raw)) if raw not in (None, "") else None
    except ValueError:
        return None


def decision_kit(request: Request, db: DbSession, user: User, kit_id: str,
                 version: object = None) -> Kit:
    """The kit for a decision: its row locked, its claim and version checked, then taken by
    `user` and its version bumped (undone with the decision when that fails).

    Raises ReviewConflict when another user holds it or `version` (when sent) is stale."""
    kit = kit_for(db, user, kit_id, lock=True)
    claim = claim_of(kit, _minutes(request))
    if claim is not None and claim.who != user.name:
        raise ReviewConflict(kit.id, "claimed", who=claim.who, since=rome_time(claim.since),
                             until=rome_time(claim.until))
    sent = _version(version)
    if sent is not None and sent != (kit.review_version or 0):
        raise ReviewConflict(kit.id, "stale", who=kit.claimed_by or "—")
    kit.review_version = (kit.review_version or 0) + 1
    kit.claimed_by, kit.claimed_at = user.name, utcnow()
    return kit


@router.post("/istanze/{kit_id}/prendi")
async def take(kit_id: str, request: Request):
    form = await request.form()
    return await run_in_threadpool(_take_or_release, request, kit_id, form, True)


@router.post("/istanze/{kit_id}/rilascia")
async def release(kit_id: str, request: Request):
    form = await request.form()
    return await run_in_threadpool(_take_or_release, request, kit_id, form, False)


def _take_or_release(request: Request, kit_id: str, form, taking: bool):
    if not csrf_ok(session_of(request), form.get("csrf")):
        raise HTTPException(403, "CSRF token missing or wrong")
    with session_scope(request.app.state.engine) as db:
        user = current_user(request, db)
        if user is None:
            raise LoginRequired()
        kit = kit_for(db, user, kit_id, lock=True)
        claim = claim_of(kit, _minutes(request))
        if claim is not None and claim.who != user.name and user.role not in STAFF:
            return RedirectResponse(f"/istanze/{kit.id}?avviso=claim_busy", status_code=303)
        if taking:
            kit.claimed_by, kit.claimed_at = user.name, utcnow()
            audit(db, request, user.name, "claim", kit.id,
                  **({"taken_from": claim.who} if claim and claim.who != user.name else {}))
        elif claim is not None:
            kit.claimed_by, kit.claimed_at = None, None
            audit(db, request, user.name, "release", kit.id,
                  **({"holder": claim.who} if claim.who != user.name else {}))
        kit.review_version = (kit.review_version or 0) + 1
        db.commit()
        return RedirectResponse(f"/istanze/{kit.id}?ok={'claimed' if taking else 'released'}",
                                status_code=303)


@router.get("/mie")
def mine(request: Request, user: PageUser, db: Db):
    """Le mie istanze: those this user holds now, newest claim first."""
    since = utcnow() - dt.timedelta(minutes=_minutes(request))
    q = (select(Kit).where(Kit.claimed_by == user.name, Kit.claimed_at > since,
                           Kit.current_version_id.is_not(None)).order_by(Kit.claimed_at.desc()))
    allowed = questure_of(user)
    if allowed is not None:
        q = q.where(Kit.questura.in_(allowed))
    kits = db.scalars(q.limit(200)).all()
    return render(request, "mine.html", {"kits": kits}, user=user)


def install(app: FastAPI) -> None:
    """The claim routes and the templates' `claim_of(kit)` (the 409 answer of a conflict is
    web/pages.py's, with the other error pages)."""
    app.include_router(router)
    minutes = app.state.settings.claim_minutes
    app.state.templates.env.globals["claim_of"] = lambda kit: claim_of(kit, minutes)
