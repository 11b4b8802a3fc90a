"""Search by Codice Istanza, Codice Assicurata, surname or name, within the reviewer's
Questure (SQLite and PostgreSQL: the JSON path differs)."""

from __future__ import annotations

from web_client import make_web


def test_search_finds_within_the_reviewers_questure(db_url, tmp_path) -> None:
    web = make_web(tmp_path, db_url)
    mi, rm = web.mi.record, web.rm.record
    c = web.client("rev_mi")
    surname = mi.fields["m1.3"].value
    for q in (mi.kit.codice_istanza, mi.kit.assicurata[:8], surname.lower()[1:5],
              mi.fields["m1.4"].value.title()):
        page = c.get("/cerca", params={"q": q}).text
        assert web.mi.kit_id in page and web.rm.kit_id not in page, q
        assert surname in page
    page = c.get("/cerca", params={"q": rm.kit.codice_istanza}).text
    assert "Nessuna istanza trovata" in page  # another Questura's istanza
    ops = web.client("ops1")
    assert web.rm.kit_id in ops.get("/cerca", params={"q": rm.fields["m1.3"].value}).text
