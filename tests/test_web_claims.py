"""Claims and optimistic versioning: two reviewers of one Questura on one istanza get the claim
message (409), not lost decisions; a page drawn before another's decision is stale (409);
a claim lapses; "le mie istanze" lists what a reviewer holds. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

from web_client import PASSWORD, make_web, page_csrf

from storage.db import FieldDecision, Kit, User, session_scope
from web.auth import hash_password


def _version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def test_two_reviewers_on_one_istanza(db_url, tmp_path) -> None:
    web = make_web(tmp_path, db_url, claim_minutes=30)
    with session_scope(web.engine) as db:
        db.add(User(name="rev_mi2", password_hash=hash_password(PASSWORD), role="reviewer",
                    questure=["MI"], failed_logins=0, active=True))
    kit = web.mi.kit_id
    a, b = web.client("rev_mi"), web.client("rev_mi2")
    page_a, page_b = a.get(f"/istanze/{kit}").text, b.get(f"/istanze/{kit}").text
    assert _version(page_a) == _version(page_b) == "0"
    token_a, token_b = page_csrf(a), page_csrf(b)

    r = a.post(f"/istanze/{kit}/prendi", data={"csrf": token_a}, follow_redirects=False)
    assert r.status_code == 303
    assert "Presa in carico da rev_mi dalle" in b.get(f"/istanze/{kit}").text
    assert "rev_mi" in b.get("/coda").text.split("<tbody>")[1]
    r = a.post(f"/istanze/{kit}/campi", data={"field": "m1.3", "action": "confirm",
                                              "csrf": token_a, "version": "1"})
    assert r.status_code == 200 and "Campo confermato" in r.text

    # the second reviewer, by form and by API: the claim message, nothing written
    r = b.post(f"/istanze/{kit}/campi", data={"field": "m1.3", "action": "correct",
                                              "value": "ROSSI", "csrf": token_b, "version": "0"})
    assert r.status_code == 409 and "presa in carico da rev_mi" in r.text
    csrf = b.get("/api/me").json()["csrf"]
    r = b.post(f"/api/istanze/{kit}/decisioni", headers={"X-CSRF-Token": csrf},
               json={"decisions": [{"field": "m1.3", "action": "correct", "value": "ROSSI"}]})
    assert r.status_code == 409 and r.json()["conflict"] == "claimed"
    assert "presa in carico da rev_mi" in r.json()["detail"]
    assert b.post("/istanze/{kit}/prendi".format(kit=kit), data={"csrf": token_b},
                  follow_redirects=False).headers["location"].endswith("avviso=claim_busy")
    assert kit in a.get("/mie").text and kit not in b.get("/mie").text

    # released: the second reviewer's old page is stale, a fresh one is taken
    a.post(f"/istanze/{kit}/rilascia", data={"csrf": token_a})
    r = b.post(f"/istanze/{kit}/campi", data={"field": "m1.3", "action": "correct",
                                              "value": "ROSSI", "csrf": token_b, "version": "0"})
    assert r.status_code == 409 and "stata modificata dopo" in r.text
    fresh = _version(b.get(f"/istanze/{kit}").text)
    r = b.post(f"/istanze/{kit}/campi", data={"field": "m1.3", "action": "correct",
                                              "value": "ROSSI", "csrf": token_b, "version": fresh})
    assert r.status_code == 200
    with session_scope(web.engine) as db:
        made = [(d.user_name, d.action) for d in db.query(FieldDecision).order_by(FieldDecision.id)]
        assert made == [("rev_mi", "confirm"), ("rev_mi2", "correct")]
        row = db.get(Kit, kit)
        assert row.claimed_by == "rev_mi2"
        row.claimed_at = row.claimed_at - dt.timedelta(minutes=31)  # the claim lapses
    r = a.post(f"/istanze/{kit}/campi", data={"field": "m1.3", "action": "confirm",
                                              "csrf": token_a})
    assert r.status_code == 200 and kit not in b.get("/mie").text
