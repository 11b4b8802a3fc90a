"""The JSON API (/api) with FastAPI's TestClient, on SQLite and PostgreSQL: every endpoint,
access by Questura (another Questura's istanza is 404, like a missing one), CSRF on POSTs,
lockout, decisions that re-run validation, the public status lookup and its rate limit."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select
from web_client import PASSWORD, make_web
from web_testdata import corrected_cf

from storage.db import Anomaly, AuditEvent, FieldDecision, Kit, RecordVersion, session_scope
from storage.index import save_record


@pytest.fixture
def web(db_url, tmp_path):
    return make_web(tmp_path, db_url)


def api_login(c, name: str, password: str = PASSWORD) -> str:
    r = c.post("/api/login", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["csrf"]


def events(web, action: str | None = None) -> list[AuditEvent]:
    with session_scope(web.engine) as db:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            q = q.where(AuditEvent.action == action)
        return list(db.scalars(q))


def test_reviewer_sees_only_the_istanze_of_their_questura(web) -> None:
    c = web.client()
    api_login(c, "rev_mi")
    queue = c.get("/api/queue").json()
    assert [i["kit"] for i in queue["items"]] == [web.mi.kit_id]
    assert c.get(f"/api/istanze/{web.mi.kit_id}").status_code == 200
    other = c.get(f"/api/istanze/{web.rm.kit_id}")
    missing = c.get("/api/istanze/no-such-kit")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()  # nothing tells "exists elsewhere" from "absent"
    csrf = c.get("/api/me").json()["csrf"]
    rm_anomaly = web_anomaly_ids(web, web.rm.kit_id)[0]
    assert c.post(f"/api/istanze/{web.rm.kit_id}/fields", headers={"X-CSRF-Token": csrf},
                  json={"field": "m1.3", "action": "confirm"}).status_code == 404
    assert c.post(f"/api/istanze/{web.rm.kit_id}/anomalies/{rm_anomaly}",
                  headers={"X-CSRF-Token": csrf},
                  json={"resolution": "accettata"}).status_code == 404
    ops = web.client()
    api_login(ops, "ops1")
    kits = {i["kit"] for i in ops.get("/api/queue?status=tutte").json()["items"]}
    assert kits == {web.mi.kit_id, web.rm.kit_id, web.clean.kit_id}
    assert ops.get(f"/api/istanze/{web.rm.kit_id}").status_code == 200


def web_anomaly_ids(web, kit_id: str) -> list[int]:
    with session_scope(web.engine) as db:
        return list(db.scalars(select(Anomaly.id).where(Anomaly.kit_id == kit_id)
                               .order_by(Anomaly.id)))


def test_api_needs_login_and_csrf_on_posts(web) -> None:
    c = web.client()
    assert c.get("/api/queue").status_code == 401
    assert c.get(f"/api/istanze/{web.mi.kit_id}").status_code == 401
    csrf = api_login(c, "rev_mi")
    url = f"/api/istanze/{web.mi.kit_id}/fields"
    body = {"field": "m1.3", "action": "confirm"}
    assert c.post(url, json=body).status_code == 403
    assert c.post(url, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert c.post("/api/logout").status_code == 403
    assert c.post(url, json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    with session_scope(web.engine) as db:
        assert db.scalar(select(FieldDecision.action)) == "confirm"


def test_lockout_after_repeated_failures(web) -> None:
    c = web.client()
    for _ in range(web.settings.web_lockout_attempts):
        assert c.post("/api/login", json={"name": "rev_mi", "password": "wrong"}).status_code == 401
    # locked: the right password is refused too, with the same answer
    r = c.post("/api/login", json={"name": "rev_mi", "password": PASSWORD})
    assert r.status_code == 401
    assert [e.action for e in events(web) if e.user_name == "rev_mi"] == [
        "login_failed", "login_failed", "login_failed", "lockout", "login_failed"]
    assert events(web, "login_failed")[-1].detail["reason"] == "locked"
    # an unknown name is refused the same way and its text is not kept
    r = c.post("/api/login", json={"name": "nobody-x", "password": "x"})
    assert r.status_code == 401
    unknown = events(web, "login_failed")[-1]
    assert unknown.user_name is None and "nobody-x" not in str(unknown.detail)
    # another account is unaffected; the admin unlocks
    admin = web.client()
    api_login(admin, "admin1")
    users = {u["name"]: u for u in admin.get("/api/users").json()}
    assert users["rev_mi"]["locked_until"] is not None
    assert users["rev_rm"]["locked_until"] is None


def test_correcting_a_field_runs_validation_again(web) -> None:
    c = web.client()
    csrf = api_login(c, "rev_mi")
    kit = web.mi.kit_id
    before = c.get(f"/api/istanze/{kit}").json()
    codes = {a["code"]: a for a in before["anomalies"]}
    assert set(codes) == {"invalid_codice_fiscale", "low_confidence_field"}
    assert before["to_check"][0] == "m1.3"  # the uncertain field first
    assert before["status"] == "da_verificare"
    wrong = before["fields"]["m1.31"]["value"]
    right = corrected_cf(wrong)
    r = c.post(f"/api/istanze/{kit}/fields", headers={"X-CSRF-Token": csrf},
               json={"field": "m1.31", "action": "correct", "value": right.lower()})
    assert r.status_code == 200, r.text
    assert r.json()["closed"] == ["invalid_codice_fiscale"]
    assert r.json()["after"] == right  # normalised like the pipeline's values (uppercase)
    after = c.get(f"/api/istanze/{kit}").json()
    cf = after["fields"]["m1.31"]
    assert (cf["value"], cf["read"], cf["decision"]) == (right, wrong, "correct")
    statuses = {a["code"]: a["status"] for a in after["anomalies"]}
    assert statuses == {"invalid_codice_fiscale": "superata", "low_confidence_field": "aperta"}
    assert after["status"] == "in_lavorazione"
    # a correction that breaks the value is refused unless confirmed (force), as in the
    # keyboard loop and the page's form; confirmed, it raises the anomaly again
    bad = right[:15] + ("A" if right[15] != "A" else "B")
    refused = c.post(f"/api/istanze/{kit}/fields", headers={"X-CSRF-Token": csrf},
                     json={"field": "m1.31", "action": "correct", "value": bad})
    assert refused.status_code == 422 and "check character" in refused.text
    short = c.post(f"/api/istanze/{kit}/fields", headers={"X-CSRF-Token": csrf},
                   json={"field": "m1.31", "action": "correct", "value": "RSSMRA80"})
    assert short.status_code == 422 and "16 characters" in short.text  # not confirmable
    c.post(f"/api/istanze/{kit}/fields", headers={"X-CSRF-Token": csrf},
           json={"field": "m1.31", "action": "correct", "value": bad, "force": True})
    again = {a["code"]: a["status"] for a in c.get(f"/api/istanze/{kit}").json()["anomalies"]}
    assert again["invalid_codice_fiscale"] == "aperta"
    c.post(f"/api/istanze/{kit}/fields", headers={"X-CSRF-Token": csrf},
           json={"field": "m1.31", "action": "correct", "value": right})
    # confirming the uncertain surname closes its reading anomaly: nothing open, verificata
    r = c.post(f"/api/istanze/{kit}/fields", headers={"X-CSRF-Token": csrf},
               json={"field": "m1.3", "action": "confirm"})
    assert r.json()["status"] == "verificata"
    # the pipeline's stored record is untouched; the decisions live beside it
    with session_scope(web.engine) as db:
        stored = db.scalar(select(RecordVersion.record).where(RecordVersion.kit_id == kit))
        assert stored["fields"]["m1.31"]["value"] == wrong
        decisions = db.scalars(select(FieldDecision).where(FieldDecision.kit_id == kit)
                               .order_by(FieldDecision.id)).all()
        assert [(d.action, d.value_before, d.value_after) for d in decisions] == [
            ("correct", wrong, right), ("correct", right, bad), ("correct", bad, right),
            ("confirm", before["fields"]["m1.3"]["value"], before["fields"]["m1.3"]["value"])]
        assert db.get(Kit, kit).status == "verificata"
    corrections = events(web, "correct_field")
    first = corrections[0]
    assert (first.user_name, first.kit_id, first.detail["before"], first.detail["after"]) == (
        "rev_mi", kit, wrong, right)
    assert c.get(f"/api/status/{web.mi.record.kit.assicurata}").json()["colour"] == "green"


def test_bad_decisions_are_refused(web) -> None:
    c = web.client()
    csrf = api_login(c, "rev_mi")
    kit, h = web.mi.kit_id, {"X-CSRF-Token": csrf}
    assert c.post(f"/api/istanze/{kit}/fields", headers=h,
                  json={"field": "m9.999", "action": "confirm"}).status_code == 422
    assert c.post(f"/api/istanze/{kit}/fields", headers=h,
                  json={"field": "m1.34", "action": "correct", "value": "31/02/1990"}
                  ).status_code == 422
    assert c.post(f"/api/istanze/{kit}/fields", headers=h,
                  json={"field": "m1.3", "action": "delete"}).status_code == 422
    anomaly = web_anomaly_ids(web, kit)[0]
    assert c.post(f"/api/istanze/{kit}/anomalies/{anomaly}", headers=h,
                  json={"resolution": "chiusa"}).status_code == 422
    assert c.post(f"/api/istanze/{kit}/anomalies/999999", headers=h,
                  json={"resolution": "accettata"}).status_code == 404


def test_resolving_anomalies_moves_the_status(web) -> None:
    c = web.client()
    csrf = api_login(c, "rev_rm")
    kit, h = web.rm.kit_id, {"X-CSRF-Token": csrf}
    (anomaly,) = web_anomaly_ids(web, kit)
    r = c.post(f"/api/istanze/{kit}/anomalies/{anomaly}", headers=h,
               json={"resolution": "integrazione_richiesta", "note": "firma da acquisire"})
    assert r.status_code == 200 and r.json()["status"] == "in_lavorazione"
    assert c.get(f"/api/status/{web.rm.record.kit.assicurata}").json()["colour"] == "orange"
    r = c.post(f"/api/istanze/{kit}/anomalies/{anomaly}", headers=h,
               json={"resolution": "accettata", "note": "firmata allo sportello"})
    assert r.json()["status"] == "verificata"
    assert r.json()["before"]["status"] == "integrazione_richiesta"
    detail = c.get(f"/api/istanze/{kit}").json()["anomalies"][0]
    assert (detail["status"], detail["note"], detail["resolved_by"]) == (
        "accettata", "firmata allo sportello", "rev_rm")
    (last,) = [e for e in events(web, "resolve_anomaly")][-1:]
    assert last.detail["after"] == {"status": "accettata", "note": "firmata allo sportello"}
    assert last.detail["kit_status"] == {"before": "in_lavorazione", "after": "verificata"}


def test_every_view_of_an_istanza_is_audited_and_ops_can_query(web) -> None:
    c = web.client()
    api_login(c, "rev_mi")
    c.get(f"/api/istanze/{web.mi.kit_id}")
    (view,) = events(web, "view")
    assert (view.user_name, view.kit_id, view.detail["what"]) == ("rev_mi", web.mi.kit_id,
                                                                  "istanza")
    assert view.remote  # the client address
    assert c.get("/api/audit").status_code == 403
    ops = web.client()
    api_login(ops, "ops1")
    rows = ops.get("/api/audit", params={"action": "view", "user": "rev_mi"}).json()
    assert [(r["user"], r["kit"]) for r in rows] == [("rev_mi", web.mi.kit_id)]
    assert ops.get("/api/audit", params={"kit": web.rm.kit_id}).json() == []
    assert len(ops.get("/api/audit", params={"since": "2000-01-01", "limit": 2}).json()) == 2
    assert events(web, "audit_query")  # querying the trail is itself recorded


def test_users_api_is_for_admins(web) -> None:
    c = web.client()
    csrf = api_login(c, "ops1")
    assert c.get("/api/users").status_code == 403
    assert c.post("/api/users", headers={"X-CSRF-Token": csrf}, json={
        "name": "x1", "password": "long enough", "role": "admin"}).status_code == 403
    admin = web.client()
    csrf = api_login(admin, "admin1")
    body = {"name": "rev_to", "password": "another long one", "role": "reviewer",
            "questure": ["to"]}
    r = admin.post("/api/users", headers={"X-CSRF-Token": csrf}, json=body)
    assert r.status_code == 201 and r.json()["questure"] == ["TO"]
    assert admin.post("/api/users", headers={"X-CSRF-Token": csrf}, json=body).status_code == 422
    assert admin.post("/api/users", headers={"X-CSRF-Token": csrf}, json={
        **body, "name": "rev_none", "questure": []}).status_code == 422
    new = web.client()
    api_login(new, "rev_to", "another long one")
    assert new.get("/api/queue").json()["items"] == []


def test_status_lookup_is_public_tells_colours_only_and_is_rate_limited(web) -> None:
    c = web.client()
    mi = web.mi.record.kit
    r = c.get(f"/api/status/{mi.assicurata[:11]}-{mi.assicurata[11]}")  # as on the receipt
    assert r.json() == {"code": mi.assicurata, "kind": "assicurata", "colour": "orange"}
    assert c.get(f"/api/status/{mi.codice_istanza}").json()["colour"] == "orange"
    assert c.get("/api/status/26FR000001").json() == {"code": "26FR000001", "kind": "pratica",
                                                      "colour": "red"}
    assert c.get("/api/status/12345").status_code == 422
    limited = c.get("/api/status/000000000000")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    for secret in web.mi.secrets:
        assert secret not in r.text


def test_me_logout_openapi_and_language_files(web) -> None:
    c = web.client()
    csrf = api_login(c, "rev_mi")
    me = c.get("/api/me").json()
    assert (me["name"], me["role"], me["questure"]) == ("rev_mi", "reviewer", ["MI"])
    assert c.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.get("/api/me").status_code == 401
    spec = c.get("/api/openapi.json").json()
    assert {"/api/queue", "/api/istanze/{kit_id}", "/api/istanze/{kit_id}/fields",
            "/api/istanze/{kit_id}/anomalies/{anomaly_id}", "/api/audit", "/api/users",
            "/api/status/{code}", "/api/login", "/api/logout", "/api/me"} <= set(spec["paths"])
    assert not any(p.startswith("/istanze") or p == "/coda" for p in spec["paths"])
    from importlib import resources

    langs = [yaml.safe_load(resources.files("web").joinpath("data", f"{lang}.yaml")
                            .read_text("utf-8")) for lang in ("it", "en")]
    assert set(langs[0]) == set(langs[1])
    for table in langs:  # YAML 1.1 reads a bare yes/no key as a boolean
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())
    from web.i18n import translator

    assert (translator("it")("yes"), translator("en")("no")) == ("Sì", "No")


def test_a_clean_istanza_is_verificata_and_verify_brings_an_old_row_up_to_date(web) -> None:
    c = web.client()
    csrf = api_login(c, "rev_mi")
    h = {"X-CSRF-Token": csrf}
    clean = web.clean.record.kit.assicurata
    assert c.get(f"/api/status/{clean}").json()["colour"] == "green"  # read clean: ready
    refused = c.post(f"/api/istanze/{web.mi.kit_id}/verify", headers=h)
    assert refused.status_code == 422 and "invalid_codice_fiscale" in refused.text
    with session_scope(web.engine) as db:  # a row saved before the status rule
        db.get(Kit, web.clean.kit_id).status = "da_verificare"
    assert c.get(f"/api/status/{clean}").json()["colour"] == "orange"
    r = c.post(f"/api/istanze/{web.clean.kit_id}/verify", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "verificata"
    assert c.get(f"/api/status/{clean}").json()["colour"] == "green"
    assert events(web, "verify")[0].detail["kit_status"] == {"before": "da_verificare",
                                                             "after": "verificata"}
    assert c.post(f"/api/istanze/{web.rm.kit_id}/verify", headers=h).status_code == 404


def _kit_columns(web, kit_id: str) -> tuple:
    with session_scope(web.engine) as db:
        kit = db.get(Kit, kit_id)
        return kit.status, kit.anomaly_count, kit.max_severity


def test_the_index_and_the_review_app_keep_one_status_rule(web) -> None:
    """A reviewer's decisions, then a reprocessed record that contradicts one of them: the
    index (save_record) and the app (after each decision) give the same status and counts."""
    c = web.client()
    h = {"X-CSRF-Token": api_login(c, "rev_mi")}
    kit = web.mi.kit_id
    assert _kit_columns(web, kit) == ("da_verificare", 2, "warning")  # as the index saved it
    wrong = web.mi.record.fields["m1.31"].value
    c.post(f"/api/istanze/{kit}/fields", headers=h,
           json={"field": "m1.31", "action": "correct", "value": corrected_cf(wrong)})
    assert _kit_columns(web, kit) == ("in_lavorazione", 1, "info")  # low_confidence_field
    (low,) = [a["id"] for a in c.get(f"/api/istanze/{kit}").json()["anomalies"]
              if a["code"] == "low_confidence_field"]
    r = c.post(f"/api/istanze/{kit}/anomalies/{low}", headers=h,
               json={"resolution": "integrazione_richiesta", "note": "cognome da confermare"})
    assert r.json()["status"] == "in_lavorazione"
    assert _kit_columns(web, kit) == ("in_lavorazione", 1, "info")  # still live
    c.post(f"/api/istanze/{kit}/anomalies/{low}", headers=h, json={"resolution": "accettata"})
    assert _kit_columns(web, kit) == ("verificata", 0, None)

    # reprocessing reads the surname differently from what the reviewer accepted... and the
    # CF as before (the correction is re-applied); nothing live, but the surname is to be
    # checked again: the kit is back in the queue
    fields = dict(web.mi.record.fields)
    surname = fields["m1.3"].value
    fields["m1.3"] = fields["m1.3"].model_copy(update={"value": surname + "X"})
    reread = web.mi.record.model_copy(update={"pipeline_version": "9.9.9", "fields": fields})
    with session_scope(web.engine) as db:
        db.add(FieldDecision(kit_id=kit, field_key="m1.3", action="confirm",
                             value_before=surname, value_after=surname, user_name="rev_mi",
                             record_version_id=db.get(Kit, kit).current_version_id))
    with session_scope(web.engine) as db:
        new = save_record(db, reread, batch_id="web-test", kit_id=kit, store=web.store)
        assert new.decisions == {"applied": ["m1.31"], "flagged": ["m1.3"]}
    assert _kit_columns(web, kit) == ("in_lavorazione", 0, None)
    assert kit in [i["kit"] for i in c.get("/api/queue").json()["items"]]
    refused = c.post(f"/api/istanze/{kit}/verify", headers=h)
    assert refused.status_code == 422 and "m1.3" in refused.text
    r = c.post(f"/api/istanze/{kit}/fields", headers=h,
               json={"field": "m1.3", "action": "correct", "value": surname})
    assert r.json()["status"] == "verificata"
    assert _kit_columns(web, kit) == ("verificata", 0, None)
    assert kit not in [i["kit"] for i in c.get("/api/queue").json()["items"]]


def test_login_attempts_are_rate_limited_per_address(tmp_path, db_url) -> None:
    web = make_web(tmp_path, db_url, login_rate_per_minute=2.0)
    c = web.client()
    assert c.post("/api/login", json={"name": "rev_mi", "password": "x"}).status_code == 401
    assert c.post("/api/login", json={"name": "ops1", "password": "y"}).status_code == 401
    r = c.post("/api/login", json={"name": "admin1", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert events(web, "login_throttled")
    assert not events(web, "lockout")  # two accounts, one failure each: none locked
