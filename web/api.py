"""The JSON API under /api (OpenAPI document at /api/openapi.json).

The same session cookie as the pages authenticates; every POST but login also needs the
session's CSRF token in the X-CSRF-Token header (login answers it). Access rules are the
pages': a reviewer gets 404 for another Questura's istanza.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from storage.db import User
from validators.report import istanza_summary
from web.accounts import AccountError, create_user
from web.auth import csrf_ok
from web.checks import check_value
from web.claims import decision_kit
from web.deps import (
    ApiUser,
    Db,
    TooManyLogins,
    WriteDb,
    attempt_login,
    audit,
    audit_now,
    kit_for,
    lang_of,
    questure_of,
    require_admin,
    require_staff,
    session_of,
)
from web.pages import audit_query, filters_of, rate_limited
from web.queue import queue
from web.review import (
    DecisionError,
    build_view,
    decide_field,
    ordered_fields,
    resolve_anomaly,
    verify,
)
from web.status import lookup, parse_code

router = APIRouter(prefix="/api", tags=["api"])


def api_csrf(request: Request, x_csrf_token: str | None = Header(default=None)) -> None:
    """The CSRF token of the request's session. A request with no login behind it (the
    session expired, or was logged out) is answered 401 first: its client logs in again,
    and the keyboard loop keeps the value being typed (web/static/verify.js), where a 403
    would have lost it."""
    session = session_of(request)
    if session.user is None:
        raise HTTPException(401, "login required")
    if not csrf_ok(session, x_csrf_token):
        raise HTTPException(403, "CSRF token missing or wrong (X-CSRF-Token header)")


VERSION_HELP = ("The istanza's review_version the decision was taken on (GET answers it); a "
                "stale one is refused with 409, as is a decision on an istanza another reviewer "
                "holds")


class LoginIn(BaseModel):
    name: str = Field(max_length=120)
    password: str = Field(max_length=1024)


class FieldDecisionIn(BaseModel):
    field: str = Field(max_length=120, description="Field key, e.g. m1.31 or m1#2.3")
    action: Literal["confirm", "correct"]
    value: str | None = Field(default=None, max_length=500,
                              description="The corrected value (correct only)")
    transfer: bool = Field(default=False, description="Correcting the header's province "
                           "(m1.questore_sigla) to another Questura transfers the istanza: "
                           "only with transfer=true")
    version: int | None = Field(default=None, description=VERSION_HELP)
    force: bool = Field(default=False, description="Take a corrected value not found in its "
                        "table (a comune, a code) or a codice fiscale with a wrong check "
                        "character, as typed")


class ResolutionIn(BaseModel):
    resolution: Literal["accettata", "integrazione_richiesta", "respinta"]
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, description=VERSION_HELP)


class UserIn(BaseModel):
    name: str
    password: str
    role: Literal["reviewer", "ops", "admin"]
    questure: list[str] = []


def _user_out(u: User) -> dict[str, Any]:
    return {"name": u.name, "role": u.role, "questure": u.questure, "active": u.active,
            "locked_until": u.locked_until.isoformat() if u.locked_until else None}


@router.post("/login", summary="Log in; answers the CSRF token for later POSTs")
def api_login(body: LoginIn, request: Request):
    # JSON only: a cross-site form cannot send application/json without a CORS preflight
    try:
        user = attempt_login(request, body.name.strip(), body.password)
    except TooManyLogins as exc:
        return JSONResponse({"detail": "too many login attempts, retry later"}, status_code=429,
                            headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    if user is None:
        raise HTTPException(401, "wrong name or password, or account locked")
    return {**_user_out(user), "csrf": session_of(request).csrf}


@router.post("/logout", dependencies=[Depends(api_csrf)])
def api_logout(request: Request, user: ApiUser, db: WriteDb):
    audit(db, request, user.name, "logout")
    db.commit()
    session_of(request).logout()
    return {"ok": True}


@router.get("/me")
def me(request: Request, user: ApiUser):
    return {**_user_out(user), "csrf": session_of(request).csrf}


@router.get("/queue", summary="The review queue (filters: code, status, batch, since, until, page)")
def api_queue(  # the parameters are declared for validation and the OpenAPI document
    request: Request, user: ApiUser, db: Db,
    code: Annotated[str, Query(description="Only istanze with this open anomaly code")] = "",
    status: Annotated[str, Query(description="da_verificare, in_lavorazione, verificata, "
                                 "tutte (all); empty: the two still to work on")] = "",
    batch: Annotated[str, Query(description="Batch id")] = "",
    since: Annotated[dt.date | None, Query(description="Received on or after")] = None,
    until: Annotated[dt.date | None, Query(description="Received on or before")] = None,
    page: Annotated[int, Query(ge=1, description="Page of 25")] = 1,
):
    f = filters_of(request)
    result = queue(db, questure_of(user), f)
    return {
        "total": result.total, "page": result.page, "pages": result.pages,
        "counts": dict(result.counts),
        "items": [{"kit": r.kit.id, "codice_istanza": r.kit.codice_istanza,
                   "codice_assicurata": r.kit.assicurata, "questura": r.kit.questura,
                   "status": r.kit.status, "max_severity": r.kit.max_severity,
                   "open_anomalies": r.kit.anomaly_count, "codes": r.codes,
                   "created_at": r.kit.created_at.isoformat() if r.kit.created_at else None}
                  for r in result.rows]}


def _istanza(request: Request, db: DbSession, user: User, kit_id: str) -> dict[str, Any]:
    kit = kit_for(db, user, kit_id)
    view = build_view(db, kit)
    first, _, _ = ordered_fields(view)
    return {
        "kit": kit.id, "status": kit.status, "questura": kit.questura,
        "review_version": kit.review_version or 0, "claimed_by": kit.claimed_by,
        "pipeline_version": view.version.pipeline_version,
        "summary": istanza_summary(view.record, lang_of(request)),
        "to_check": first,
        "fields": {k: {"value": fv.value, "read": view.original.fields[k].value,
                       "confidence": view.original.fields[k].confidence,
                       "status": view.original.fields[k].status, "page": fv.page,
                       "decision": (view.decisions[k].action if k in view.decisions else None)}
                   for k, fv in view.record.fields.items()},
        "anomalies": [{"id": a.id, "code": a.code, "category": a.category,
                       "severity": a.severity, "fields": a.fields, "pages": a.pages,
                       "status": a.status, "note": a.note, "resolved_by": a.resolved_by,
                       "message": a.message_it if lang_of(request) == "it" else a.message_en}
                      for a in view.anomalies],
    }


@router.get("/istanze/{kit_id}", summary="An istanza as the reviewer sees it (audited view)")
def api_istanza(kit_id: str, request: Request, user: ApiUser,
                db: Db):
    out = _istanza(request, db, user, kit_id)
    audit_now(request, db, user.name, "view", kit_id, what="istanza", via="api")
    return out


@router.post("/istanze/{kit_id}/fields", dependencies=[Depends(api_csrf)],
             summary="Confirm or correct a field; validation runs again")
def api_field(kit_id: str, body: FieldDecisionIn, request: Request,
              user: ApiUser, db: WriteDb):
    kit = decision_kit(request, db, user, kit_id, body.version)
    view = build_view(db, kit)
    try:
        if body.action == "correct" and not body.force:
            check_value(body.field, body.value or "")  # as the keyboard loop does
        detail = decide_field(db, view, user.name, body.field, body.action, body.value,
                              transfer=body.transfer)
    except DecisionError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(db, request, user.name, f"{body.action}_field", kit.id, **detail)
    if "questura" in detail:
        audit(db, request, user.name, "transfer_questura", kit.id, **detail["questura"])
    db.commit()
    return {**detail, "status": kit.status}


@router.post("/istanze/{kit_id}/anomalies/{anomaly_id}", dependencies=[Depends(api_csrf)],
             summary="Resolve an anomaly: accettata, integrazione_richiesta or respinta")
def api_resolve(kit_id: str, anomaly_id: int, body: ResolutionIn, request: Request,
                user: ApiUser, db: WriteDb):
    kit = decision_kit(request, db, user, kit_id, body.version)
    view = build_view(db, kit)
    try:
        detail = resolve_anomaly(db, view, user.name, anomaly_id, body.resolution, body.note)
    except LookupError as exc:
        raise HTTPException(404, "not found") from exc
    audit(db, request, user.name, "resolve_anomaly", kit.id, **detail)
    db.commit()
    return {**detail, "status": kit.status}


@router.post("/istanze/{kit_id}/verify", dependencies=[Depends(api_csrf)],
             summary="Mark an istanza with no open anomaly as verificata")
def api_verify(kit_id: str, request: Request, user: ApiUser, db: WriteDb,
               version: Annotated[int | None, Query(description=VERSION_HELP)] = None):
    kit = decision_kit(request, db, user, kit_id, version)
    try:
        detail = verify(db, build_view(db, kit))
    except DecisionError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(db, request, user.name, "verify", kit.id, **detail)
    db.commit()
    return {**detail, "status": kit.status}


@router.get("/audit", summary="Audit events (ops, admin): user, action, kit, since, until, limit")
def api_audit(  # the parameters are declared for validation and the OpenAPI document
    request: Request, user: ApiUser, db: Db,
    user_name: Annotated[str, Query(alias="user", description="Who")] = "",
    action: Annotated[str, Query(description="view, correct_field, login, ...")] = "",
    kit: Annotated[str, Query(description="Istanza (kit id)")] = "",
    since: Annotated[dt.date | None, Query(description="On or after (YYYY-MM-DD)")] = None,
    until: Annotated[dt.date | None, Query(description="On or before (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Newest first, at most")] = 200,
):
    require_staff(user)
    q = dict(request.query_params)
    events = audit_query(db, q)
    out = [{"id": e.id, "at": e.at.isoformat(), "user": e.user_name, "action": e.action,
            "kit": e.kit_id, "detail": e.detail, "remote": e.remote} for e in events]
    audit_now(request, db, user.name, "audit_query", via="api", filters=q)
    return out


@router.get("/users", summary="Accounts (admin)")
def api_users(user: ApiUser, db: Db):
    require_admin(user)
    return [_user_out(u) for u in db.scalars(select(User).order_by(User.name))]


@router.post("/users", dependencies=[Depends(api_csrf)], status_code=201,
             summary="Create an account (admin)")
def api_user_create(body: UserIn, request: Request, user: ApiUser, db: WriteDb):
    require_admin(user)
    try:
        created = create_user(db, body.name, body.password, body.role, body.questure)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(db, request, user.name, "user_created", name=created.name, role=created.role,
          questure=created.questure)
    db.commit()
    return _user_out(created)


@router.get("/status/{code}", summary="Public status lookup: green, orange or red",
            responses={422: {"description": "not a 12-digit or 10-character code"},
                       429: {"description": "too many lookups from this address"}})
def api_status(code: str, request: Request, db: Db):
    wait = rate_limited(request)
    if wait is not None:
        return JSONResponse({"detail": "too many lookups, retry later"}, status_code=429,
                            headers={"Retry-After": str(max(1, round(wait)))})
    parsed = parse_code(code)
    if parsed is None:
        raise HTTPException(422, "a 12-digit Codice Assicurata or a 10-character numero pratica")
    answer = lookup(db, *parsed)
    return {"code": answer.code, "kind": answer.kind, "colour": answer.colour}


