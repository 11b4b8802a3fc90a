"""The server-rendered pages: login, queue (+ CSV), istanza, decisions, images, audit, users,
public status lookup. Every form carries the session's CSRF token, checked on every POST."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as DbSession
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from storage.db import Anomaly, AuditEvent, Kit, User
from validators.coded_tables import edition_on
from validators.report import istanza_summary
from web import images
from web.accounts import AccountError, create_user
from web.auth import ROLES, csrf_ok
from web.checks import check_value
from web.claims import ReviewConflict, decision_kit
from web.deps import (
    WEB_BUSY_TIMEOUT,
    Db,
    PageUser,
    TooManyLogins,
    WriteDb,
    attempt_login,
    audit,
    audit_now,
    client_address,
    current_user,
    kit_for,
    lang_of,
    questure_of,
    render,
    require_admin,
    require_staff,
    session_of,
)
from web.i18n import translator
from web.queue import STATUSES, Filters, queue, to_csv
from web.review import (
    RESOLUTIONS,
    DecisionError,
    IstanzaView,
    build_view,
    current_record,
    decide_field,
    form_field,
    ordered_fields,
    resolve_anomaly,
    verify,
)
from web.status import lookup, parse_code

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
VIEW_LINK_SECONDS = 3600


async def form_csrf(request: Request) -> FormData:
    """The form body, read on the event loop (the handlers that use it run in the thread
    pool), once its CSRF token is checked."""
    form = await request.form()
    if not csrf_ok(session_of(request), form.get("csrf")):
        raise HTTPException(403, "CSRF token missing or wrong")
    return form


Form = Annotated[FormData, Depends(form_csrf)]


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters_of(request: Request) -> Filters:
    q = request.query_params
    try:
        page = int(q.get("page") or 1)
    except ValueError:
        page = 1
    return Filters(code=q.get("code", "")[:64], status=q.get("status", "")[:24],
                   batch=q.get("batch", "")[:64], since=_date(q.get("since")),
                   until=_date(q.get("until")), page=page)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host, no scheme): an open redirect is a phishing aid."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/coda"


@router.get("/")
def home(request: Request, db: Db):
    return RedirectResponse("/coda" if current_user(request, db) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, db: Db, next: str = ""):
    return render(request, "login.html", {"next": _safe_next(next), "error": None},
                  user=current_user(request, db))


@router.post("/login")
def login_submit(request: Request, form: Form):
    name, password = str(form.get("name", ""))[:120], str(form.get("password", ""))[:1024]
    target = _safe_next(str(form.get("next", "")))
    try:
        user = attempt_login(request, name.strip(), password)
    except TooManyLogins as exc:
        response = render(request, "login.html", {"next": target, "error": "login_throttled",
                                                  "name": name}, status_code=429)
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    if user is None:
        return render(request, "login.html", {"next": target, "error": "login_failed",
                                              "name": name}, status_code=401)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", dependencies=[Depends(form_csrf)])
def logout(request: Request, db: WriteDb):
    user = current_user(request, db)
    if user is not None:
        audit(db, request, user.name, "logout")
        db.commit()
    session_of(request).logout()
    return RedirectResponse("/login", status_code=303)


@router.get("/coda")
def queue_page(request: Request, user: PageUser, db: Db):
    f = filters_of(request)
    result = queue(db, questure_of(user), f)
    return render(request, "queue.html", {
        "f": f, "result": result, "message": request.query_params.get("ok"),
        "statuses": STATUSES,
        "qs": lambda **o: urlencode(f.query(**o))}, user=user)


@router.get("/coda.csv")
def queue_csv(request: Request, user: PageUser, db: Db):
    f = filters_of(request)
    result = queue(db, questure_of(user), f, page_size=None)
    audit_now(request, db, user.name, "export_csv", filters=f.query(), rows=len(result.rows))
    return Response(to_csv(result), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="plico-coda.csv"'})


# --- istanza --------------------------------------------------------------------------------


def _view_token(request: Request, user: User, kit: Kit, view_id: int) -> str:
    exp = str(int(time.time()) + VIEW_LINK_SECONDS)
    mac = request.app.state.codec.token(user.name, kit.id, str(view_id), exp)
    return f"{view_id}.{exp}.{mac}"


def _covered_by_view(request: Request, user: User, kit: Kit, v: str) -> bool:
    """An image link made for an audited view of this kit by this user, still fresh: the view
    event covers it. Any other image request is audited on its own."""
    parts = v.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) < time.time():
        return False
    return request.app.state.codec.check_token(parts[2], user.name, kit.id, parts[0], parts[1])


def istanza_context(request: Request, db: DbSession, user: User, kit: Kit,
                    view: IstanzaView, view_id: int) -> dict[str, Any]:
    lang = lang_of(request)
    v = _view_token(request, user, kit, view_id)
    first, rest, empty = ordered_fields(view)
    anomalies = sorted(view.anomalies, key=lambda a: (
        a.status != "aperta", {"blocking": 0, "warning": 1, "info": 2}.get(a.severity, 3), a.id))
    events = db.scalars(select(AuditEvent).where(AuditEvent.kit_id == kit.id)
                        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(100)).all()
    store = request.app.state.store
    pages = []
    for i, ref in enumerate(view.record.kit.pages):
        pages.append({"i": i, "ref": ref, "available": store.exists(images.page_key(ref))})
    t = translator(lang)

    def page_label(ref) -> str:
        """m1p3 -> "Mod. 1 p. 3" (and the family member's copy, m1#2); others by kind."""
        if ref.kind[:3] in ("m1p", "m2p"):
            owner = f" · {ref.owner}" if "#" in (ref.owner or "") else ""
            return f"{t('form_page', form=ref.kind[1], page=ref.kind[3:])}{owner}"
        return t("kind_" + ref.kind)

    def evidence_pages(a) -> list[int]:
        """The pages that show an anomaly's evidence: those of its fields, then its own
        (a form value beside the passport page it disagrees with), three at most."""
        found = [view.record.fields[k].page for k in (a.fields or []) if k in view.record.fields]
        found += list(a.pages or [])
        out = [i for i in dict.fromkeys(found) if 0 <= i < len(pages)]
        return out[:3]

    return {
        "page_label": page_label, "evidence_pages": evidence_pages,
        "kit": kit, "view": view, "summary": istanza_summary(view.record, lang), "v": v,
        "first": first, "rest": rest, "empty": empty, "anomalies": anomalies,
        "field_label": lambda k: (form_field(k).label if form_field(k) else k),
        "field_options": lambda k: ([n for n, _ in form_field(k).options]
                                    if form_field(k) and form_field(k).options else None),
        "field_kind": lambda k: (form_field(k).kind.value if form_field(k) else "text"),
        "pages": pages, "events": events, "resolutions": RESOLUTIONS,
        "province_codes": edition_on("province", None).codes,
        "open_count": len(view.open_anomalies),
        "review_count": sum(1 for f in view.record.fields.values() if f.status == "review"),
    }


@router.get("/istanze/{kit_id}")
def istanza_page(kit_id: str, request: Request, user: PageUser,
                 db: Db):
    kit = kit_for(db, user, kit_id)
    view = build_view(db, kit)
    event_id = audit_now(request, db, user.name, "view", kit.id, what="istanza",
                         version=view.version.pipeline_version)
    ctx = istanza_context(request, db, user, kit, view, event_id)
    return render(request, "istanza.html", {**ctx, "message": request.query_params.get("ok"),
                                            "error": None}, user=user)


@router.post("/istanze/{kit_id}/campi")
def field_decision(kit_id: str, request: Request, form: Form, user: PageUser, db: WriteDb):
    kit = decision_kit(request, db, user, kit_id, form.get("version"))
    key, action = str(form.get("field", "")), str(form.get("action", ""))
    view = build_view(db, kit)
    try:
        if action == "correct" and form.get("force") not in ("1", "true", "on"):
            check_value(key, str(form.get("value", "")))  # as the keyboard loop does
        detail = decide_field(db, view, user.name, key, action, str(form.get("value", "")),
                              transfer=form.get("transfer") in ("1", "true", "on"))
    except DecisionError as exc:
        db.rollback()
        view = build_view(db, kit)
        event = audit(db, request, user.name, "view", kit.id, what="istanza")
        ctx = istanza_context(request, db, user, kit, view, event.id)
        db.commit()
        confirm = exc.key == "not_in_table"  # taken when sent again with the box ticked
        message = f"err_{exc.key}_form" if confirm else f"err_{exc.key}"
        return render(request, "istanza.html", {
            **ctx, "message": None, "error_field": key, "error_confirm": confirm,
            "error": translator(lang_of(request))(message, **exc.params),
            "error_value": str(form.get("value", ""))[:500]}, status_code=422, user=user)
    audit(db, request, user.name, f"{action}_field", kit.id, **detail)
    if "questura" in detail:
        audit(db, request, user.name, "transfer_questura", kit.id, **detail["questura"])
    db.commit()
    allowed = questure_of(user)
    if allowed is not None and kit.questura not in allowed:
        return RedirectResponse("/coda?ok=moved", status_code=303)
    anchor = "campo-" + key.replace("#", "_").replace(".", "-")
    return RedirectResponse(f"/istanze/{kit.id}?ok={action}#{anchor}", status_code=303)


@router.post("/istanze/{kit_id}/anomalie/{anomaly_id}")
def anomaly_decision(kit_id: str, anomaly_id: int, request: Request, form: Form,
                     user: PageUser, db: WriteDb):
    kit = decision_kit(request, db, user, kit_id, form.get("version"))
    view = build_view(db, kit)
    try:
        detail = resolve_anomaly(db, view, user.name, anomaly_id, str(form.get("resolution", "")),
                                 str(form.get("note", "")))
    except LookupError as exc:
        raise HTTPException(404, "not found") from exc
    except DecisionError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(db, request, user.name, "resolve_anomaly", kit.id, **detail)
    db.commit()
    return RedirectResponse(f"/istanze/{kit.id}?ok=resolved#anomalia-{anomaly_id}",
                            status_code=303)


@router.post("/istanze/{kit_id}/verifica")
def verify_istanza(kit_id: str, request: Request, form: Form, user: PageUser, db: WriteDb):
    kit = decision_kit(request, db, user, kit_id, form.get("version"))
    try:
        detail = verify(db, build_view(db, kit))
    except DecisionError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(db, request, user.name, "verify", kit.id, **detail)
    db.commit()
    return RedirectResponse(f"/istanze/{kit.id}?ok=verified", status_code=303)


def _image(data: bytes | None, missing: str) -> Response:
    if data is None:
        return Response(images.placeholder(missing), status_code=404, media_type="image/png")
    return Response(data, media_type="image/png")


@router.get("/istanze/{kit_id}/pagine/{index}.png")
def page_image(kit_id: str, index: int, request: Request, user: PageUser, db: Db,
               w: Annotated[int, Query(ge=0, le=10_000)] = 0,
               a: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
               zoom: bool = False, v: Annotated[str, Query(max_length=200)] = ""):
    kit = kit_for(db, user, kit_id)
    record = current_record(db, kit)
    if not 0 <= index < len(record.kit.pages):
        raise HTTPException(404, "not found")
    boxes, frame = [], False
    if a:
        row = db.get(Anomaly, a)
        if row is None or row.record_version_id != kit.current_version_id:
            raise HTTPException(404, "not found")
        for key in row.fields or []:
            fv = record.fields.get(key)
            if fv is not None and fv.page == index:
                boxes.append(tuple(fv.bbox))
        frame = not boxes and index in (row.pages or [])
    if _covered_by_view(request, user, kit, v):
        db.commit()  # the database is done with: its connection goes back before the drawing
    else:
        audit_now(request, db, user.name, "view", kit.id, what="page_image", page=index)
    ref = record.kit.pages[index]
    store = request.app.state.store
    missing = "immagine non disponibile" if lang_of(request) == "it" else "image not available"
    cache = request.app.state.rendered
    drawn = (images.page_key(ref), w, tuple(boxes), frame, zoom)
    data = cache.get(drawn)
    if data is None:
        if not store.exists(images.page_key(ref)):
            return _image(None, missing)
        data = images.render_page(store.get(images.page_key(ref)), width=w or None,
                                  boxes=boxes, frame=frame, zoom=zoom)
        cache.put(drawn, data)
    return _image(data, missing)


@router.get("/istanze/{kit_id}/ritaglio")
def crop_image(kit_id: str, request: Request, user: PageUser, db: Db,
               campo: Annotated[str, Query(max_length=120)] = "",
               v: Annotated[str, Query(max_length=200)] = ""):
    kit = kit_for(db, user, kit_id)
    record = current_record(db, kit)
    fv = record.fields.get(campo)
    if fv is None:
        raise HTTPException(404, "not found")
    if _covered_by_view(request, user, kit, v):
        db.commit()
    else:
        audit_now(request, db, user.name, "view", kit.id, what="crop", field=campo)
    store = request.app.state.store
    missing = "ritaglio non disponibile" if lang_of(request) == "it" else "crop not available"
    if not fv.crop or not store.exists(fv.crop):
        return _image(None, missing)
    return _image(store.get(fv.crop), missing)


# --- ops and admin --------------------------------------------------------------------------


def audit_query(db: DbSession, q) -> list[AuditEvent]:
    s = select(AuditEvent)
    if q.get("user"):
        s = s.where(AuditEvent.user_name == q["user"])
    if q.get("action"):
        s = s.where(AuditEvent.action == q["action"])
    if q.get("kit"):
        s = s.where(AuditEvent.kit_id == q["kit"])
    since, until = _date(q.get("since")), _date(q.get("until"))
    if since:
        s = s.where(AuditEvent.at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if until:
        s = s.where(AuditEvent.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(),
                                                        dt.UTC))
    try:
        limit = min(max(int(q.get("limit") or 200), 1), 1000)
    except ValueError:
        limit = 200
    return list(db.scalars(s.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


@router.get("/audit")
def audit_page(request: Request, user: PageUser, db: Db):
    require_staff(user)
    q = dict(request.query_params)
    events = audit_query(db, q)
    audit_now(request, db, user.name, "audit_query",
              filters={k: v for k, v in q.items() if k != "lang"})
    return render(request, "audit.html", {"events": events, "q": q}, user=user)


@router.get("/utenti")
def users_page(request: Request, user: PageUser, db: Db):
    require_admin(user)
    users = db.scalars(select(User).order_by(User.name)).all()
    return render(request, "users.html", {"users": users, "roles": ROLES, "error": None,
                                          "message": request.query_params.get("ok")}, user=user)


@router.post("/utenti")
def users_create(request: Request, form: Form, user: PageUser, db: WriteDb):
    require_admin(user)
    try:
        created = create_user(db, str(form.get("name", "")), str(form.get("password", "")),
                              str(form.get("role", "")),
                              str(form.get("questure", "")).replace(",", " ").split())
    except AccountError as exc:
        db.rollback()
        users = db.scalars(select(User).order_by(User.name)).all()
        return render(request, "users.html", {"users": users, "roles": ROLES, "message": None,
                                              "error": str(exc)}, status_code=422, user=user)
    audit(db, request, user.name, "user_created", name=created.name, role=created.role,
          questure=created.questure)
    db.commit()
    return RedirectResponse("/utenti?ok=created", status_code=303)


@router.post("/utenti/{name}/sblocca", dependencies=[Depends(form_csrf)])
def users_unlock(name: str, request: Request, user: PageUser, db: WriteDb):
    require_admin(user)
    target = db.scalar(select(User).where(User.name == name))
    if target is None:
        raise HTTPException(404, "not found")
    target.locked_until, target.failed_logins = None, 0
    audit(db, request, user.name, "user_unlocked", name=name)
    db.commit()
    return RedirectResponse("/utenti?ok=unlocked", status_code=303)


# --- public status lookup -------------------------------------------------------------------


def rate_limited(request: Request) -> float | None:
    """Seconds to wait when this client used up its lookups, else None."""
    allowed, wait = request.app.state.limiter.allow(client_address(request))
    return None if allowed else wait


@router.get("/stato")
def status_page(request: Request, db: Db, codice: str = ""):
    answer, error, status_code = None, None, 200
    if codice:
        wait = rate_limited(request)
        parsed = parse_code(codice)
        if wait is not None:
            error, status_code = "rate_limited", 429
        elif parsed is None:
            error, status_code = "bad_code", 422
        else:
            answer = lookup(db, *parsed)
    response = render(request, "status.html", {"answer": answer, "error": error,
                                                "codice": codice[:32]},
                      status_code=status_code, user=current_user(request, db))
    if status_code == 429:
        response.headers["Retry-After"] = "60"
    return response


def install_error_pages(app: FastAPI) -> None:
    """HTML error pages for the pages, JSON for /api (FastAPI's default)."""
    from fastapi.exception_handlers import (
        http_exception_handler,
        request_validation_exception_handler,
    )
    from fastapi.exceptions import RequestValidationError

    from storage.db import session_scope

    def page(request: Request, status: int, headers: dict[str, str] | None = None):
        # runs in the thread pool: reading the user is blocking database work
        with session_scope(request.app.state.engine, write=False) as db:
            response = render(request, "error.html", {"status": status}, status_code=status,
                              user=current_user(request, db))
        response.headers.update(headers or {})
        return response

    @app.exception_handler(StarletteHTTPException)
    async def errors(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith(("/api/", "/static/")) or exc.status_code < 400:
            return await http_exception_handler(request, exc)
        return await run_in_threadpool(page, request, exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        return await run_in_threadpool(page, request, 422)

    @app.exception_handler(OperationalError)
    async def busy(request: Request, exc: OperationalError):
        # SQLite's write lock not obtained in WEB_BUSY_TIMEOUT seconds: busy, not broken
        if "locked" not in str(exc.orig):
            raise exc
        log.warning("database write lock not obtained in %.0f s: %s answered 503",
                    WEB_BUSY_TIMEOUT, request.url.path.split("/")[1] or "/")
        headers = {"Retry-After": "2"}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "database busy, retry"}, status_code=503,
                                headers=headers)
        return await run_in_threadpool(page, request, 503, headers)

    def conflict_page(request: Request, exc: ReviewConflict):
        # another reviewer holds the istanza, or the page's version is stale: the istanza
        # again, as it is now, with the reason
        with session_scope(request.app.state.engine) as db:
            user = current_user(request, db)
            if user is None:
                return RedirectResponse(f"/istanze/{exc.kit_id}", status_code=303)
            kit = kit_for(db, user, exc.kit_id)
            view = build_view(db, kit)
            event = audit(db, request, user.name, "view", kit.id, what="istanza")
            ctx = istanza_context(request, db, user, kit, view, event.id)
            db.commit()
            return render(request, "istanza.html", {**ctx, "message": None,
                                                    "error": exc.text(lang_of(request))},
                          status_code=409, user=user)

    @app.exception_handler(ReviewConflict)
    async def conflict(request: Request, exc: ReviewConflict):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.text(lang_of(request)), "conflict": exc.key},
                                status_code=409)
        return await run_in_threadpool(conflict_page, request, exc)
