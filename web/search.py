"""Search the istanze a user may see by Codice Istanza, Codice Assicurata (whole or its
start), or the applicant's surname or name (part of it, any case), in the current reading
with the reviewers' decisions as the pipeline saved them. Audited (`search`)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from sqlalchemy import String, cast, func, or_, select

from storage.db import FieldDecision, Kit, RecordVersion
from web.deps import Db, PageUser, audit_now, questure_of, render

router = APIRouter(include_in_schema=False)
LIMIT = 50
NAME_FIELDS = ("m1.3", "m1.4")  # Cognome, Nome


def _field(key: str):
    return func.upper(RecordVersion.record["fields"][key]["value"].as_string())


def search(db, questure: list[str] | None, q: str) -> list[tuple[Kit, str, str]]:
    """Kits matching `q`, with the surname and name shown in the result."""
    q = " ".join(q.split()).upper()
    code = q.replace(" ", "")
    stmt = (select(Kit, _field("m1.3"), _field("m1.4"))
            .join(RecordVersion, RecordVersion.id == Kit.current_version_id))
    if re.fullmatch(r"[0-9A-Z]{4,}", code) and any(c.isdigit() for c in code):
        stmt = stmt.where(or_(Kit.codice_istanza == code, Kit.assicurata.startswith(code),
                              Kit.id == code.lower()))
    else:
        decided = (select(FieldDecision.kit_id)
                   .where(FieldDecision.field_key.in_(NAME_FIELDS),
                          func.upper(cast(FieldDecision.value_after, String)).contains(q)))
        stmt = stmt.where(or_(*[_field(k).contains(q) for k in NAME_FIELDS],
                              Kit.id.in_(decided)))
    if questure is not None:
        stmt = stmt.where(Kit.questura.in_(questure))
    rows = db.execute(stmt.order_by(Kit.created_at.desc(), Kit.id).limit(LIMIT)).all()
    return [(kit, surname or "", name or "") for kit, surname, name in rows]


@router.get("/cerca")
def search_page(request: Request, user: PageUser, db: Db, q: str = ""):
    q = q.strip()[:80]
    results = search(db, questure_of(user), q) if len(q) >= 2 else []
    if q:
        audit_now(request, db, user.name, "search", q=q, results=len(results))
    return render(request, "search.html", {"q": q, "results": results, "limit": LIMIT},
                  user=user)
