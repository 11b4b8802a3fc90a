"""The server-rendered pages with FastAPI's TestClient (SQLite and PostgreSQL): login and its
cookie, CSRF on every form, the queue (filters, counts, pagination, CSV), the istanza page
(portal header, fields, evidence images, decisions), images behind access checks, audit,
users, the public status page, languages."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from web_client import PASSWORD, csrf_of, login, make_web, page_csrf
from web_testdata import corrected_cf

from storage.db import AuditEvent, Kit, session_scope


@pytest.fixture
def web(tmp_path):
    """SQLite: the pages' own logic (the API tests run every query on PostgreSQL too)."""
    return make_web(tmp_path, f"sqlite:///{tmp_path / 'index.db'}", images=True)


@pytest.fixture
def web_db(db_url, tmp_path):
    """SQLite and PostgreSQL, for the pages whose queries differ by database."""
    return make_web(tmp_path, db_url, images=True)


def actions(web) -> list[str]:
    with session_scope(web.engine) as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_login_sets_a_safe_cookie_and_forms_need_the_csrf_token(web) -> None:
    c = web.client()
    r = c.get("/login")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-frame-options"] == "DENY"
    token = csrf_of(r.text)
    form = {"name": "rev_mi", "password": PASSWORD, "next": "/coda"}
    assert c.post("/login", data=form).status_code == 403  # no token
    assert c.post("/login", data={**form, "csrf": token + "x"}).status_code == 403
    r = c.post("/login", data={**form, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/coda"
    # a new token after login; the old one no longer works
    fresh = page_csrf(c)
    assert fresh != token
    kit = web.mi.kit_id
    decision = {"field": "m1.3", "action": "confirm"}
    assert c.post(f"/istanze/{kit}/campi", data={**decision, "csrf": token}).status_code == 403
    assert c.post(f"/istanze/{kit}/campi", data=decision).status_code == 403
    assert c.post("/logout", data={}).status_code == 403
    assert c.post(f"/istanze/{kit}/campi", data={**decision, "csrf": fresh},
                  follow_redirects=False).status_code == 303


def test_secure_cookie_behind_a_trusted_tls_proxy(tmp_path) -> None:
    web = make_web(tmp_path, f"sqlite:///{tmp_path / 'index.db'}", web_trusted_proxy=True)
    c = web.client()
    r = c.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in r.headers["set-cookie"].lower()
    r = c.get("/login", headers={"X-Forwarded-Proto": "http"})
    assert "secure" not in r.headers["set-cookie"].lower()


def test_pages_need_login_and_the_login_redirect_stays_on_site(web) -> None:
    c = web.client()
    r = c.get(f"/istanze/{web.mi.kit_id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert c.get("/", follow_redirects=False).headers["location"] == "/login"
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"name": "rev_mi", "password": PASSWORD, "csrf": token,
                               "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/coda"
    # a tampered cookie is no session at all
    value = c.cookies.get("plico_session")
    c.cookies.set("plico_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert c.get("/coda", follow_redirects=False).status_code == 303


def test_lockout_by_the_login_form_and_unlock_by_the_admin(web) -> None:
    c = web.client()
    for _ in range(web.settings.web_lockout_attempts):
        r = login(c, "rev_rm", "wrong password", expect=401)
        assert "Accesso non riuscito" in r.text
    login(c, "rev_rm", expect=401)
    assert actions(web).count("lockout") == 1
    admin = web.client("admin1")
    page = admin.get("/utenti").text
    assert "bloccato fino al" in page
    r = admin.post("/utenti/rev_rm/sblocca", data={"csrf": csrf_of(page)},
                   follow_redirects=False)
    assert r.status_code == 303
    login(c, "rev_rm")
    assert actions(web)[-2:] == ["user_unlocked", "login"]


def test_other_questura_is_404_by_page_and_images(web) -> None:
    c = web.client("rev_mi")
    rm, missing = web.rm.kit_id, "no-such-kit"
    for path in (f"/istanze/{rm}", f"/istanze/{rm}/pagine/1.png",
                 f"/istanze/{rm}/ritaglio?campo=m1.3"):
        assert c.get(path).status_code == 404, path
    # the same page as for an istanza that does not exist (its own address aside)
    assert (c.get(f"/istanze/{rm}").text.replace(rm, "ID")
            == c.get(f"/istanze/{missing}").text.replace(missing, "ID"))
    token = page_csrf(c)
    assert c.post(f"/istanze/{rm}/campi", data={"field": "m1.3", "action": "confirm",
                                                "csrf": token}).status_code == 404
    assert c.post(f"/istanze/{rm}/anomalie/1", data={"resolution": "accettata",
                                                     "csrf": token}).status_code == 404
    assert web.rm.record.kit.codice_istanza not in c.get("/coda?status=tutte").text
    assert c.get("/audit").status_code == 403 and c.get("/utenti").status_code == 403


def test_queue_sorts_filters_counts_pages_and_exports(web_db) -> None:
    web = web_db
    ops = web.client("ops1")
    page = ops.get("/coda").text
    mi, rm = web.mi.record.kit.codice_istanza, web.rm.record.kit.codice_istanza
    assert page.index(rm) < page.index(mi)  # blocking (missing signature) before a warning
    assert "Istanze trovate: 2" in page and web.clean.record.kit.codice_istanza not in page
    assert 'title="missing_signature">Istanza non firmata (campo 29 vuoto)</a> <span class="count">1</span>' in page
    only = ops.get("/coda?code=invalid_codice_fiscale").text
    assert mi in only and rm not in only
    assert web.clean.record.kit.codice_istanza in ops.get("/coda?status=tutte").text
    assert "Istanze trovate: 0" in ops.get("/coda?since=2999-01-01").text
    assert "Istanze trovate: 2" in ops.get("/coda?until=2999-01-01&batch=web-test").text
    assert "Istanze trovate: 0" in ops.get("/coda?batch=another").text
    # read without anomalies: verificata at once, out of the queue, under its own filter
    assert "Istanze trovate: 1" in ops.get("/coda?status=verificata").text
    with session_scope(web.engine) as db:  # 30 more istanze: two pages of 25
        for i in range(30):
            db.add(Kit(id=f"extra-{i:03d}", batch_id="web-test", number=100 + i, questura="MI",
                       status="da_verificare", max_severity="info", anomaly_count=1,
                       current_version_id=db.get(Kit, web.clean.kit_id).current_version_id))
    first = ops.get("/coda").text
    assert "Pagina 1 di 2" in first and 'rel="next"' in first
    assert "Pagina 2 di 2" in ops.get("/coda?page=2").text
    r = ops.get("/coda.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 32 and rows[0]["codice_istanza"] == rm
    assert set(rows[0]) == {"kit", "codice_istanza", "codice_assicurata", "questura", "stato",
                            "gravita", "anomalie_aperte", "codici", "ricevuta_il"}
    for secret in web.mi.secrets + web.rm.secrets:
        assert secret not in r.text
    assert actions(web)[-1] == "export_csv"


def test_istanza_page_shows_header_fields_evidence_and_records_the_view(web) -> None:
    c = web.client("rev_mi")
    kit = web.mi
    page = c.get(f"/istanze/{kit.kit_id}").text
    for text in ("Codice Assicurata", kit.record.kit.assicurata, kit.record.kit.codice_istanza,
                 "Da verificare", "In Istruttoria", "Nessuna Anomalia Documentale",
                 "Codice fiscale non valido", "Campi letti con bassa confidenza"):
        assert text in page, text
    fields = page[page.index('id="fields-h"'):]
    assert fields.index('id="campo-m1-3"') < fields.index('id="campo-m1-31"')  # uncertain first
    assert "Immagine della pagina non disponibile" in page  # pages without an image degrade
    assert actions(web)[-1] == "view"


def test_images_are_served_with_evidence_and_audited_outside_a_view(web) -> None:
    c = web.client("rev_mi")
    kit = web.mi.kit_id
    page = c.get(f"/istanze/{kit}").text
    v = page.split("&amp;v=", 1)[1].split('"', 1)[0]
    cf_anomaly = next(a for a in c.get(f"/api/istanze/{kit}").json()["anomalies"]
                      if a["code"] == "invalid_codice_fiscale")
    n_events = len(actions(web))
    plain = c.get(f"/istanze/{kit}/pagine/2.png?w=400&v={v}")
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"
    boxed = c.get(f"/istanze/{kit}/pagine/2.png?w=400&a={cf_anomaly['id']}&v={v}")
    img = Image.open(io.BytesIO(boxed.content)).convert("RGB")
    assert img.width == 400
    px = np.asarray(img).astype(int)
    red = int(((px[..., 0] > 150) & (px[..., 1] < 60) & (px[..., 2] < 90)).sum())
    assert red > 200  # the box around the codice fiscale
    zoom = Image.open(io.BytesIO(c.get(
        f"/istanze/{kit}/pagine/2.png?w=400&zoom=1&a={cf_anomaly['id']}&v={v}").content))
    assert zoom.height < img.height / 2  # only the band around the field
    crop = c.get(f"/istanze/{kit}/ritaglio?campo={quote('m1.31')}&v={v}")
    assert crop.status_code == 200 and Image.open(io.BytesIO(crop.content)).width > 50
    missing = c.get(f"/istanze/{kit}/pagine/5.png?v={v}")  # not rendered: a placeholder
    assert missing.status_code == 404 and missing.headers["content-type"] == "image/png"
    assert len(actions(web)) == n_events  # covered by the page view's audit event
    c.get(f"/istanze/{kit}/pagine/2.png")  # no view link: audited on its own
    c.get(f"/istanze/{kit}/ritaglio?campo=m1.31&v=1.1.forged")
    with session_scope(web.engine) as db:
        last = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2)).all()
        assert [e.detail["what"] for e in last] == ["crop", "page_image"]


def test_decisions_by_form_and_the_audit_trail(web_db) -> None:
    web = web_db
    c = web.client("rev_mi")
    kit = web.mi.kit_id
    token = page_csrf(c)
    wrong = web.mi.record.fields["m1.31"].value
    r = c.post(f"/istanze/{kit}/campi", data={"field": "m1.31", "action": "correct",
                                              "value": corrected_cf(wrong), "csrf": token})
    assert r.status_code == 200 and "Campo corretto" in r.text
    assert "Superata da correzione" in r.text
    bad = c.post(f"/istanze/{kit}/campi", data={"field": "m1.34", "action": "correct",
                                                "value": "32/13/1990", "csrf": token})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    assert "una data reale, GG/MM/AAAA" in bad.text and "32/13/1990" in bad.text
    # a comune not in the ISTAT list: asked to be confirmed, taken with the box ticked
    odd = {"field": "m1.6", "action": "correct", "value": "TORINX", "csrf": token}
    asked = c.post(f"/istanze/{kit}/campi", data=odd)
    assert asked.status_code == 422 and 'name="force"' in asked.text
    assert "TORINX non è nella tabella (ISTAT)" in asked.text
    taken = c.post(f"/istanze/{kit}/campi", data={**odd, "force": "1"})
    assert taken.status_code == 200 and "Campo corretto" in taken.text
    assert c.get(f"/api/istanze/{kit}").json()["fields"]["m1.6"]["value"] == "TORINX"
    lc = next(a for a in c.get(f"/api/istanze/{kit}").json()["anomalies"]
              if a["code"] == "low_confidence_field")
    r = c.post(f"/istanze/{kit}/anomalie/{lc['id']}", data={
        "resolution": "respinta", "note": "lettura corretta", "csrf": token})
    assert "Esito registrato" in r.text and "Verificata" in r.text
    trail = r.text[r.text.index('id="audit-h"'):]
    assert "correzione campo" in trail and corrected_cf(wrong) in trail
    assert "esito anomalia" in trail and "lettura corretta" in trail
    ops = web.client("ops1")
    page = ops.get("/audit?action=correct_field").text
    audit = page[page.index("<table"):]
    assert kit in audit and "rev_mi" in audit and "esito anomalia" not in audit
    assert "web-test" in ops.get("/audit?kit=" + kit).text


def test_users_page_creates_accounts(web) -> None:
    admin = web.client("admin1")
    token = page_csrf(admin, "/utenti")
    r = admin.post("/utenti", data={"name": "rev_na", "password": "long enough pw",
                                    "role": "reviewer", "questure": "na, ce", "csrf": token})
    assert r.status_code == 200 and "Utente creato" in r.text and "CE, NA" in r.text
    r = admin.post("/utenti", data={"name": "rev_x", "password": "short", "role": "reviewer",
                                    "questure": "MI", "csrf": token})
    assert r.status_code == 422 and "password" in r.text
    login(web.client(), "rev_na", "long enough pw")


def test_status_page_and_languages(web) -> None:
    c = web.client()
    page = c.get("/stato").text
    assert "Stato della pratica" in page and 'lang="it"' in page
    r = c.get(f"/stato?codice={web.mi.record.kit.assicurata}")
    assert "Pratica in lavorazione" in r.text and "light orange" in r.text
    for secret in web.mi.secrets:
        assert secret not in r.text
    assert "Pratica non trovata" in c.get("/stato?codice=26FR000001").text
    assert c.get("/stato?codice=abc").status_code == 422
    english = c.get("/stato?lang=en")
    assert "Application status" in english.text and 'lang="en"' in english.text
    assert "Application status" in c.get("/stato").text  # the choice is kept
    assert c.get("/stato?codice=000000000000").status_code == 200  # the 4th of a burst of 4
    limited = c.get("/stato?codice=000000000000")
    assert limited.status_code == 429 and "Troppe richieste" not in limited.text
    assert "Too many requests" in limited.text


def test_correcting_the_province_is_an_explicit_audited_transfer(web) -> None:
    mi = web.client("rev_mi")
    kit = web.mi.kit_id
    token = page_csrf(mi)
    page = mi.get(f"/istanze/{kit}").text
    assert 'name="transfer"' in page and "<option selected>MI</option>" in page

    def correct(value: str, **extra: str):
        return mi.post(f"/istanze/{kit}/campi", data={
            "field": "m1.questore_sigla", "action": "correct", "value": value, "csrf": token,
            **extra}, follow_redirects=False)

    # not a province, or empty: refused, the istanza stays where it is
    for value in ("ZZ", "", "  ", "MIL"):
        r = correct(value, transfer="1")
        assert r.status_code == 422 and "sigla di una provincia" in r.text, value
    # another Questura without asking for a transfer: refused
    r = correct("rm")
    assert r.status_code == 422 and "conferma il trasferimento" in r.text
    assert mi.get(f"/istanze/{kit}").status_code == 200
    r = correct("rm", transfer="1")
    assert r.headers["location"] == "/coda?ok=moved"
    assert "passata alla coda" in mi.get("/coda?ok=moved").text
    assert mi.get(f"/istanze/{kit}").status_code == 404
    rm = web.client("rev_rm")
    assert rm.get(f"/istanze/{kit}").status_code == 200
    with session_scope(web.engine) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "correct_field")).one()
        assert event.detail["questura"] == {"before": "MI", "after": "RM"}
        transfer = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "transfer_questura")).one()
        assert (transfer.user_name, transfer.kit_id) == ("rev_mi", kit)
        assert transfer.detail == {"before": "MI", "after": "RM"}
        assert db.get(Kit, kit).questura == "RM"
    assert "trasferimento ad altra Questura" in web.client("ops1").get("/audit").text
    # the API: the same rules, transfer=true to move it
    api = web.client("rev_rm")
    csrf = api.get("/api/me").json()["csrf"]
    body = {"field": "m1.questore_sigla", "action": "correct", "value": ""}
    assert api.post(f"/api/istanze/{kit}/fields", json=body,
                    headers={"X-CSRF-Token": csrf}).status_code == 422
    body["value"] = "TO"
    assert api.post(f"/api/istanze/{kit}/fields", json=body,
                    headers={"X-CSRF-Token": csrf}).status_code == 422
    r = api.post(f"/api/istanze/{kit}/fields", json={**body, "transfer": True},
                 headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["questura"] == {"before": "RM", "after": "TO"}
    # an istanza with no Questura (none read) is never marked verificata
    with session_scope(web.engine) as db:
        db.get(Kit, web.clean.kit_id).questura = None
    ops = web.client("ops1")
    r = ops.post(f"/istanze/{web.clean.kit_id}/verifica", data={"csrf": page_csrf(ops)})
    assert r.status_code == 422


def test_bad_image_parameters_answer_the_error_page_and_times_are_italian(web) -> None:
    c = web.client("rev_mi")
    kit = web.mi.kit_id
    for query in ("w=-5", "a=99999999999999999999", "a=-1", "w=abc"):
        r = c.get(f"/istanze/{kit}/pagine/1.png?{query}")
        assert r.status_code == 422, query
        assert r.headers["content-type"].startswith("text/html") and 'lang="it"' in r.text
    assert c.get(f"/istanze/{kit}/pagine/99999999999999999999.png").status_code == 404
    page = c.get(f"/istanze/{kit}").text  # its audit trail: Italian time, zone named
    with session_scope(web.engine) as db:
        at = db.scalars(select(AuditEvent.at).order_by(AuditEvent.id.desc())).first()
    from web.auth import rome_time

    shown = rome_time(at)
    assert shown.endswith((" CET", " CEST")) and shown in page


def test_names_typed_in_forms_are_escaped(web) -> None:
    c = web.client()
    r = login(c, "<script>alert(1)</script>", "whatever", expect=401)
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text


def test_a_clean_istanza_needs_no_form_and_an_old_row_is_brought_up_to_date(web) -> None:
    c = web.client("rev_mi")
    assert "Segna come verificata" not in c.get(f"/istanze/{web.mi.kit_id}").text
    page = c.get(f"/istanze/{web.clean.kit_id}").text
    assert "Nessuna Anomalia Documentale" in page and "Segna come verificata" not in page
    with session_scope(web.engine) as db:  # a row saved before the status rule
        db.get(Kit, web.clean.kit_id).status = "da_verificare"
    page = c.get(f"/istanze/{web.clean.kit_id}").text
    assert "Segna come verificata" in page
    r = c.post(f"/istanze/{web.clean.kit_id}/verifica", data={"csrf": csrf_of(page)})
    assert "Istanza segnata come verificata" in r.text and "Segna come verificata" not in r.text
    assert c.post(f"/istanze/{web.mi.kit_id}/verifica",
                  data={"csrf": csrf_of(page)}).status_code == 422


def test_logout_ends_the_sessions_opened_before_it(web) -> None:
    first, second = web.client("rev_mi"), web.client("rev_mi")
    stolen = first.cookies.get("plico_session")
    r = first.post("/logout", data={"csrf": page_csrf(first)}, follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert second.get("/coda", follow_redirects=False).status_code == 303  # other device too
    replay = web.client()
    replay.cookies.set("plico_session", stolen)
    assert replay.get("/api/me").status_code == 401
    again = web.client("rev_mi")  # a new login works
    assert again.get("/coda").status_code == 200


def test_images_come_from_an_s3_store_too(s3_server, tmp_path) -> None:
    import uuid

    from storage.store_url import store_from_url

    store = store_from_url(s3_server.url(f"web-{uuid.uuid4().hex[:12]}"), tmp_path)
    store.ensure_bucket()
    web = make_web(tmp_path, f"sqlite:///{tmp_path / 'index.db'}", images=True, store=store)
    c = web.client("rev_mi")
    kit = web.mi.kit_id
    page = c.get(f"/istanze/{kit}")
    assert page.status_code == 200 and "Immagine della pagina non disponibile" in page.text
    image = c.get(f"/istanze/{kit}/pagine/2.png?w=300")
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).width == 300
    assert c.get(f"/istanze/{kit}/ritaglio?campo=m1.31").status_code == 200
    assert c.get(f"/istanze/{kit}/pagine/5.png").status_code == 404  # never stored


def test_the_login_form_is_rate_limited_per_address(tmp_path) -> None:
    web = make_web(tmp_path, f"sqlite:///{tmp_path / 'index.db'}", login_rate_per_minute=1.0)
    c = web.client()
    login(c, "rev_mi", "wrong password", expect=401)
    r = login(c, "rev_mi", expect=429)
    assert "Troppi tentativi di accesso" in r.text and r.headers["Retry-After"]


def test_bad_addresses_get_html_pages_and_the_api_json(web) -> None:
    c = web.client("rev_mi")
    r = c.get(f"/istanze/{web.mi.kit_id}/pagine/abc.png")
    assert r.status_code == 422 and "Richiesta non valida" in r.text
    assert c.get("/nowhere").status_code == 404 and "Pagina non trovata" in c.get("/nowhere").text
    api = c.get("/api/queue?page=0")
    assert api.status_code == 422 and api.headers["content-type"] == "application/json"
