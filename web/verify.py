"""The keyboard verify loop of the istanza page (web/static/verify.js) and its field viewer.

- `POST /api/istanze/{kit}/decisioni`: one or more field decisions in one transaction (a
  single Enter, or "Conferma tutti i rimanenti"), with the istanza's review version; answers
  the new version, the status and every anomaly's state, so the page updates in place;
- `GET /istanze/{kit}/successiva`: the next istanza of the reviewer's queue (not held by
  another reviewer);
- `GET /istanze/{kit}/campo.png?campo=KEY`: the page band around a field, its box drawn.

A typed correction is checked before it is taken (web/checks.py); a value that is well formed
but not in a table (a comune missing from the ISTAT list) comes back as `confirm` and is taken
when sent again with `force`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from storage.status import LIVE
from web import images
from web.api import api_csrf
from web.checks import check_value
from web.claims import claim_of, decision_kit
from web.deps import ApiUser, Db, PageUser, WriteDb, audit, audit_now, kit_for, lang_of, questure_of
from web.i18n import translator
from web.pages import _covered_by_view, _image
from web.queue import Filters, queue
from web.review import DecisionError, build_view, current_record, decide_field

router = APIRouter()


class OneDecision(BaseModel):
    field: str = Field(max_length=120)
    action: Literal["confirm", "correct"]
    value: str | None = Field(default=None, max_length=500)
    force: bool = Field(default=False, description="Take a value not found in its table")


class DecisionsIn(BaseModel):
    decisions: list[OneDecision] = Field(min_length=1, max_length=400)
    version: int | None = Field(default=None, description="The istanza's review version the "
                                "page was drawn with; a stale one is refused with 409")


def display(value: object, lang: str) -> str:
    """A value as the page shows it (dates DD/MM/YYYY, yes/no in words)."""
    t = translator(lang)
    if value is True or value is False:
        return t("yes") if value else t("no")
    text = str(value or "")
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return f"{text[8:10]}/{text[5:7]}/{text[0:4]}"
    return text


@router.post("/api/istanze/{kit_id}/decisioni", tags=["api"],
             dependencies=[Depends(api_csrf)],
             summary="Confirm or correct fields in one transaction (the keyboard loop)",
             responses={409: {"description": "held by another reviewer, or a stale version"},
                        422: {"description": "a value refused; `confirm`: send with force"}})
def decisions(kit_id: str, body: DecisionsIn, request: Request, user: ApiUser, db: WriteDb):
    lang = lang_of(request)
    t = translator(lang)
    kit = decision_kit(request, db, user, kit_id, body.version)
    view = build_view(db, kit)
    opened: list[str] = []
    closed: list[str] = []
    for d in body.decisions:
        try:
            if d.action == "correct" and not d.force:
                check_value(d.field, d.value or "")
            detail = decide_field(db, view, user.name, d.field, d.action, d.value)
        except DecisionError as exc:
            db.rollback()
            return JSONResponse({"detail": t(f"err_{exc.key}", **exc.params), "field": d.field,
                                 "confirm": exc.key in ("not_in_table",)}, status_code=422)
        audit(db, request, user.name, f"{d.action}_field", kit.id, **detail, via="tastiera")
        opened += detail["opened"]
        closed += detail["closed"]
    db.commit()
    fields = view.record.fields
    return {
        "version": kit.review_version, "status": kit.status, "status_label": t("kit_" + kit.status),
        "open_count": sum(1 for a in view.anomalies if a.status in LIVE),
        "anomalies": [{"id": a.id, "status": a.status, "label": t("an_" + a.status)}
                      for a in view.anomalies],
        "decided": {d.field: {"value": fields[d.field].value,
                              "display": display(fields[d.field].value, lang),
                              "action": d.action, "label": t("decided_" + d.action)}
                    for d in body.decisions},
        "opened": opened, "closed": closed, "claimed_by": kit.claimed_by}


@router.get("/istanze/{kit_id}/successiva", include_in_schema=False)
def next_istanza(kit_id: str, request: Request, user: PageUser, db: Db):
    """The next istanza of the queue after this one that nobody else holds; the queue when
    there is none."""
    minutes = request.app.state.settings.claim_minutes
    rows = queue(db, questure_of(user), Filters(), page_size=None).rows
    ids = [r.kit.id for r in rows]
    after = ids.index(kit_id) + 1 if kit_id in ids else 0
    for r in rows[after:] + rows[:after]:
        claim = claim_of(r.kit, minutes)
        if r.kit.id != kit_id and (claim is None or claim.who == user.name):
            return RedirectResponse(f"/istanze/{r.kit.id}", status_code=303)
    return RedirectResponse("/coda?ok=queue_done", status_code=303)


@router.get("/istanze/{kit_id}/campo.png", include_in_schema=False)
def field_image(kit_id: str, request: Request, user: PageUser, db: Db,
                campo: Annotated[str, Query(max_length=120)],
                w: Annotated[int, Query(ge=0, le=images.MAX_WIDTH)] = 0,
                v: Annotated[str, Query(max_length=200)] = ""):
    """The band of the page around one field, the field boxed: what its value is checked
    against (zoomed in by the page's viewer)."""
    kit = kit_for(db, user, kit_id)
    record = current_record(db, kit)
    fv = record.fields.get(campo)
    if fv is None or not 0 <= fv.page < len(record.kit.pages):
        raise HTTPException(404, "not found")
    if _covered_by_view(request, user, kit, v):
        db.commit()
    else:
        audit_now(request, db, user.name, "view", kit.id, what="field_image", field=campo)
    ref = record.kit.pages[fv.page]
    store = request.app.state.store
    missing = "immagine non disponibile" if lang_of(request) == "it" else "image not available"
    key = images.page_key(ref)
    drawn = (key, w, (tuple(fv.bbox),), False, True)
    cache = request.app.state.rendered
    data = cache.get(drawn)
    if data is None:
        if not store.exists(key):
            return _image(None, missing)
        data = images.render_page(store.get(key), width=w or None, boxes=[tuple(fv.bbox)],
                                  frame=False, zoom=True)
        cache.put(drawn, data)
    return _image(data, missing)

